"""What scoring writes: the predictions' columns, their lineage, and atomic CSV or Parquet files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq

from lab2prod.data.conditioning import QUARANTINE_COLUMNS
from lab2prod.data.contract import Contract
from lab2prod.data.files import make_folder
from lab2prod.errors import SourceError
from lab2prod.modeling.features import is_multiclass
from lab2prod.modeling.predict import class_probability_columns

LINEAGE_COLUMNS = ["model_name", "model_version", "run_id", "input_sha256", "scored_at"]
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("record", pa.string()),
    ]
)


def output_schema(contract: Contract) -> pa.Schema:
    """Return the columns of a predictions file for the contract's task.

    Binary: `probability` (of the positive label) and `label`; multiclass: one
    `probability_<label>` per label of the contract, in its order, and `label`
    (the most probable class); regression: `value`. Then the lineage columns.
    """

    id_name = contract.id_column or "id"
    if is_multiclass(contract):
        fields = [(id_name, pa.string())]
        fields += [(name, pa.float64()) for name in class_probability_columns(contract.labels)]
        fields.append(("label", pa.string()))
    elif contract.task == "classification":
        fields = [(id_name, pa.string()), ("probability", pa.float64()), ("label", pa.string())]
    else:
        fields = [(id_name, pa.string()), ("value", pa.float64())]
    return pa.schema(fields + [(name, pa.string()) for name in LINEAGE_COLUMNS])


class Lineage:
    """The lineage columns of every output row (model name, version, run, input digest, scored-at).

    Built once and sliced for each chunk: every chunk shares the same memory.
    """

    def __init__(self, values: dict[str, str]):
        self.values = {name: str(values[name]) for name in LINEAGE_COLUMNS}
        self._columns: list[pa.Array] = []

    def columns(self, n: int) -> list[pa.Array]:
        """Return the lineage columns for `n` rows."""
        if not self._columns or len(self._columns[0]) < n:
            self._columns = [
                pa.repeat(pa.scalar(self.values[name], pa.string()), n) for name in LINEAGE_COLUMNS
            ]
        return [column.slice(0, n) for column in self._columns]

    def table(self, predictions: pd.DataFrame, schema: pa.Schema) -> pa.Table:
        """Return a chunk's predictions with the lineage columns, as `schema` says."""
        own = [
            pa.array(predictions[f.name].to_numpy(), f.type)
            for f in schema
            if f.name not in LINEAGE_COLUMNS
        ]
        return pa.Table.from_arrays(own + self.columns(len(predictions)), schema=schema)


def quarantine_table(frame: pd.DataFrame) -> pa.Table:
    """Return quarantine rows (source, line, reason, record) as an Arrow table."""
    return pa.Table.from_pandas(
        frame[QUARANTINE_COLUMNS]
        .astype({"line": "int64"})
        .astype({"source": object, "reason": object, "record": object}),
        schema=QUARANTINE_SCHEMA,
        preserve_index=False,
    )


class AtomicWriter:
    """Stream Arrow tables to a temporary file in the target's folder; rename on commit, delete on abort."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path = Path(path)
        make_folder(self.path.parent)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.close(fd)
        self.tmp = Path(tmp)
        self.schema = schema
        if self.path.suffix.lower() == ".parquet":
            self._writer = pq.ParquetWriter(self.tmp, schema, compression="zstd")
        else:
            self._writer = pv.CSVWriter(self.tmp, schema)

    def write(self, table: pa.Table) -> None:
        """Append one chunk's rows; a failed write (a full disk) is one line naming the file."""
        try:
            self._writer.write_table(table)
        except OSError as exc:
            raise self._error(exc) from None

    def commit(self) -> Path:
        """Close the file and rename it into place; return its path."""
        try:
            self._writer.close()
            self.tmp.chmod(0o644)  # mkstemp made it private; a product is readable like any other
            os.replace(self.tmp, self.path)
        except OSError as exc:
            raise self._error(exc) from None
        return self.path

    def _error(self, exc: OSError) -> SourceError:
        reason = " ".join(str(exc).split())
        return SourceError(
            f"{self.path}: cannot write ({reason}): free some space or choose another output folder"
        )

    def abort(self) -> None:
        """Close and delete the temporary file (idempotent)."""
        try:
            self._writer.close()
        except (OSError, pa.ArrowException):  # the file goes away anyway
            pass
        self.tmp.unlink(missing_ok=True)
