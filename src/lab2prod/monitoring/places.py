"""Where monitoring and retraining read and write: the lake, the reports and the files they default to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab2prod.errors import MonitoringError


def status_file(reports_dir: str | Path) -> Path:
    """Return where the monitor writes its status by default, and `lab2prod retrain` reads it."""
    return Path(reports_dir) / "monitoring.json"


@dataclass(frozen=True)
class MonitoringPlaces:
    """The folders of one monitoring or retraining, and the files that default to places in them."""

    lake: Path
    reports: Path
    products: Path | None = None  # the training pipeline's products: retraining's pipeline path
    reference: Path | None = None  # None: the lake's train split of the contract's dataset
    status: Path | None = None  # None: <reports>/monitoring.json

    def status_file(self) -> Path:
        """Return the monitor's status JSON: the one given, else the one in the reports folder."""
        return Path(self.status) if self.status else status_file(self.reports)

    def reference_file(self, dataset: str) -> Path:
        """Return the training reference: the one given, else the train split the model learnt from."""
        return Path(self.reference) if self.reference else self.split_file(dataset, "train")

    def split_file(self, dataset: str, part: str) -> Path:
        """Return a split (train, valid, test) of `dataset` in the lake."""
        return Path(self.lake) / "splits" / dataset / f"{part}.csv"

    def report_file(self) -> Path:
        """Return the monitoring page."""
        return Path(self.reports) / "monitoring.html"

    def products_dir(self) -> Path:
        """Return the training pipeline's products folder; a one-line error when none was given."""
        if self.products is None:
            raise MonitoringError(
                "retraining through the pipeline reads its products: give the products folder"
            )
        return Path(self.products)
