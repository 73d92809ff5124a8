"""The data contract: a readable YAML description of a dataset's columns and rules, as frozen types.

A contract names every column with its type (``int``, ``float``, ``category``,
``date``, ``string``), nullability, range or categories; the id and target; and
per check what a violation does: ``stop`` the build, ``quarantine`` the row, or
``warn``. Columns are matched by name (case and spaces forgiven), never by
position. Pure: no files, no MLflow.

Two kinds of bounds. ``min``, ``max`` and ``categories`` are hard rules: a row
breaking one is quarantined (or stops the build, or warns, by ``on_fail``).
``expect: {min, max, categories}`` is what the training data held: a value
outside it is counted (``Conditioned.outside_expectations``) and left to the
monitor's drift checks, never quarantined. An inferred contract writes only
expectations for its features; hard rules are the ones a person wrote.

Repeats are contract settings too. ``duplicates`` says what happens to a row
equal in every column to an earlier one: ``keep`` (counted), ``warn`` (counted,
one warning line), ``drop`` (set aside in the quarantine zone, not counted
against ``max_quarantine_fraction``) or ``quarantine`` (set aside, counted: the
author says repeats are errors). ``duplicate_ids`` says what happens to a row
whose id an earlier, *different* row already has (two versions of one record):
``quarantine`` (the later one, counted), ``stop``, ``warn`` or ``keep``. A row
repeated exactly, id included, is a repeated row, not an id conflict.

The rest of the contract's work lives beside it: `data.inference` infers a contract from a
table, `data.rules` finds the cells that break its hard rules (pandera's schema and the same
checks by NumPy masks), `data.conditioning` types and checks a frame by it (`condition`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from lab2prod.data.formats import NumberFormat
from lab2prod.errors import ContractError

SOURCE = "_source"
TYPES = ("int", "float", "category", "date", "string")
SEVERITIES = ("stop", "quarantine", "warn")
DUPLICATE_ROWS = ("keep", "warn", "drop", "quarantine")
DUPLICATE_IDS = ("keep", "warn", "quarantine", "stop")
_HASH = "_hash"  # where a Contract keeps its hash once worked out


@dataclass(frozen=True)
class ColumnRule:
    """What one column must hold."""

    name: str
    type: str
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    on_fail: str = "quarantine"
    # what the training data held: drift when a batch leaves it, never a quarantine
    expect_min: float | None = None
    expect_max: float | None = None
    expect_categories: tuple[str, ...] | None = None
    # how the cells write the value: a number's thousands mark and sign, a date's format
    thousands: str | None = None
    symbol: str | None = None
    format: str | None = None

    @property
    def number_format(self) -> NumberFormat | None:
        """Return the thousands mark and sign a number column's cells carry, None for plain numbers."""
        if self.thousands or self.symbol:
            return NumberFormat(thousands=self.thousands, symbol=self.symbol)
        return None


@dataclass(frozen=True)
class Contract:
    """A dataset's contract: columns, id, target and the limits of quarantine."""

    dataset: str
    task: str
    target: str
    columns: tuple[ColumnRule, ...]
    id_column: str | None = None
    labels: tuple[str, ...] | None = None
    positive_label: str | None = None
    max_quarantine_fraction: float = 0.05
    extra_columns: str = "warn"
    origin: str = "contract"
    duplicates: str = "quarantine"
    duplicate_ids: str = "quarantine"

    def __hash__(self) -> int:
        """Return the hash of the contract's fields (a dataclass's hash), worked out once per contract.

        The caches per contract (`rules.contract_plan`, the model's columns, a chunk's contract) look
        the contract up on every chunk and request: hashing every column's rule each time costs
        more than the lookup. A contract holding lists raises TypeError, as a dataclass's hash does.
        """
        cached = self.__dict__.get(_HASH)
        if cached is None:
            cached = hash(tuple(getattr(self, f.name) for f in fields(self)))
            object.__setattr__(self, _HASH, cached)  # not a field: equality and copies ignore it
        return cached

    def __getstate__(self) -> dict[str, Any]:
        """Return the fields to pickle, without the hash: another process hashes text differently."""
        return {k: v for k, v in self.__dict__.items() if k != _HASH}

    @property
    def features(self) -> list[str]:
        """Return the names of the model's input columns (all but id and target)."""
        return [c.name for c in self.columns if c.name not in (self.target, self.id_column)]

    def rule(self, name: str) -> ColumnRule:
        """Return the rule of column `name`."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def features_of(self, kind: str) -> list[str]:
        """Return the feature names whose type is `kind`."""
        return [c.name for c in self.columns if c.type == kind and c.name in self.features]

    def left_out(self) -> dict[str, str]:
        """Return the columns the model does not use as features (target aside), each with why."""
        out = {}
        if self.id_column:
            out[self.id_column] = "the id column: it ties each prediction to its row"
        for name in self.features_of("string"):
            out[name] = (
                "free text (not numbers, dates, or at most 30 categories): "
                "declare it category or float in the contract to use it"
            )
        return out

    def left_out_lines(self) -> list[str]:
        """Return one line per column `left_out` names, for a build's output."""
        # the id column is no surprise: the report and the model card name it, the output does not
        return [
            f"column {n!r} is not a feature: {why}"
            for n, why in self.left_out().items()
            if n != self.id_column
        ]


def contract_from_dict(data: dict[str, Any], origin: str = "contract") -> Contract:
    """Return the Contract described by a mapping (as read from its YAML file), checking every field."""
    try:
        target = data["target"]
        target_name = target["name"] if isinstance(target, dict) else target
        columns = []
        for name, spec in data["columns"].items():
            spec = spec or {}
            kind = spec.get("type", "string")
            if kind not in TYPES:
                raise ContractError(
                    f"{origin}: column {name!r} has type {kind!r}; use one of {', '.join(TYPES)}"
                )
            on_fail = spec.get("on_fail", "quarantine")
            if on_fail not in SEVERITIES:
                raise ContractError(
                    f"{origin}: column {name!r} has on_fail {on_fail!r}; use one of {', '.join(SEVERITIES)}"
                )
            cats = spec.get("categories")
            expect = spec.get("expect") or {}
            written = _written_as(origin, str(name), kind, spec)
            seen = expect.get("categories")
            columns.append(
                ColumnRule(
                    name=str(name),
                    type=kind,
                    nullable=bool(spec.get("nullable", True)),
                    min=spec.get("min"),
                    max=spec.get("max"),
                    categories=tuple(str(c) for c in cats) if cats is not None else None,
                    on_fail=on_fail,
                    expect_min=expect.get("min"),
                    expect_max=expect.get("max"),
                    expect_categories=tuple(str(c) for c in seen) if seen is not None else None,
                    **written,
                )
            )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ContractError(
            f"{origin}: missing or malformed field {exc}: see the contract reference (docs/reference/contract.md) for the layout"
        ) from None
    labels = target.get("labels") if isinstance(target, dict) else None
    id_rule = next((c for c in columns if c.name == data.get("id_column")), None)
    duplicates = str(data.get("duplicates", "quarantine"))
    # an id column whose on_fail is stop stops on a repeated id unless `duplicate_ids` says otherwise
    default_ids = "stop" if id_rule is not None and id_rule.on_fail == "stop" else "quarantine"
    duplicate_ids = str(data.get("duplicate_ids", default_ids))
    for key, value, allowed in (
        ("duplicates", duplicates, DUPLICATE_ROWS),
        ("duplicate_ids", duplicate_ids, DUPLICATE_IDS),
    ):
        if value not in allowed:
            raise ContractError(f"{origin}: {key} is {value!r}; use one of {', '.join(allowed)}")
    contract = Contract(
        dataset=str(data.get("dataset", "dataset")),
        task=str(data.get("task", "classification")),
        target=str(target_name),
        columns=tuple(columns),
        id_column=data.get("id_column"),
        labels=tuple(str(x) for x in labels) if labels else None,
        positive_label=str(target["positive"])
        if isinstance(target, dict) and target.get("positive") is not None
        else None,
        max_quarantine_fraction=float(data.get("max_quarantine_fraction", 0.05)),
        extra_columns=str(data.get("extra_columns", "warn")),
        origin=origin,
        duplicates=duplicates,
        duplicate_ids=duplicate_ids,
    )
    if contract.target not in [c.name for c in columns]:
        raise ContractError(f"{origin}: target {contract.target!r} is not among the columns")
    return contract


def _written_as(origin: str, name: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Return a column's `thousands`, `symbol` and `format` keys, checked against its type."""
    keys = {k: spec[k] for k in ("thousands", "symbol", "format") if spec.get(k) is not None}
    allowed = {
        "int": ("thousands", "symbol"),
        "float": ("thousands", "symbol"),
        "date": ("format",),
    }
    wrong = [k for k in keys if k not in allowed.get(kind, ())]
    if wrong:
        raise ContractError(
            f"{origin}: column {name!r} of type {kind} cannot have {wrong[0]!r}: "
            "thousands and symbol are for int and float columns, format for date columns"
        )
    mark = keys.get("thousands")
    if mark is not None and (len(str(mark)) != 1 or str(mark).isdigit()):
        raise ContractError(
            f"{origin}: column {name!r} has thousands {mark!r}: use one character such as ',' or '.'"
        )
    return {k: str(v) for k, v in keys.items()}


def contract_to_dict(contract: Contract) -> dict[str, Any]:
    """Return the mapping that `contract_from_dict` reads, for writing a reviewed YAML file."""
    cols: dict[str, Any] = {}
    for c in contract.columns:
        spec: dict[str, Any] = {"type": c.type, "nullable": c.nullable}
        if c.min is not None:
            spec["min"] = c.min
        if c.max is not None:
            spec["max"] = c.max
        if c.categories is not None:
            spec["categories"] = list(c.categories)
        for key in ("thousands", "symbol", "format"):
            if getattr(c, key) is not None:
                spec[key] = getattr(c, key)
        spec["on_fail"] = c.on_fail
        expect = {
            k: v
            for k, v in (
                ("min", c.expect_min),
                ("max", c.expect_max),
                ("categories", list(c.expect_categories) if c.expect_categories else None),
            )
            if v is not None
        }
        if expect:
            spec["expect"] = expect
        cols[c.name] = spec
    target: dict[str, Any] = {"name": contract.target}
    if contract.labels:
        target["labels"] = list(contract.labels)
    if contract.positive_label:
        target["positive"] = contract.positive_label
    return {
        "dataset": contract.dataset,
        "task": contract.task,
        "id_column": contract.id_column,
        "target": target,
        "max_quarantine_fraction": contract.max_quarantine_fraction,
        "extra_columns": contract.extra_columns,
        "duplicates": contract.duplicates,
        "duplicate_ids": contract.duplicate_ids,
        "columns": cols,
    }


def column_key(name: str) -> str:
    """Return a column name as the contract matches it: case and runs of spaces ignored."""
    return " ".join(str(name).split()).lower()
