"""Data quality: a per-column profile of a normalized frame and the dataset-level checks of its contract."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import pandera.pandas as pa

from lab2prod.data.conditioning import DROPPED, wrong_rows
from lab2prod.data.contract import Contract
from lab2prod.data.rules import pandera_schema
from lab2prod.data.validate import reason_kind
from lab2prod.errors import ContractError
from lab2prod.reporting.render import figure_data_uri, render, shown_path


def profile(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Return one row per contract column: type, missing share, and range or categories observed."""
    rows = []
    for rule in contract.columns:
        values = frame[rule.name] if rule.name in frame.columns else pd.Series(dtype=object)
        role = (
            "target"
            if rule.name == contract.target
            else "id"
            if rule.name == contract.id_column
            else "feature"
        )
        row = {
            "column": rule.name,
            "role": role,
            "type": rule.type,
            "missing_share": float(values.isna().mean()) if len(values) else 1.0,
            "distinct": int(values.nunique()),
        }
        if rule.type in ("int", "float") and values.notna().any():
            row.update(
                min=float(values.min()), median=float(values.median()), max=float(values.max())
            )
            row["summary"] = f"{row['min']:g} .. {row['max']:g} (median {row['median']:g})"
        elif rule.type == "date" and values.notna().any():
            row["summary"] = f"{values.min():%Y-%m-%d} .. {values.max():%Y-%m-%d}"
        elif rule.type == "category":
            top = values.value_counts().head(6)
            row["categories"] = ", ".join(f"{k} ({v})" for k, v in top.items())
            row["summary"] = row["categories"] + (" …" if values.nunique() > 6 else "")
        else:
            row["summary"] = ""
        rows.append(row)
    return pd.DataFrame(rows)


def check_normalized(
    frame: pd.DataFrame, contract: Contract, quarantine: int | pd.DataFrame, origin: str
) -> dict[str, float]:
    """Check a normalized frame against the whole contract; return dataset facts or raise a one-line ContractError.

    `quarantine` is the quarantine zone's frame (rows `duplicates: drop` set aside do not count
    against the limit) or the number of quarantined rows that do.
    """
    try:
        # the id's uniqueness is checked below: rows repeated exactly may be kept (`duplicates`)
        pandera_schema(contract, "train", unique_id=False).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        first = exc.failure_cases.iloc[0]
        raise ContractError(
            f"{origin}: {len(exc.failure_cases)} contract violation(s), first: column {first['column']!r} "
            f"fails {first['check']} with {first['failure_case']!r}: re-run ingest or fix the source"
        ) from None
    if contract.id_column and contract.duplicate_ids in ("quarantine", "stop"):
        conflicts = _id_conflicts(frame, contract)
        if conflicts:
            raise ContractError(
                f"{origin}: {conflicts} row(s) repeat the id of a different row in column "
                f"{contract.id_column!r}: re-run ingest or fix the source"
            )
    set_aside = quarantine if isinstance(quarantine, int) else len(quarantine)
    rows_quarantined = quarantine if isinstance(quarantine, int) else wrong_rows(quarantine)
    total = len(frame) + set_aside
    share = rows_quarantined / total if total else 0.0
    if share > contract.max_quarantine_fraction:
        raise ContractError(
            f"{origin}: {share:.1%} of rows were quarantined, above the contract's {contract.max_quarantine_fraction:.1%}: "
            "inspect data/lake/quarantine"
        )
    facts = {
        "rows": float(len(frame)),
        "quarantined": float(rows_quarantined),
        "quarantine_share": share,
    }
    if contract.task == "classification":
        counts = frame[contract.target].value_counts()
        if len(counts) < 2:
            raise ContractError(
                f"{origin}: target {contract.target!r} has a single class: a classifier needs two"
            )
        if contract.positive_label is not None:
            facts["positive_share"] = float(
                (frame[contract.target] == contract.positive_label).mean()
            )
    return facts


def _id_conflicts(frame: pd.DataFrame, contract: Contract) -> int:
    """Return how many rows of `frame` share their id with an earlier row that differs from them."""
    if not contract.id_column or contract.id_column not in frame.columns:
        return 0
    ids = frame[contract.id_column]
    if not ids.duplicated().any():
        return 0
    return int(frame.drop_duplicates()[contract.id_column].dropna().duplicated().sum())


def repeats(frame: pd.DataFrame, contract: Contract, quarantine: pd.DataFrame) -> dict[str, int]:
    """Return how many rows repeat an earlier row exactly and how many repeat a different row's id.

    Counted in the normalized `frame` or set aside in `quarantine`, as the contract's settings
    decided.
    """
    columns = [c.name for c in contract.columns if c.name in frame.columns]
    reasons = (
        quarantine["reason"].astype(str)
        if len(quarantine)
        else pd.Series(dtype="str", index=pd.RangeIndex(0))
    )
    rows_set_aside = int(reasons.str.startswith("duplicate row").sum())
    ids_set_aside = int(reasons.str.contains(": duplicate id ", regex=False).sum())
    return {
        "repeated_rows_kept": int(frame.duplicated(subset=columns).sum()) if len(frame) else 0,
        # every row with an exact copy: the split keeps such a group on one side
        "rows_grouped": int(frame.duplicated(subset=columns, keep=False).sum())
        if len(frame)
        else 0,
        "repeated_rows_set_aside": rows_set_aside,
        "repeated_rows_dropped": int(reasons.str.endswith(DROPPED).sum()),
        "repeated_ids_kept": _id_conflicts(frame, contract),
        "repeated_ids_set_aside": ids_set_aside,
    }


def quarantine_reasons(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Return quarantine counts by reason kind (column or problem), most frequent first, with one example each."""

    if quarantine.empty:
        return pd.DataFrame(columns=["kind", "count", "example"])
    reasons = quarantine["reason"].astype(str).str.split("; ").explode()
    table = pd.DataFrame({"kind": reasons.map(reason_kind), "reason": reasons})
    grouped = table.groupby("kind", sort=False).agg(
        count=("reason", "size"), example=("reason", "first")
    )
    return grouped.sort_values("count", ascending=False, kind="mergesort").reset_index()


def _plots(frame: pd.DataFrame, contract: Contract, max_columns: int) -> list[tuple[str, Any]]:
    matplotlib.use("Agg")

    figures = []
    for rule in contract.columns[:max_columns]:
        if (
            rule.name == contract.id_column
            or rule.name not in frame.columns
            or rule.type == "string"
        ):
            continue
        values = frame[rule.name].dropna()
        fig, ax = plt.subplots(figsize=(3.2, 2.2))
        if rule.type in ("int", "float") and len(values):
            ax.hist(values.astype("float64"), bins=30, color="#4878a8")
        elif rule.type == "date" and len(values):
            ax.hist(values.map(pd.Timestamp.toordinal), bins=30, color="#4878a8")
            ticks = ax.get_xticks()
            ax.set_xticks(
                ticks, [dt.date.fromordinal(max(int(t), 1)).year for t in ticks], fontsize=7
            )
        else:
            counts = values.astype(str).value_counts().head(12)
            ax.barh(counts.index[::-1], counts.to_numpy()[::-1], color="#6a9a58")
        ax.set_title(f"{rule.name} ({rule.type})", fontsize=9)
        ax.tick_params(labelsize=7)
        fig.tight_layout()
        figures.append((rule.name, fig))
    return figures


def data_quality_report(
    frame: pd.DataFrame,
    contract: Contract,
    quarantine: pd.DataFrame,
    path: str | Path,
    sha256: str = "",
    warnings: list[str] | None = None,
    max_columns: int = 40,
    root: str | Path | None = None,
) -> Path:
    """Write the data quality HTML report to `path`; return the path.

    The report shows each column's type, missing share, range or categories and distribution plot,
    and the quarantine's counts by reason. The contract's path is shown relative to the project
    `root` (default: the folder above the report's folder, the project of
    reports/data_quality.html).
    """

    columns = profile(frame, contract)
    reasons = quarantine_reasons(quarantine)
    reasons_plot = None
    if len(reasons):
        fig, ax = plt.subplots(figsize=(6, 0.4 * min(len(reasons), 15) + 1))
        top = reasons.head(15)
        ax.barh(top["kind"][::-1], top["count"][::-1], color="#a86048")
        ax.set_xlabel("quarantined rows")
        fig.tight_layout()
        reasons_plot = figure_data_uri(fig)
        plt.close(fig)
    plots = []
    for name, fig in _plots(frame, contract, max_columns):
        plots.append((name, figure_data_uri(fig)))
        plt.close(fig)
    total = len(frame) + len(quarantine)
    repeated = repeats(frame, contract, quarantine)
    return render(
        "data_quality.html",
        path,
        dataset=contract.dataset,
        contract_origin=shown_path(
            contract.origin, Path(path).resolve().parent.parent if root is None else root
        ),
        sha256=sha256 or "-",
        built_at=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M GMT"),
        rows_in=total,
        rows=len(frame),
        quarantined=len(quarantine),
        quarantine_share=len(quarantine) / total if total else 0.0,
        wrong=wrong_rows(quarantine),
        wrong_share=wrong_rows(quarantine) / total if total else 0.0,
        repeats=repeated,
        duplicates=contract.duplicates,
        duplicate_ids=contract.duplicate_ids,
        id_column=contract.id_column,
        left_out=contract.left_out(),
        expectations=[
            {
                "column": c.name,
                "range": f"{c.expect_min:g} .. {c.expect_max:g}"
                if c.expect_min is not None and c.expect_max is not None
                else "",
                "categories": ", ".join(c.expect_categories) if c.expect_categories else "",
            }
            for c in contract.columns
            if c.expect_min is not None or c.expect_max is not None or c.expect_categories
        ],
        max_quarantine=contract.max_quarantine_fraction,
        reasons=reasons.to_dict("records"),
        reasons_plot=reasons_plot,
        columns=columns.to_dict("records"),
        plots=plots,
        warnings=warnings or [],
    )
