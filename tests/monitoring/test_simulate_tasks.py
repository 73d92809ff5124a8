"""The replay runs on any project's table and task: a regression and a three-class classification.

The tables are scikit-learn's bundled ones (read from the installed package, never downloaded):
diabetes (442 rows, a disease progression to predict) and wine (178 wines of three cultivars).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
from lane import maker
from sklearn.datasets import load_diabetes, load_wine

from conftest import apart, empty_store
from lab2prod.data.conditioning import read_normalized
from lab2prod.data.contract import Contract
from lab2prod.data.inference import infer_contract
from lab2prod.errors import MonitoringError
from lab2prod.monitoring.simulate import Scenario, make_batch, run_simulation

SCENARIO = Scenario(batches=2, batch_rows=120, drift_start=1, seed=5, model_name="replayed")


def _table(
    frame: pd.DataFrame, target: str, task: str, folder: Path
) -> tuple[Contract, pd.DataFrame]:
    """Return the contract inferred from `frame`'s text and the frame as the lake holds it."""
    frame = frame.assign(row_id=[f"r{i:04d}" for i in range(len(frame))])
    path = folder / f"{target}.csv"
    frame.to_csv(path, index=False)
    contract = infer_contract(
        pd.read_csv(path, dtype=str), "table", target, task=task, id_column="row_id"
    )
    return contract, read_normalized(str(path), contract)


def diabetes_table(folder: Path) -> tuple[Contract, pd.DataFrame]:
    """Return the diabetes table's contract and frame (`_table`), its text written in `folder`."""
    data = load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
    return _table(data, "progression", "regression", folder)


def wine_table(folder: Path) -> tuple[Contract, pd.DataFrame]:
    """Return the wine table's contract and frame (`_table`), its text written in `folder`."""
    bunch = load_wine(as_frame=True)
    names = [str(n) for n in bunch.target_names]
    data = bunch.frame.assign(cultivar=[names[i] for i in bunch.frame["target"]])
    return _table(data.drop(columns="target"), "cultivar", "classification", folder)


def without_id(contract: Contract, frame: pd.DataFrame) -> tuple[Contract, pd.DataFrame]:
    """Return `contract` and `frame` without their id column, as `lab2prod new` makes a project from a table with no id."""
    from dataclasses import replace

    bare = replace(
        contract,
        id_column=None,
        columns=tuple(c for c in contract.columns if c.name != contract.id_column),
    )
    return bare, frame.drop(columns=[contract.id_column])


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory):
    return diabetes_table(tmp_path_factory.mktemp("diabetes"))


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    return wine_table(tmp_path_factory.mktemp("wine"))


# the three replays in a process of their own (the lane's thread only waits): each table as the
# fixtures make it, each replay in its own folder (an empty store there), the results pickled
REPLAYS = """
import pickle
from pathlib import Path
tasks, out = fixtures, Path(sys.argv[1])
wine = tasks.wine_table(out / "wine")
tables = {
    "regression": tasks.diabetes_table(out / "diabetes"),
    "three_class": wine,
    "no_id": tasks.without_id(*wine),
}
results = {
    name: tasks.run_simulation(frame, contract, tasks.SCENARIO, out / name)
    for name, (contract, frame) in tables.items()
}
(out / "replays.pickle").write_bytes(pickle.dumps(results))
"""


@maker("table_replays")
def make_table_replays(tmp_path_factory, environ) -> dict:
    """Replay SCENARIO on the regression, the three-class and the id-less table in a subprocess; return the results by name."""
    import pickle

    out = tmp_path_factory.mktemp("replays")
    for name in ("diabetes", "wine"):
        (out / name).mkdir()
    for name in ("regression", "three_class", "no_id"):
        empty_store(out / name)  # the replay's own store in its folder (run_simulation's workdir)
    here = Path(__file__)
    done = subprocess.run(
        apart(here, REPLAYS, out, str(out)),
        cwd=out,
        env={k: v for k, v in environ.items() if k != "LAB2PROD_ROOT"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return pickle.loads((out / "replays.pickle").read_bytes())


@pytest.fixture(scope="session")
def table_replays(lane, request) -> dict:
    """The replays of make_table_replays, made by the second lane."""
    return lane.get(request, "table_replays")


def test_a_regression_batch_moves_its_segment_against_the_past_relationship(diabetes):
    contract, frame = diabetes
    scenario = Scenario(batches=2, batch_rows=400, drift_start=1, segment_share=1.0, seed=1)
    calm, drifted = (make_batch(frame, contract, scenario, k) for k in (0, 1))
    column = contract.features[-1]  # the segment's column: the contract's last numeric feature
    past = frame[column].corr(frame["progression"])
    assert calm[column].corr(calm["progression"]) == pytest.approx(past, abs=0.15)
    assert drifted[column].corr(drifted["progression"]) * past < 0  # the sign turned


def test_a_three_class_batch_reverses_the_classes_along_the_segments_column(wine):
    contract, frame = wine
    scenario = Scenario(batches=2, batch_rows=300, drift_start=1, segment_share=1.0, seed=1)
    drifted = make_batch(frame, contract, scenario, 1)
    column = contract.features[-1]
    past = frame.groupby("cultivar")[column].mean().sort_values()
    now = drifted.groupby("cultivar")[column].mean()
    assert set(drifted["cultivar"]) == set(contract.labels)
    assert now[past.index[0]] > now[past.index[-1]]  # lowest in the past, highest now


@pytest.mark.integration  # trains, releases (a fresh-process check each) and retrains: a minute on 2 cores
def test_the_replay_runs_on_a_regression_table(table_replays):
    result = table_replays["regression"]
    table = result["table"]
    assert result["metric"] == "rmse" and len(table) == SCENARIO.batches
    assert {"frozen_rmse", "loop_rmse"} <= set(table.columns)
    assert table["frozen_rmse"].iloc[-1] > table["frozen_rmse"].iloc[0]  # the drift hurts
    assert result["scenario"]["model_name"] == "replayed"


@pytest.mark.integration  # as above
def test_the_replay_runs_on_a_three_class_table(table_replays):
    result = table_replays["three_class"]
    table = result["table"]
    assert result["metric"] == "roc_auc" and len(table) == SCENARIO.batches
    assert table["frozen_roc_auc"].iloc[-1] < table["frozen_roc_auc"].iloc[0]
    assert set(result["mean_after_drift"]) == {"frozen_roc_auc", "loop_roc_auc"}


def test_the_replay_refuses_a_table_without_a_numeric_feature(wine, tmp_path):
    _, frame = wine
    text = frame.astype(str).assign(cultivar=frame["cultivar"])
    only_text = infer_contract(
        text[["row_id", "cultivar"]].assign(origin="a"), "t", "cultivar", id_column="row_id"
    )
    with pytest.raises(MonitoringError, match="drifts numeric features and the contract has none"):
        run_simulation(
            text[["row_id", "cultivar"]].assign(origin="a"), only_text, SCENARIO, tmp_path
        )


@pytest.mark.integration  # as above
def test_the_replay_runs_on_a_table_without_an_id_column(table_replays):
    # as `lab2prod new` makes a project from a table with no id: the monitor joins labels by row
    result = table_replays["no_id"]
    assert len(result["table"]) == SCENARIO.batches
    assert result["table"]["loop_roc_auc"].notna().all()
