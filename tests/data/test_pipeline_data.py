"""Pipeline integration of the data layer, in temporary copies of the project (PLOOMBER_ENV_FILENAME=env.test.yaml).

The session's bring-your-own-data build (`byod_project`, tests/conftest.py): the dated `economics`
table as a regression, from the command line only. On it: an unchanged rebuild would run nothing, and one
changed byte of the data file outdates ingest and every step after it. On the sample build (`built`):
the same for a source file of the bundled catalog.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import BYOD, dag_steps

pytestmark = pytest.mark.integration


def test_byod_dated_regression_builds_from_the_command_line(byod_project):
    root = byod_project
    ingested = json.loads((root / "products/ingest.json").read_text())
    assert (ingested["rows_in"], ingested["rows_normalized"], ingested["rows_quarantined"]) == (
        574,
        574,
        0,
    )
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
    # the model saw the date as numbers, never as a one-hot string (read from the logged MLmodel file, so
    # this test process never points MLflow anywhere)
    model_id = trained["model_uri"].split("/")[-1]
    (mlmodel,) = (root / "mlartifacts").rglob(f"{model_id}/artifacts/MLmodel")
    inputs = [
        c["name"] for c in json.loads(yaml.safe_load(mlmodel.read_text())["signature"]["inputs"])
    ]
    assert {"date__year", "date__month", "date__dayofweek", "date__dayofyear"} <= set(
        inputs
    ) and "date" not in inputs
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
    assert set(unchanged.values()) == {"Skipped"} and len(unchanged) == 10
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
