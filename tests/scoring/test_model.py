"""The model of a scoring run: found in the SQLite store at once, or resolved by MLflow in a forked process."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lab2prod.cli import main
from lab2prod.errors import RegistryError
from lab2prod.scoring.model import ModelFetch

CONTRACT_PATH = Path(__file__).resolve().parents[2] / "data/contracts/credit.yaml"

EARLY_FETCH = """
import json, sys
from lab2prod.scoring.model import ModelFetch
fetch = ModelFetch(sys.argv[1], sys.argv[2])
heavy = sorted(m for m in ("pandas", "sklearn", "mlflow", "pyarrow") if m in sys.modules)
child = fetch._process is not None
ref = fetch.result()
print(json.dumps({"heavy_at_fork": heavy, "child": child, "mlflow_imported": "mlflow" in sys.modules,
                  "name": ref.name, "version": ref.version, "run_id": ref.run_id,
                  "threshold": ref.threshold, "proba": hasattr(ref.model, "predict_proba")}))
"""


def _model_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("lab2prod-model-*"))


def test_a_model_in_a_sqlite_store_is_found_without_mlflow_and_without_a_child(champion):
    proc = subprocess.run(
        [sys.executable, "-c", EARLY_FETCH, champion["model_uri"], champion["tracking_uri"]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert facts["heavy_at_fork"] == []  # importing lab2prod.scoring.model imports none of them
    assert facts["child"] is False and facts["mlflow_imported"] is False
    assert (facts["name"], facts["version"], facts["run_id"]) == (
        "credit-risk",
        champion["version"],
        champion["run_id"],
    )
    assert facts["threshold"] == 0.5 and facts["proba"]


def test_any_other_model_is_resolved_by_mlflow_in_a_child_forked_before_the_heavy_imports(champion):
    from mlflow import MlflowClient

    logged = (
        MlflowClient(champion["tracking_uri"])
        .get_model_version("credit-risk", champion["version"])
        .source
    )
    assert logged.startswith(
        "models:/m-"
    )  # a logged model, not a registry name: registry_lookup declines it
    proc = subprocess.run(
        [sys.executable, "-c", EARLY_FETCH, logged, champion["tracking_uri"]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert facts["heavy_at_fork"] == [] and facts["child"] is True
    assert facts["mlflow_imported"] is False  # MLflow ran in the child only
    assert (facts["name"], facts["version"], facts["threshold"]) == ("", "", None) and facts[
        "proba"
    ]


def test_an_unknown_model_fails_in_the_parent_with_one_line_and_leaves_no_files(champion):
    before = _model_folders()
    fetch = ModelFetch("models:/nobody@champion", champion["tracking_uri"])
    with pytest.raises(
        RegistryError, match=r"^cannot load model models:/nobody@champion: .*register a model first"
    ):
        fetch.result()
    fetch.close()  # a second close does nothing
    assert _model_folders() <= before


def test_cli_stops_the_fetch_when_the_contract_is_missing(champion, batch_text, tmp_path, capsys):
    batch_csv = tmp_path / "batch.csv"
    batch_text.head(20).to_csv(batch_csv, index=False)
    before = _model_folders()
    code = main(
        [
            "score",
            "--input",
            str(batch_csv),
            "--output",
            str(tmp_path / "pred.csv"),
            "--model",
            champion["model_uri"],
            "--contract",
            str(tmp_path / "missing.yaml"),
        ]
    )
    assert code == 2 and "missing.yaml" in capsys.readouterr().err
    assert _model_folders() <= before and not (tmp_path / "pred.csv").exists()
