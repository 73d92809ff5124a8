"""Data quality: a per-column profile of a normalized frame and the dataset-level checks of its contract."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from lab2prod.data.contract import Contract, pandera_schema
from lab2prod.errors import ContractError


def profile(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Return one row per contract column: type, missing share, and range or categories observed."""
    rows = []
    for rule in contract.columns:
        values = frame[rule.name] if rule.name in frame.columns else pd.Series(dtype=object)
        row = {"column": rule.name, "type": rule.type, "missing_share": float(values.isna().mean()) if len(values) else 1.0,
               "distinct": int(values.nunique())}
        if rule.type in ("int", "float") and values.notna().any():
            row.update(min=float(values.min()), median=float(values.median()), max=float(values.max()))
        elif rule.type == "category":
            top = values.value_counts().head(6)
            row["categories"] = ", ".join(f"{k} ({v})" for k, v in top.items())
        rows.append(row)
    return pd.DataFrame(rows)


def check_normalized(frame: pd.DataFrame, contract: Contract, rows_quarantined: int, origin: str) -> dict[str, float]:
    """Check a normalized frame against the whole contract; return dataset facts or raise a one-line ContractError."""
    try:
        pandera_schema(contract, "train").validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        first = exc.failure_cases.iloc[0]
        raise ContractError(
            f"{origin}: {len(exc.failure_cases)} contract violation(s), first: column {first['column']!r} "
            f"fails {first['check']} with {first['failure_case']!r}: re-run ingest or fix the source"
        ) from None
    total = len(frame) + rows_quarantined
    share = rows_quarantined / total if total else 0.0
    if share > contract.max_quarantine_fraction:
        raise ContractError(
            f"{origin}: {share:.1%} of rows were quarantined, above the contract's {contract.max_quarantine_fraction:.1%}: "
            "inspect data/lake/quarantine"
        )
    facts = {"rows": float(len(frame)), "quarantined": float(rows_quarantined), "quarantine_share": share}
    if contract.task == "classification":
        counts = frame[contract.target].value_counts()
        if len(counts) < 2:
            raise ContractError(f"{origin}: target {contract.target!r} has a single class: a classifier needs two")
        if contract.positive_label is not None:
            facts["positive_share"] = float((frame[contract.target] == contract.positive_label).mean())
    return facts
