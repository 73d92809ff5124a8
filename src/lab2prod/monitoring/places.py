"""Where monitoring and retraining read and write: the project's Lake, and the files a run may name instead."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab2prod.data.lake import Lake


@dataclass(frozen=True)
class MonitoringPlaces:
    """The Lake of one monitoring or retraining, and the files given in place of the Lake's own."""

    lake: Lake
    reference: Path | None = None  # None: the lake's train split of the contract's dataset
    status: Path | None = None  # None: the Lake's monitoring status (<reports>/monitoring.json)

    def status_file(self) -> Path:
        """Return the monitor's status JSON: the one given, else the Lake's."""
        return Path(self.status) if self.status else self.lake.monitoring_status()

    def reference_file(self, dataset: str) -> Path:
        """Return the training reference: the one given, else the train split the model learnt from."""
        return Path(self.reference) if self.reference else self.lake.split(dataset, "train")
