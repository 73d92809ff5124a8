"""Own data without surprises, end to end (issue 24): the session's bring-your-own-data build
(`byod_project`, tests/conftest.py) reads a user's export of the `economics` table (no id column,
thousands separators, a percent column, day-first dates, a fifth of its rows repeated) and registers
a champion; `lab2prod score` then `lab2prod monitor --labels` run on a batch of it with no option
beyond the files."""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest
import yaml

from tests.conftest import BIN, ECONOMICS_REPEATS, build_env

pytestmark = pytest.mark.integration

NUMERIC = {"pce", "pop", "uempmed", "unemploy", "unemployment"}


def _lab2prod(root, *args):
    return subprocess.run(
        [str(BIN / "lab2prod"), *args],
        cwd=root,
        env=build_env(root),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_own_table_registers_a_champion_that_scores_and_is_monitored_without_options(
    byod_project,
):
    root = byod_project
    contract = yaml.safe_load((root / "data/lake/contracts/economics.yaml").read_text())
    columns = contract["columns"]
    assert contract["id_column"] is None
    assert (columns["pce"]["type"], columns["pce"]["thousands"]) == ("float", ",")
    assert (columns["unemployment"]["type"], columns["unemployment"]["symbol"]) == ("float", "%")
    assert (columns["date"]["type"], columns["date"]["format"]) == ("date", "%d/%m/%Y")
    # the champion's input columns hold every numeric column and the date (the contract's columns:
    # the registered model conditions a request by the contract, then makes the date's numeric parts)
    registered = json.loads((root / "products/register.json").read_text())
    assert registered["promoted"] is True
    assert any(
        r.startswith("r2 ") and "beats the trivial model" in r for r in registered["reasons"]
    )
    model_id = json.loads((root / "products/select.json").read_text())["model_uri"].split("/")[-1]
    (mlmodel,) = (root / "mlartifacts").rglob(f"{model_id}/artifacts/MLmodel")
    inputs = set(yaml.safe_load(mlmodel.read_text())["metadata"]["input_columns"])
    assert NUMERIC | {"date"} <= inputs
    page = (root / "reports/data_quality.html").read_text()
    normalized = pd.read_csv(root / "data/lake/normalized/economics.csv")
    grouped = int(normalized.duplicated(keep=False).sum())
    assert ECONOMICS_REPEATS < grouped <= 2 * ECONOMICS_REPEATS
    assert f'id="rows-grouped">{grouped}<' in page
    assert "Every column but the target is a feature." in page

    # a batch of the same export (its last 100 lines, the target included as labels)
    lines = (root / "byod/economics.csv").read_text().splitlines()
    (root / "batch.csv").write_text("\n".join([lines[0], *lines[1:101]]) + "\n")
    env_file = root / "env.yaml"
    original = env_file.read_text()
    env = yaml.safe_load(original)
    env.update(dataset="economics", model_name="economics")  # the project's own settings
    env_file.write_text(yaml.safe_dump(env, sort_keys=False))
    try:
        scored = _lab2prod(root, "score", "--input", "batch.csv", "--output", "scored.csv")
        assert scored.returncode == 0, scored.stderr
        scored_rows = pd.read_csv(root / "scored.csv")
        assert list(scored_rows.columns[:3]) == ["line", "value", "model_name"]
        assert scored_rows["line"].tolist() == list(range(2, 102))  # the rows' lines, as ids
        monitored = _lab2prod(
            root, "monitor", "--batch", "scored.csv", "--labels", "batch.csv", "--no-mlflow"
        )
        assert monitored.returncode in (0, 1), monitored.stderr
        status = json.loads((root / "reports/monitoring.json").read_text())
        assert status["performance"]["metric"] == "rmse"  # the task's metric, with no --metric
        assert status["performance"]["rows_labelled"] == 100
        assert status["batch_id"] == root.name  # scored.csv: a generic name, the folder's
    finally:
        env_file.write_text(original)
