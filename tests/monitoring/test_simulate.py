import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from lane import maker

from conftest import apart, empty_store
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


# three batches: a calm one, then two drifting (the contract's first and last numeric columns),
# which the loop retrains after (each retraining is a release with its infrastructure check in a
# fresh process)
SAME_SEED = Scenario(batches=3, batch_rows=400, drift_start=1, seed=7)
# run_simulation on the credit data as `credit_lake` ingests it, in a process of its own; prints
# the table's records and the decisions as JSON
DIRECT = """
import json
from pathlib import Path
from lab2prod.monitoring.simulate import Scenario, run_simulation
contract, frame = fixtures.ingested_credit(Path(sys.argv[1]))
scenario = Scenario(**json.loads(sys.argv[3]))
direct = run_simulation(frame, contract, scenario, Path(sys.argv[2]))
table = json.loads(direct["table"].to_json(orient="records"))
print(json.dumps({"table": table, "decisions": direct["decisions"]}))
"""


@dataclass(frozen=True)
class SameSeedRuns:
    """What make_same_seed_runs ran side by side: run_simulation, and `lab2prod simulate` in an empty project folder."""

    root: Path  # the command's project folder
    direct: subprocess.CompletedProcess  # its last line: the table's records and the decisions
    command: subprocess.CompletedProcess


@maker("same_seed_runs")
def make_same_seed_runs(tmp_path_factory, environ) -> SameSeedRuns:
    """Replay SAME_SEED by run_simulation and by the command, each in a process of its own, side by side."""
    tmp_path = tmp_path_factory.mktemp("same-seed")
    workdir = empty_store(tmp_path / "a").parent
    lake = tmp_path_factory.mktemp("same-seed-lake")
    env = {k: v for k, v in environ.items() if k not in ("LAB2PROD_ROOT", "MLFLOW_TRACKING_URI")}
    fixtures = Path(__file__).with_name("conftest.py")
    scenario = {"batches": 3, "batch_rows": 400, "drift_start": 1, "seed": 7}
    assert Scenario(**scenario) == SAME_SEED
    direct = subprocess.Popen(
        apart(fixtures, DIRECT, workdir, str(lake), str(workdir), json.dumps(scenario)),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # the command, in an empty project folder: it ingests the bundled sources itself
    command = subprocess.run(
        [
            "lab2prod",
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
        ],
        cwd=tmp_path,
        env={**env, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'unused.db'}"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    out, err = direct.communicate(timeout=900)
    return SameSeedRuns(
        tmp_path, subprocess.CompletedProcess(direct.args, direct.returncode, out, err), command
    )


@pytest.fixture(scope="session")
def same_seed_runs(lane, request) -> SameSeedRuns:
    """The runs of make_same_seed_runs, made by the second lane."""
    return lane.get(request, "same_seed_runs")


@pytest.mark.integration  # trains, retrains and checks each release in a fresh process, twice: tens of seconds
def test_same_seed_same_figures(same_seed_runs):
    runs, tmp_path = same_seed_runs, same_seed_runs.root
    assert runs.direct.returncode == 0, runs.direct.stderr[-3000:]
    direct = json.loads(runs.direct.stdout.strip().splitlines()[-1])
    assert any(row["retrained"] for row in direct["table"]) and direct["decisions"]
    assert runs.command.returncode == 0, runs.command.stderr[-3000:]
    saved = json.loads((tmp_path / "reports/simulation.json").read_text())
    assert saved["table"] == direct["table"]
    assert saved["decisions"] == direct["decisions"]
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
