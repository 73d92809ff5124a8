"""Where monitoring and retraining read and write: the defaults follow the folders given."""

from pathlib import Path

import pytest

from lab2prod.errors import MonitoringError
from lab2prod.monitoring.places import MonitoringPlaces, status_file


def test_places_default_to_the_lake_and_the_reports(tmp_path):
    places = MonitoringPlaces(tmp_path / "lake", tmp_path / "reports")
    assert places.status_file() == status_file(tmp_path / "reports")
    assert places.status_file() == tmp_path / "reports" / "monitoring.json"
    assert places.reference_file("d") == tmp_path / "lake" / "splits" / "d" / "train.csv"
    assert places.split_file("d", "valid") == tmp_path / "lake" / "splits" / "d" / "valid.csv"
    assert places.report_file() == tmp_path / "reports" / "monitoring.html"


def test_places_given_win_and_no_products_folder_is_one_line(tmp_path):
    places = MonitoringPlaces(tmp_path, tmp_path, reference=Path("ref.csv"), status=Path("s.json"))
    assert places.reference_file("d") == Path("ref.csv") and places.status_file() == Path("s.json")
    assert (
        MonitoringPlaces(tmp_path, tmp_path, products=tmp_path / "p").products_dir()
        == tmp_path / "p"
    )
    with pytest.raises(MonitoringError, match="give the products folder"):
        places.products_dir()


def test_monitor_and_retrain_do_not_import_each_other():
    import ast

    import lab2prod.monitoring.monitor as monitor
    import lab2prod.monitoring.retrain as retrain

    def imported(module) -> set[str]:
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        return {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }

    assert "lab2prod.monitoring.retrain" not in imported(monitor)
    assert "lab2prod.monitoring.monitor" not in imported(retrain)
    assert {"lab2prod.monitoring.labelled", "lab2prod.monitoring.places"} <= imported(retrain)
