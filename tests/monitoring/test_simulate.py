import json
import re

import pandas as pd
import pytest

from conftest import empty_store
from lab2prod.cli import main
from lab2prod.errors import MonitoringError
from lab2prod.monitoring.simulate import Scenario, drift_columns, make_batch, run_simulation

from .conftest import PROJECT

# the bundled credit demo's drift, given as arguments as its env file or command line would
CREDIT = {
    "shift_column": "Income",
    "segment_column": "Amount",
    "segment_values": (("Job", "partime"), ("Home", "parents")),
}


@pytest.mark.readiness("model 4")
def test_batches_follow_the_scenario(credit_lake):
    contract, frame, _ = credit_lake
    scenario = Scenario(batches=5, batch_rows=500, drift_start=2, seed=3, **CREDIT)
    assert [scenario.intensity(k) for k in range(5)] == [0.0, 0.0, 1 / 3, 2 / 3, 1.0]
    calm, last = make_batch(frame, contract, scenario, 0), make_batch(frame, contract, scenario, 4)
    assert len(calm) == len(last) == 500 and last["applicant_id"].is_unique
    assert last["Income"].mean() < 0.75 * calm["Income"].mean()
    segment = last["Job"].eq("partime") & last["Home"].eq("parents")
    assert segment.mean() >= 0.5
    # the new segment defaults far less than part-time workers did in the past
    past_partime = (frame.loc[frame["Job"] == "partime", "Status"] == "bad").mean()
    assert (last.loc[segment, "Status"] == "bad").mean() < past_partime - 0.25
    pd.testing.assert_frame_equal(last, make_batch(frame, contract, scenario, 4))
    assert not last.equals(
        make_batch(frame, contract, Scenario(batches=5, batch_rows=500, seed=4, **CREDIT), 4)
    )


def test_the_drifted_columns_are_the_contracts_unless_named(credit_lake):
    contract, _, _ = credit_lake
    numeric = drift_columns(contract, Scenario())
    assert numeric[0] != "Income" or numeric[1] != "Amount"  # the contract's first and last
    assert drift_columns(contract, Scenario(**CREDIT)) == ("Income", "Amount")
    with pytest.raises(MonitoringError, match="'Job', which is not a numeric feature"):
        drift_columns(contract, Scenario(shift_column="Job"))


@pytest.mark.integration  # trains, retrains and checks each release in a fresh process, twice: tens of seconds
def test_same_seed_same_figures(credit_lake, tmp_path, monkeypatch):
    contract, frame, _ = credit_lake
    # three batches: a calm one, then two drifting (the contract's first and last numeric columns),
    # which the loop retrains after (each retraining is a release with its infrastructure check in
    # a fresh process)
    scenario = Scenario(batches=3, batch_rows=400, drift_start=1, seed=7)
    direct = run_simulation(frame, contract, scenario, empty_store(tmp_path / "a").parent)
    assert direct["table"]["retrained"].any() and direct["decisions"]
    # the command, in an empty project folder: it ingests the bundled sources itself
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'unused.db'}")
    code = main(
        [
            "simulate",
            "--batches",
            "3",
            "--batch-rows",
            "400",
            "--drift-start",
            "1",
            "--seed",
            "7",
            "--root",
            str(tmp_path),
            "--contract",
            str(PROJECT / "data/contracts/credit.yaml"),
            "--catalog",
            str(PROJECT / "data/sources/credit/catalog.yaml"),
        ]
    )
    assert code == 0
    saved = json.loads((tmp_path / "reports/simulation.json").read_text())
    assert saved["table"] == json.loads(direct["table"].to_json(orient="records"))
    assert saved["decisions"] == json.loads(json.dumps(direct["decisions"]))
    assert "data:image/png;base64" in (tmp_path / "reports/simulation.html").read_text()
    assert not (tmp_path / "unused.db").exists()  # the project's store is never touched


def test_simulation_refuses_tiny_data(credit_lake, tmp_path):
    contract, frame, _ = credit_lake
    with pytest.raises(MonitoringError, match="at least 100"):
        run_simulation(frame.head(50), contract, Scenario(), tmp_path)


def test_the_replay_releases_by_the_gate_it_is_given(credit_lake, tmp_path):
    # the simulation releases through the same path as every model: an unmeetable floor stops it
    contract, frame, _ = credit_lake
    empty_store(tmp_path)  # the replay's own store in its folder (run_simulation's workdir)
    with pytest.raises(MonitoringError, match="initial model of the replay was not released"):
        run_simulation(
            frame,
            contract,
            Scenario(batches=2, batch_rows=300, seed=1),
            tmp_path,
            gate={"gate_floors": {"roc_auc": 0.999}},
        )


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("batches", 0, "--batches 0: the replay needs at least one batch"),
        ("batch_rows", 3, "--batch-rows 3: a batch needs at least 10 rows"),
        ("drift_start", -1, "--drift-start -1: give a batch number from 0"),
    ],
)
def test_a_scenario_that_cannot_be_replayed_is_refused_naming_its_option(option, value, words):
    with pytest.raises(MonitoringError, match=re.escape(words)):
        Scenario(**{option: value})


def test_simulate_with_no_batch_stops_in_one_line(capsys):
    assert main(["simulate", "--batches", "0", "--root", str(PROJECT)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --batches 0: the replay needs at least one batch"], err
