"""The registered champion works through MLflow's own clients on data as the lake stores it.

The pipeline logs the signature from the contract (`features.signature_frame`, `tracking.input_schema`):
required integers are `long`, so a test split read back with pandas (whole numbers as int64) and a CSV
whose integers have no decimal point are accepted. A signature declaring them `double` made both
refuse with "Can not safely convert int64 to float64". The REST server with JSON integers is covered
in tests/scoring/test_serve.py.
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

from tests.conftest import build_env

MODEL = "models:/credit-risk@champion"


def _test_split(root: Path) -> Path:
    return root / "data/lake/splits/credit/test.csv"


@pytest.mark.integration
def test_pyfunc_predicts_the_test_split_read_with_pandas(built, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{built / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{built / 'mlflow.db'}")
    try:
        model = mlflow.pyfunc.load_model(MODEL)
        frame = pd.read_csv(_test_split(built))
        assert frame["Seniority"].dtype == "int64"  # the lake's integers, as pandas reads them
        out = np.asarray(model.predict(frame))
        assert out.shape == (len(frame), 2) and np.isfinite(out).all()
        schema = {c.name: c for c in model.metadata.get_input_schema().inputs}
        assert schema["Seniority"].type.name == "long" and schema["Seniority"].required
        assert schema["Income"].type.name == "double" and not schema["Income"].required
        assert not schema["Marital"].required  # nullable in the contract, whatever the sample held
        # the failure path: text where the contract says integer is refused by MLflow, not guessed
        with pytest.raises(Exception, match="Seniority"):
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
    predictions = json.loads((tmp_path / "out.json").read_text())["predictions"]
    assert np.asarray(predictions).shape == (100, 2)
