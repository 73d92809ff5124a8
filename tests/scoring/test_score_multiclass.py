"""Scoring a multiclass model: one probability column per label in the contract's order, the label, lineage.

A model fitted here on scikit-learn's bundled wine table (conftest.wine_frame), handed to the scorer
as a ModelRef: no MLflow store needed. The whole path through the registry, `lab2prod score`, the
monitor and REST is tests/integration/test_multiclass.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import wine_frame
from lab2prod.data.conditioning import condition
from lab2prod.data.inference import infer_contract
from lab2prod.modeling.estimators import build_estimator
from lab2prod.modeling.features import model_columns, model_frame, target_vector
from lab2prod.modeling.predict import class_probability_columns, predict
from lab2prod.scoring.score import LINEAGE_COLUMNS, ModelRef, ScoreOptions, score_file


@pytest.fixture(scope="module")
def wine_model():
    frame = wine_frame()
    text = frame.astype(str).assign(_line=np.arange(2, len(frame) + 2))
    contract = infer_contract(text, "wine", "cultivar", "classification", id_column="id")
    typed = condition(text, contract, mode="train").clean
    columns = model_columns(contract)
    model = build_estimator("linear", "classification", columns["numeric"], columns["categorical"])
    model.fit(model_frame(typed, contract), target_vector(typed, contract))
    return contract, typed, model


@pytest.mark.parametrize("workers", [0, 1])
def test_a_multiclass_batch_gets_a_probability_per_class_and_the_most_probable_label(
    wine_model, tmp_path, workers
):
    contract, typed, model = wine_model
    assert contract.labels == ("class_0", "class_1", "class_2")
    batch = tmp_path / "batch.csv"
    wine_frame().drop(columns=["cultivar"]).to_csv(batch, index=False)
    ref = ModelRef(model=model, uri="models:/wine/1", name="wine", version="1", run_id="r1")
    result = score_file(
        batch, tmp_path / "preds.csv", ref, contract, options=ScoreOptions(workers=workers)
    )
    out = pd.read_csv(result.output)
    probabilities = class_probability_columns(contract.labels)
    assert list(out.columns) == ["id", *probabilities, "label", *LINEAGE_COLUMNS]
    expected = predict(model, model_frame(typed, contract), "classification")
    np.testing.assert_allclose(out[probabilities].to_numpy(), expected, rtol=1e-12)
    assert out["label"].tolist() == [contract.labels[j] for j in expected.argmax(axis=1)]
    assert result.threshold is None  # no threshold: the label is the most probable class
    assert result.rows_scored == 178 and set(out["model_version"]) == {1}
