"""What the monitor reads: a batch, its scored input and its labels, in any format the scorer reads.

A predictions file carries no features: its scored input is found through the scoring summary
beside it (its SHA-256 checked) and joined to it by id.

Cells are read as the scorer reads them: a number column's thousands marks and sign, a date
column's format (the contract's), the row's line as its id when the contract has no id column.
A scored input's blank ids and repeated ids are set aside as scoring set them aside (the first
row of an id is the one scored), so a batch that scored is a batch that can be monitored.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lab2prod.data import sources
from lab2prod.data.cells import LINE
from lab2prod.data.contract import SOURCE, Contract
from lab2prod.data.formats import read_dates, read_numbers
from lab2prod.data.lake import sha256_file
from lab2prod.data.line_ids import LINE_ID, add_line_ids
from lab2prod.errors import Lab2ProdError, MonitoringError
from lab2prod.scoring.summary import summary_path_for

# what pandas reads with its own types (the files scoring writes); other formats go through the readers
PANDAS_SUFFIXES = (".csv", ".txt", ".parquet")


def read_text(path: str | Path, contract: Contract, what: str) -> pd.DataFrame:
    """Return a file of any format the scorer reads as text cells typed by the contract's formats.

    The line is the id when the contract's id is the line.
    """
    path = Path(path)
    if not path.is_file():
        raise MonitoringError(f"{what} file {path} not found")
    try:
        rows = sources.read_file(path).rows
    except Lab2ProdError as exc:
        raise MonitoringError(f"{what} file {path} cannot be read: {exc}") from None
    rows = add_line_ids(rows, contract)
    return typed_cells(rows.drop(columns=[c for c in (LINE, SOURCE) if c in rows]), contract)


def read_batch(path: str | Path, contract: Contract) -> pd.DataFrame:
    """Return a batch read from its file, its number and date cells read as the contract says.

    A CSV or Parquet file is read as pandas types it (the predictions scoring writes), any other
    format through the scorer's readers.
    """
    path = Path(path)
    if "".join(path.suffixes[-1:]).lower() not in PANDAS_SUFFIXES:
        return read_text(path, contract, "batch")
    batch = read_table(path, "batch")
    if contract.id_column == LINE_ID and LINE_ID not in batch:
        # a CSV read by pandas: its rows' lines after the header
        batch = batch.assign(**{LINE_ID: (batch.index + 2).astype(str)})
    return typed_cells(batch, contract)


def read_table(path: str | Path, what: str = "batch") -> pd.DataFrame:
    """Return a CSV or Parquet file as a frame, text columns kept as text; one-line errors when unusable."""
    path = Path(path)
    if not path.is_file():
        raise MonitoringError(f"{what} file {path} not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return pd.read_csv(path, engine="pyarrow")
    except Exception as exc:  # noqa: BLE001 - pyarrow and pandas raise many types for a bad file
        raise MonitoringError(
            f"{what} file {path} cannot be read: {str(exc).splitlines()[0]}"
        ) from None
    raise MonitoringError(f"{what} file {path}: use a .csv or .parquet file")


def read_features(path: str | Path, contract: Contract) -> pd.DataFrame:
    """Return a scored input with the rows scoring predicted: blank ids and later repeats of an id left out."""
    return first_of_each_id(read_text(path, contract, "features"), contract)


def read_labels(path: str | Path, contract: Contract) -> pd.DataFrame:
    """Return delayed labels (the id, or the line, and the target) from a file the scorer can read.

    Blank ids and later repeats of an id are left out as scoring leaves them out (the batch itself,
    its target filled in, is a labels file).
    """
    return first_of_each_id(read_text(path, contract, "labels"), contract)


def scored_input(batch_path: str | Path) -> Path:
    """Return the input file a predictions file was scored from: found through its summary, its SHA-256 checked.

    `lab2prod score --output preds.csv` writes ``preds.summary.json`` with the
    input's absolute path and digest. A one-line `MonitoringError` says what to
    pass when there is no summary, or the input is gone or has changed since.
    """
    batch_path = Path(batch_path)
    summary = summary_path_for(batch_path)
    if not summary.is_file():
        raise MonitoringError(
            f"batch {batch_path} carries none of the contract's features and has no {summary.name} "
            "beside it to find its scored input: pass --features <the scored input>, or a batch with "
            "the feature columns"
        )
    try:
        facts = json.loads(summary.read_text(encoding="utf-8"))
        source, digest = Path(facts["input"]), str(facts["input_sha256"])
    except (ValueError, KeyError, TypeError):
        raise MonitoringError(
            f"{summary} is not a scoring summary (no 'input' and 'input_sha256'): "
            "pass --features <the scored input>"
        ) from None
    if not source.is_absolute():  # a relative input is relative to the summary's folder
        source = summary.parent / source
    if not source.is_file():
        raise MonitoringError(
            f"the scored input of {batch_path} ({source}, named in {summary.name}) is gone: "
            "pass --features <a copy of that input>"
        )
    if sha256_file(source) != digest:
        raise MonitoringError(
            f"the scored input of {batch_path} ({source}) has changed since it was scored (SHA-256 "
            f"differs from {summary.name}): pass --features <the file as it was scored>"
        )
    return source


def join_features(batch: pd.DataFrame, features: pd.DataFrame, contract: Contract, origin: str):
    """Return the batch with the feature columns of `features` joined by the contract's id column (as text)."""
    key = contract.id_column
    if not key or key not in batch or key not in features:
        raise MonitoringError(
            f"joining {origin} to the batch needs id column {key!r} in both files"
        )
    extra = features.drop(columns=[c for c in features if c in batch and c != key])
    try:
        return batch.assign(**{key: batch[key].astype(str)}).merge(
            extra.assign(**{key: extra[key].astype(str)}), on=key, how="left", validate="one_to_one"
        )
    except pd.errors.MergeError:
        raise MonitoringError(
            f"{origin} or the batch repeats values of id column {key!r}: each case once per file"
        ) from None


def first_of_each_id(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Return the rows of `frame` that scoring scores: a present id, its first row."""
    key = contract.id_column
    if not key or key not in frame:
        return frame
    ids = frame[key]
    blank = ids.isna() | ids.astype(str).str.strip().eq("")
    return frame[~blank & ~ids.duplicated()]


def typed_cells(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Return `frame` with the columns the contract says how to read read that way, the others as they are.

    The contract says how to read a column with a thousands mark, a sign or a date format.
    """
    changed = {}
    for rule in contract.columns:
        if rule.name not in frame.columns:
            continue
        cells = frame[rule.name]
        if rule.type in ("int", "float") and rule.number_format and not _numeric(cells):
            text = cells.astype("str").where(cells.notna())
            changed[rule.name] = pd.to_numeric(
                read_numbers(text.str.strip(), rule.number_format), errors="coerce"
            )
        elif (
            rule.type == "date" and rule.format and not pd.api.types.is_datetime64_any_dtype(cells)
        ):
            changed[rule.name] = read_dates(cells, cells.notna(), rule.format)[0]
    return frame.assign(**changed) if changed else frame


def _numeric(cells: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(cells)
