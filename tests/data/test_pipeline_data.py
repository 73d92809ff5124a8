"""Pipeline integration of the data layer, in temporary copies of the project (PLOOMBER_ENV_FILENAME=env.test.yaml).

The session's bring-your-own-data build (`byod_project`, tests/conftest.py): the dated `economics`
table as a regression, from the command line only, a tenth of its rows exact repeats. On it: an
unchanged rebuild would run nothing, and one changed byte of the data file outdates ingest and every
step after it. On the sample build (`built`): the same for a source file of the bundled catalog. On a
user's own two-source catalog (`survey_project`, 40% of its rows repeating): it builds and registers,
and one changed byte of any of its sources re-runs ingest.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from lab2prod.modeling.estimators import load_model_dir
from tests.conftest import (
    BYOD,
    ECONOMICS_REPEATS,
    ECONOMICS_ROWS,
    SURVEY,
    SURVEY_REPEATS,
    SURVEY_ROWS,
    dag_steps,
)

pytestmark = pytest.mark.integration


@pytest.mark.readiness("data 6")
def test_byod_dated_regression_builds_from_the_command_line(byod_project):
    root = byod_project
    ingested = json.loads((root / "products/ingest.json").read_text())
    rows = ECONOMICS_ROWS + ECONOMICS_REPEATS
    # the repeated tenth is kept and counted (the inferred contract's duplicates: warn), not quarantined
    assert (ingested["rows_in"], ingested["rows_normalized"], ingested["rows_quarantined"]) == (
        rows,
        rows,
        0,
    )
    assert ingested["repeats"] == {
        "duplicates": "warn",
        "repeated_rows": ECONOMICS_REPEATS,
        "duplicate_ids": "quarantine",
        "repeated_ids": 0,
        "rows_wrong": 0,
    }
    assert any(
        w.startswith(f"economics: {ECONOMICS_REPEATS} row(s) repeat an earlier row exactly")
        for w in ingested["warnings"]
    )
    page = (root / "reports/data_quality.html").read_text()
    assert f'id="repeated-rows-kept">{ECONOMICS_REPEATS}<' in page
    assert "<code>duplicates: warn</code>" in page
    contract = root / "data/lake/contracts/economics.yaml"
    assert ingested["contract"] == str(contract)
    import yaml

    written = yaml.safe_load(contract.read_text())
    assert written["task"] == "regression" and written["target"] == {"name": "psavert"}
    assert written["columns"]["date"]["type"] == "date"
    trained = json.loads((root / "products/select.json").read_text())  # the grid's chosen cell
    assert trained["select_metric"] == "rmse"  # the task's default metric, with no flag
    # with a date column the split is by time: validation is a later period than training, which a
    # model must forecast; it still has to beat predicting that period's own mean
    assert trained["valid_metrics"]["r2"] > 0
    splits = root / "data/lake/splits/economics"
    assert (
        pd.read_csv(splits / "train.csv")["date"].max()
        < pd.read_csv(splits / "valid.csv")["date"].min()
    )
    registered = json.loads((root / "products/register.json").read_text())
    assert registered["model_name"] == "economics" and registered["promoted"] is True
    # the model saw the date as numbers, never as a one-hot string (read from the logged model's files
    # with lab2prod's skops loader, so this test process never points MLflow anywhere); a client
    # sends the date itself: the contract's columns are the model's input columns
    model_id = trained["model_uri"].split("/")[-1]
    (mlmodel,) = (root / "mlartifacts").rglob(f"{model_id}/artifacts/MLmodel")
    seen = set(load_model_dir(mlmodel.parent).feature_names_in_)
    assert {"date__year", "date__month", "date__dayofweek", "date__dayofyear"} <= seen
    assert "date" not in seen
    inputs = yaml.safe_load(mlmodel.read_text())["metadata"]["input_columns"]
    assert "date" in inputs and "date__year" not in inputs
    assert (root / "reports/data_quality.html").read_text().count("data:image/png") >= 6


def test_rebuild_is_data_aware(byod_project):
    root = byod_project
    # nothing changed: a build would run nothing (`ploomber build` decides from exactly this status);
    # a touch changes no content: nothing to run; one byte changed (506.7 -> 506.8): ingest and all after it;
    # the byte put back: nothing to run again (the build stays as the other tests read it)
    unchanged, after_touch, after_byte, restored = dag_steps(
        root,
        [
            "status",
            "touch:byod/economics.csv",
            "status",
            "replace:byod/economics.csv:506.7=>506.8",
            "status",
            "restore:byod/economics.csv",
            "status",
        ],
        *BYOD,
    )
    assert set(unchanged.values()) == {"Skipped"} and len(unchanged) == 11
    assert set(after_touch.values()) == {"Skipped"}
    assert after_byte["ingest"] == "WaitingExecution"
    later = (
        "validate",
        "split",
        "start",
        "train-0",
        "train-1",
        "select",
        "evaluate",
        "check",
        "register",
        "report",
    )
    assert {after_byte[t] for t in later} == {"WaitingUpstream"}
    assert set(restored.values()) == {"Skipped"}


def test_changed_catalog_source_reruns_ingest(built):
    source = "data/sources/credit/bureau.jsonl"
    before, changed, restored = dag_steps(
        built,
        [
            "status",
            f'replace:{source}:"Debt": 0.0=>"Debt": 1.0',
            "status",
            f"restore:{source}",
            "status",
        ],
    )
    assert set(before.values()) == {"Skipped"}
    assert changed["ingest"] == "WaitingExecution" and changed["report"] == "WaitingUpstream"
    assert set(restored.values()) == {"Skipped"}


def test_own_catalog_with_repeated_rows_builds_and_registers(survey_project):
    root = survey_project
    ingested = json.loads((root / "products/ingest.json").read_text())
    assert (ingested["rows_in"], ingested["rows_normalized"], ingested["rows_quarantined"]) == (
        SURVEY_ROWS,
        SURVEY_ROWS,
        0,
    )
    assert ingested["repeats"]["repeated_rows"] == SURVEY_REPEATS
    assert ingested["accounting"]["outcomes"]["rows_normalized"] == SURVEY_ROWS
    validated = json.loads((root / "products/validate.json").read_text())
    assert (validated["repeated_rows_kept"], validated["quarantine_share"]) == (SURVEY_REPEATS, 0)
    page = (root / "reports/data_quality.html").read_text()
    assert f'id="repeated-rows-kept">{SURVEY_REPEATS}<' in page
    assert "<code>duplicates: keep</code>" in page
    registered = json.loads((root / "products/register.json").read_text())
    assert registered["model_name"] == "survey" and registered["promoted"] is True


def test_own_catalog_rebuild_sees_every_source(survey_project):
    # each source of the user's catalog is hashed (src/lab2prod_ploomber/resources.py): one byte of
    # the second source (the JSON lines) re-runs ingest and all after it; a touch or the byte put
    # back runs nothing
    source = "byod/survey/outcomes.jsonl"
    before, touched, changed, restored = dag_steps(
        survey_project,
        [
            "status",
            f"touch:{source}",
            "status",
            f'replace:{source}:"churned": "no"=>"churned": "yes"',
            "status",
            f"restore:{source}",
            "status",
        ],
        *SURVEY,
    )
    assert set(before.values()) == {"Skipped"} and len(before) == 10
    assert set(touched.values()) == {"Skipped"}
    assert changed["ingest"] == "WaitingExecution"
    assert {v for k, v in changed.items() if k != "ingest"} == {"WaitingUpstream"}
    assert set(restored.values()) == {"Skipped"}
