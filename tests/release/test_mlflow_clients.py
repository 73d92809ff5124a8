"""The registered champion works through MLflow's own clients on data as the lake stores it.

The champion is lab2prod's pyfunc (`serving.model`): the contract, not MLflow's schema, types the
input, so a test split read back with pandas (whole numbers as int64, the target column included)
and a CSV whose integers have no decimal point are scored as `lab2prod score` scores them, with
the same named columns. The REST server is covered in tests/scoring/test_serve.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from lab2prod import settings
from lab2prod.scoring.score import load_model, score_file
from tests.conftest import build_env

MODEL = "models:/credit-risk@champion"


def _test_split(root: Path) -> Path:
    return root / "data/lake/splits/credit/test.csv"


@pytest.mark.integration
def test_pyfunc_predicts_the_test_split_read_with_pandas(built, monkeypatch, tmp_path):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{built / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{built / 'mlflow.db'}")
    try:
        model = mlflow.pyfunc.load_model(MODEL)
        frame = pd.read_csv(_test_split(built))
        assert frame["Seniority"].dtype == "int64"  # the lake's integers, as pandas reads them
        out = model.predict(frame)
        assert list(out.columns) == ["applicant_id", "probability", "label"]
        assert out["applicant_id"].tolist() == frame["applicant_id"].astype(str).tolist()
        # the same named frame as lab2prod score's predictions of the same split
        scored = score_file(
            _test_split(built),
            tmp_path / "pred.csv",
            load_model(MODEL),
            settings.load_contract(built / "data/contracts/credit.yaml"),
        )
        expected = pd.read_csv(scored.output, dtype={"applicant_id": str})
        assert out["label"].tolist() == expected["label"].tolist()
        np.testing.assert_allclose(out["probability"], expected["probability"], rtol=1e-12)
        # no input schema for MLflow to enforce: the contract decides, and names what is missing
        assert model.metadata.get_input_schema() is None
        assert "Seniority" in model.metadata.metadata["input_columns"]
        # the failure path: text where the contract says integer is refused in the contract's words
        with pytest.raises(
            MlflowException, match=r"row 0 \(applicant_id '.*'\): Seniority: 'five' is not a number"
        ):
            model.predict(frame.head(3).assign(Seniority="five"))
    finally:
        mlflow.set_tracking_uri("")


@pytest.mark.integration
def test_mlflow_models_predict_reads_a_csv_with_plain_integers(built, tmp_path):
    batch = tmp_path / "batch.csv"
    text = _test_split(built).read_text(encoding="utf-8").splitlines()
    batch.write_text("\n".join(text[:101]) + "\n", encoding="utf-8")
    header, first = text[0].split(","), text[1].split(",")
    assert "." not in first[header.index("Seniority")]  # an integer written without a decimal point
    env = build_env(built)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("mlflow")),
            "models",
            "predict",
            "-m",
            MODEL,
            "-i",
            str(batch),
            "-t",
            "csv",
            "-o",
            str(tmp_path / "out.json"),
            "--env-manager",
            "local",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    predictions = pd.DataFrame(json.loads((tmp_path / "out.json").read_text())["predictions"])
    assert list(predictions.columns) == ["applicant_id", "probability", "label"]
    assert len(predictions) == 100 and predictions["probability"].between(0, 1).all()
