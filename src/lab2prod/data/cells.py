"""Cell conventions every reader and the contract share: a leaf module that imports nothing of lab2prod.

A source adapter turns every cell into text or missing and numbers each row with its line in the
file (`LINE`); the contract then types the cells by name. Both sides must agree on what "missing",
"a decimal comma" and a number written as text look like, so those live here and nowhere else.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

LINE = "_line"
MISSING = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"})
DECIMAL_COMMA = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+,\d+|[+-]?\d+,\d+")


def grouped_number(thousands: str, decimal: str = ".") -> str:
    """Return the pattern of a number whose thousands are grouped by `thousands`, `decimal` its decimal mark.

    A number below 1000 matches ungrouped; ``2.000,5`` matches for a dot and a comma.
    """
    t, d = re.escape(thousands), re.escape(decimal)
    return rf"[+-]?(?:[1-9]\d{{0,2}}(?:{t}\d{{3}})+|\d+)(?:{d}\d+)?"


def cell_text(value: Any) -> str | None:
    """Return one value as the text cell a reader hands over: a number as its decimal text, missing as None.

    A float keeps its shortest round-trip text (``5.0``, ``1e+20``), which parses back to the same
    float; an integer its digits; a boolean ``true`` or ``false``.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)
