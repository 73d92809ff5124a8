"""The id of a row in a table without an id column: its line number in the file, as the readers count it.

A project without an id column scores, and is monitored, with each row's line as its id: the
predictions file's ``line`` column, and the line of the same row in a labels file (the batch itself
with its target filled in, in any format the readers take).
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from lab2prod.data.cells import LINE
from lab2prod.data.contract import ColumnRule, Contract

LINE_ID = "line"


def with_line_ids(contract: Contract) -> Contract:
    """Return `contract` when it names an id column, else the contract whose id is the row's line.

    That id is a text column `line`, which `add_line_ids` fills.
    """
    if contract.id_column:
        return contract
    return replace(
        contract,
        id_column=LINE_ID,
        columns=contract.columns + (ColumnRule(LINE_ID, "string", nullable=False),),
    )


def add_line_ids(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Return `frame` with its rows' lines as the `line` id column when the contract's id is the line.

    A frame that carries that column itself is returned as it is.
    """
    if contract.id_column != LINE_ID or LINE_ID in frame.columns or LINE not in frame.columns:
        return frame
    return frame.assign(**{LINE_ID: frame[LINE].astype("int64").astype(str)})


def rows_as_ids(
    contract: Contract, batch: pd.DataFrame, labels: pd.DataFrame
) -> tuple[Contract, pd.DataFrame, pd.DataFrame]:
    """Return (contract, batch, labels) with ids to join the labels on.

    As given when the contract names an id column; else the contract whose id is the line, and both
    frames numbered as a file's lines (2, 3, ...): the labels of an in-memory batch without ids are
    its own rows, in the same order.
    """
    if contract.id_column:
        return contract, batch, labels
    if len(labels) != len(batch):
        raise ValueError(
            f"{len(labels)} labels for {len(batch)} rows and no id column to join them on"
        )
    lines = [str(line) for line in range(2, len(batch) + 2)]
    return (
        with_line_ids(contract),
        batch.assign(**{LINE_ID: lines}),
        labels.assign(**{LINE_ID: lines}),
    )
