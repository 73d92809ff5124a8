"""One request answered by the contract: the rows as cells, `score_chunk`, named outputs or a refusal.

Online scoring runs the code batch scoring runs: a request's rows become the cells `data.sources`
reads from a file (text; the JSON numbers of the contract's number columns as they came), and
`scoring.chunk.score_chunk` conditions them by the contract in score mode and predicts. The answer
has the columns of `lab2prod score`'s predictions (the id when the request carries one, then
`probability` and `label`, `probability_<label>` per class and `label`, or `value`), without the
lineage columns.

Mixed requests: a request is answered whole or refused whole. When any row breaks the contract,
no row is scored and the refusal names every such row with the reason `lab2prod score` writes in
its quarantine; a client that reads answers by position never gets a hole.

Pure: no MLflow, no files. `serving.model` wraps it for MLflow's clients.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from lab2prod.data.cells import LINE, cell_text
from lab2prod.data.contract import ColumnRule, Contract, column_key
from lab2prod.errors import ContractError
from lab2prod.scoring.chunk import prediction_columns, score_chunk

ORIGIN = "request"
ROW_ID = "_row"  # the id of a request's rows when the contract names no id column
SHOWN_REFUSALS = 10  # rows named in a refusal's message; the request log keeps every reason
# the reason of a valid row of a refused request
NOT_ANSWERED = "not answered: another row of the request breaks the contract"
_FIRST_LINE = 2  # score_chunk numbers rows as lines of a file with a header: row 0 is line 2
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' str: the dtype of a file's cells


@dataclass
class Answer:
    """A request's answer: the named predictions, or why each row was refused (row -> reason)."""

    predictions: pd.DataFrame | None
    refused: dict[int, str] = field(default_factory=dict)
    message: str = ""  # the one-line refusal, empty when answered
    rows: int = 0

    @property
    def answered(self) -> bool:
        """Return True when every row was scored."""
        return self.predictions is not None


def request_frame(model_input: Any) -> pd.DataFrame:
    """Return what a client passed to `predict` as a frame of rows.

    A frame stays as it is; a mapping of one value per column is one row; a mapping of columns or a
    list of records is those rows. The model declares no input schema, so MLflow hands the input
    over as the client sent it.
    """
    if isinstance(model_input, pd.DataFrame):
        return model_input
    if isinstance(model_input, dict) and all(np.ndim(v) == 0 for v in model_input.values()):
        # JSON `inputs` of one value per column reach `predict` as 0-d arrays
        return pd.DataFrame([{k: _item(v) for k, v in model_input.items()}])
    return pd.DataFrame(model_input)


def _item(value: Any) -> Any:
    return value.item() if isinstance(value, np.ndarray) else value


def request_cells(
    frame: pd.DataFrame, contract: Contract, row_ids: str | None = None
) -> pd.DataFrame:
    """Return a request's rows as the cells conditioning reads: text (pandas str, missing as NaN), or JSON numbers.

    As a reader numbers a file's rows, a first column `_line` holds each row's line (2, 3, ...:
    row 0 is line 2). A column of JSON numbers that the contract types int or float (not the id)
    stays numbers: conditioning reads them as the float64 their text would parse to and refuses
    them in the words a file's cells get. Other JSON values become their text ("5", "5.0",
    "true"), so the contract parses them as it parses a file. With `row_ids`, a column of that
    name holds each row's position ("0", "1", ...). The frame takes the columns as they are (no
    copy, no inference).
    """
    numbers = _number_keys(contract)
    positions = np.arange(len(frame), dtype="int64")
    columns: dict[str, Any] = {LINE: positions + _FIRST_LINE}
    if row_ids:
        columns[row_ids] = _integer_text(positions)
    for name, values in frame.items():
        number = isinstance(values.dtype, np.dtype) and values.dtype.kind in "iuf"
        if number and column_key(name) in numbers:
            columns[name] = values.to_numpy()
        else:
            columns[name] = _text(values)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(frame)), copy=False)


def _number_keys(contract: Contract) -> frozenset[str]:
    """Return the header keys (`column_key`) of the contract's int and float columns but its id."""
    try:
        return _cached_number_keys(contract)
    except TypeError:  # a contract holding lists (unhashable)
        return _make_number_keys(contract)


@functools.lru_cache(maxsize=16)
def _cached_number_keys(contract: Contract) -> frozenset[str]:
    return _make_number_keys(contract)


def _make_number_keys(contract: Contract) -> frozenset[str]:
    return frozenset(
        column_key(c.name)
        for c in contract.columns
        if c.type in ("int", "float") and c.name != contract.id_column
    )


def _text(values: pd.Series) -> pd.api.extensions.ExtensionArray:
    if values.dtype == TEXT:  # JSON strings: text already, missing as NaN
        return values.array
    kind = values.dtype.kind
    if kind in "iu":  # JSON integers: no missing cell, no type to tell apart per cell
        return _integer_text(values.to_numpy())
    if kind == "f":
        return _arrow_text([None if v != v else repr(v) for v in values.to_numpy().tolist()])
    return _arrow_text([cell_text(v) for v in values.to_numpy(dtype=object)])


def _integer_text(numbers: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Return integers as their decimal text, cast by Arrow in one pass."""
    text = pa.array(numbers).cast(pa.large_string())
    return pd.arrays.ArrowStringArray(text, dtype=TEXT)


def _arrow_text(cells: list[str | None]) -> pd.api.extensions.ExtensionArray:
    return pd.arrays.ArrowStringArray(pa.array(cells, type=pa.large_string()), dtype=TEXT)


def answer_request(
    frame: pd.DataFrame, model: Any, contract: Contract, threshold: float = 0.5
) -> Answer:
    """Return the answer to one request: `score_chunk` on its rows as text, or a refusal naming each bad row.

    A request without the contract's id column is scored with its row positions as ids, and the
    answer carries no id column. A ContractError of the whole request (a missing column, a rule
    that stops) is a refusal with that message.
    """
    if not contract.id_column:  # score_chunk ties predictions to rows by an id: the position here
        contract = with_row_ids(contract)
    id_name = contract.id_column
    given_id = id_name != ROW_ID and any(_key(c) == _key(id_name) for c in frame.columns)
    cells = request_cells(frame, contract, None if given_id else id_name)
    if not len(cells):
        return Answer(pd.DataFrame(columns=_columns(contract, given_id)), rows=0)
    try:
        scored = score_chunk(cells, model, contract, threshold, ORIGIN)
    except ContractError as exc:
        message = str(exc)
        return Answer(None, dict.fromkeys(range(len(cells)), message), message, len(cells))
    if len(scored.quarantine):
        reasons = {
            int(line) - _FIRST_LINE: str(reason)
            for line, reason in zip(scored.quarantine["line"], scored.quarantine["reason"])
        }
        ids = cells[id_name] if given_id else None
        return Answer(
            None,
            {i: reasons.get(i, NOT_ANSWERED) for i in range(len(cells))},
            refusal_message(reasons, len(cells), ids, id_name),
            len(cells),
        )
    predictions = scored.predictions  # one row per request row, in order, indexed from 0
    if not given_id:
        predictions = predictions.drop(columns=[id_name])
    return Answer(predictions, rows=len(cells))


@functools.lru_cache(maxsize=8)
def with_row_ids(contract: Contract) -> Contract:
    """Return `contract` with an id column `ROW_ID` (a request's row positions) for a contract that has none."""
    return dataclasses.replace(
        contract,
        id_column=ROW_ID,
        columns=(ColumnRule(ROW_ID, "string", nullable=False), *contract.columns),
    )


def refusal_message(
    reasons: dict[int, str], rows: int, ids: pd.Series | None = None, id_name: str | None = None
) -> str:
    """Return the one-line refusal of a request: how many rows break the contract, each row's reason."""
    shown = []
    for row in sorted(reasons)[:SHOWN_REFUSALS]:
        named = f" ({id_name} {ids.iloc[row]!r})" if ids is not None else ""
        shown.append(f"row {row}{named}: {reasons[row]}")
    more = len(reasons) - len(shown)
    tail = f" | and {more} more" if more > 0 else ""
    return (
        f"{ORIGIN}: {len(reasons)} of {rows} rows break the contract, so none is scored: "
        + " | ".join(shown)
        + tail
        + ": fix or remove those rows and send the request again"
    )


def _columns(contract: Contract, with_id: bool) -> list[str]:
    names = prediction_columns(contract)
    return names if with_id else names[1:]


def _key(name: str) -> str:
    return " ".join(str(name).split()).lower()
