"""The model's view of a normalized frame: one function shared by training and every way of scoring."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from lab2prod.data.contract import Contract


def feature_columns(contract: Contract) -> dict[str, list[str]]:
    """Return the contract's features grouped as {'numeric', 'categorical', 'date'}."""
    return {
        "numeric": contract.features_of("int") + contract.features_of("float"),
        "categorical": contract.features_of("category"),
        "date": contract.features_of("date"),
    }


def model_frame(frame: pd.DataFrame | Mapping[str, Any], contract: Contract) -> pd.DataFrame:
    """Return the feature columns typed for the model: numbers as float64, categories as text or NaN.

    `frame` is a frame, or typed columns as arrays by name (`Conditioned.columns`, the arrays a
    conditioned frame is made of: no column is taken out of a frame again), rows numbered from 0.
    Dates become numeric parts (year, month, day of week, day of year) named
    ``<column>__year`` and so on: a date is never one-hot encoded as a string.
    """
    kinds = _feature_kinds(contract)
    # a frame's `in` looks at its columns, as a mapping's at its keys
    missing = [name for name, kind in kinds if kind != "string" and name not in frame]
    if missing:
        raise KeyError(f"input lacks feature column(s) {', '.join(missing)}")
    index = frame.index if isinstance(frame, pd.DataFrame) else pd.RangeIndex(_rows(frame))
    out = {}
    for name, kind in kinds:
        if kind in ("int", "float"):
            out[name] = _floats(frame[name])
        elif kind == "category":
            out[name] = pd.Series(_text_objects(frame[name]), index=index, dtype=object)
        elif kind == "date":
            stamp = pd.to_datetime(frame[name], errors="coerce")
            stamp = stamp if isinstance(stamp, pd.Series) else pd.Series(stamp, index=index)
            out[f"{name}__year"] = stamp.dt.year.astype("float64").to_numpy()
            out[f"{name}__month"] = stamp.dt.month.astype("float64").to_numpy()
            out[f"{name}__dayofweek"] = stamp.dt.dayofweek.astype("float64").to_numpy()
            out[f"{name}__dayofyear"] = stamp.dt.dayofyear.astype("float64").to_numpy()
    return pd.DataFrame(out, index=index)


def _rows(columns: Mapping[str, Any]) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def _floats(values: Any) -> np.ndarray:
    """Return a number column (a Series or an array) as float64, NaN where missing or not a number."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        return values.astype("float64", copy=False)
    if values.dtype.kind in "iuf":  # numbers (conditioned Int64): no parsing, only NaN for missing
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return (
        pd.to_numeric(pd.Series(values, copy=False), errors="coerce").astype("float64").to_numpy()
    )


def _feature_kinds(contract: Contract) -> tuple[tuple[str, str], ...]:
    """Return each feature's name and type, in the contract's order (worked out once per contract)."""
    try:
        return _cached_kinds(contract)
    except TypeError:  # a contract holding lists (unhashable)
        return tuple((name, contract.rule(name).type) for name in contract.features)


@functools.lru_cache(maxsize=16)
def _cached_kinds(contract: Contract) -> tuple[tuple[str, str], ...]:
    return tuple((name, contract.rule(name).type) for name in contract.features)


def signature_frame(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Return `model_frame` with the contract's required integer columns as int64: the model's logged example.

    pandas reads a column of whole numbers as int64, and MLflow's schema refuses int64 for a column
    declared double ("Can not safely convert int64 to float64"). A signature inferred from this
    frame declares those columns long, so `mlflow.pyfunc`, `mlflow models predict` and the REST
    server accept the lake's files and JSON integers. Nullable integers stay double, as MLflow
    advises: a missing value makes pandas read the column as floats.
    """
    typed = model_frame(frame, contract)
    required = [c for c in contract.features_of("int") if not contract.rule(c).nullable]
    return typed.astype({c: "int64" for c in required if c in typed.columns})


def _text_objects(values: pd.Series | pd.api.extensions.ExtensionArray) -> np.ndarray:
    """Return a column (a Series or an array) as an object array of str, NaN where missing.

    Object on purpose: pandas 3 stores text as Arrow strings, which scikit-learn's
    encoders turn back into object arrays on every call. Built from the distinct
    values (one str object each): several times faster than converting cell by cell.
    Arrow text (the conditioned cells) is encoded by Arrow itself, which costs less
    than pandas' factorize at any size, a request's row as a chunk's million.
    """
    if isinstance(values.dtype, pd.StringDtype):
        text = pa.array(values.array if isinstance(values, pd.Series) else values, from_pandas=True)
        if isinstance(text, pa.ChunkedArray):  # a frame made of several pieces
            text = text.combine_chunks()
        # missing is a value of the dictionary too: the codes have no hole to fill
        encoded = text.dictionary_encode(null_encoding="encode")
        lookup = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)
        lookup[encoded.dictionary.is_null().to_numpy(zero_copy_only=False)] = np.nan
        return lookup[encoded.indices.to_numpy()]
    codes, distinct = pd.factorize(values)
    lookup = np.append(np.asarray(distinct, dtype=object), np.nan)
    return lookup[codes]  # code -1 (missing) picks the NaN at the end


def model_columns(contract: Contract) -> dict[str, list[str]]:
    """Return the columns of `model_frame` grouped as {'numeric', 'categorical'} for the preprocessing."""
    groups = feature_columns(contract)
    dates = [
        f"{d}__{part}"
        for d in groups["date"]
        for part in ("year", "month", "dayofweek", "dayofyear")
    ]
    return {"numeric": groups["numeric"] + dates, "categorical": groups["categorical"]}


def is_multiclass(contract: Contract) -> bool:
    """Return True when the contract's target is a classification with three or more labels."""
    return contract.task == "classification" and len(contract.labels or ()) > 2


def target_vector(frame: pd.DataFrame, contract: Contract) -> np.ndarray:
    """Return the target: binary 1 for the positive label else 0; multiclass the label's code; regression numbers.

    A multiclass label's code is its position in the contract's `labels`
    (0..k-1), so column j of the model's probabilities is the contract's j-th
    label, in training, evaluation and every way of scoring.
    """
    y = frame[contract.target]
    if contract.task == "classification" and contract.labels and len(contract.labels) == 2:
        return (y.astype(str) == str(contract.positive_label)).astype("int64").to_numpy()
    if is_multiclass(contract):
        codes = pd.Categorical(y.astype(str), categories=list(contract.labels)).codes
        if (codes < 0).any():
            row = int(np.flatnonzero(codes < 0)[0])
            raise ValueError(
                f"target {contract.target!r} row {row}: label {y.iloc[row]!r} is not one of the "
                f"contract's labels ({', '.join(contract.labels)})"
            )
        return codes.astype("int64")
    if contract.task == "classification":
        return y.astype(str).to_numpy()
    return pd.to_numeric(y, errors="coerce").astype("float64").to_numpy()


def check_classes(y: np.ndarray, contract: Contract, part: str = "training split") -> None:
    """Raise a ValueError naming the labels of a multiclass contract that have no row in `y` (codes)."""
    if not is_multiclass(contract):
        return
    seen = set(np.unique(y).tolist())
    missing = [label for code, label in enumerate(contract.labels) if code not in seen]
    if missing:
        todo = (
            "a model cannot learn them: add rows of them or drop them from the contract's labels"
            if part == "training split"
            else "their metrics cannot be measured: use a longer test period (test_size), a random "
            "split (no date_column), or drop them from the data"
        )
        raise ValueError(
            f"target {contract.target!r}: label(s) {', '.join(map(repr, missing))} have no row in the "
            f"{part}; {todo}"
        )
