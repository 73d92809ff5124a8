"""Where monitoring and retraining read and write: the defaults follow the folders given."""

from pathlib import Path

from lab2prod.data.lake import Lake
from lab2prod.monitoring.places import MonitoringPlaces


def test_places_default_to_the_lake_and_the_reports(tmp_path):
    places = MonitoringPlaces(Lake.of(tmp_path, "lake", reports="reports"))
    assert places.status_file() == tmp_path / "reports" / "monitoring.json"
    assert places.reference_file("d") == tmp_path / "lake" / "splits" / "d" / "train.csv"


def test_places_given_win_over_the_lakes(tmp_path):
    places = MonitoringPlaces(Lake.of(tmp_path), reference=Path("ref.csv"), status=Path("s.json"))
    assert places.reference_file("d") == Path("ref.csv") and places.status_file() == Path("s.json")


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
