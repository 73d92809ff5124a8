"""The release gate: a pure decision whether a challenger may replace the champion."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from lab2prod.modeling.metric_names import HIGHER_IS_BETTER, kind_metrics, metrics_kind


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict with the numbers behind it."""

    promote: bool
    metric: str
    challenger: float
    champion: float | None
    reasons: tuple[str, ...] = field(default_factory=tuple)
    challenger_metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] | None = None
    floors: dict[str, float] = field(default_factory=dict)
    tolerance: float = 0.0
    baseline: float | None = None  # the trivial model's `metric` on the same test rows

    def as_tags(self) -> dict[str, str]:
        """Return the decision and every number behind it as flat MLflow tags."""
        tags = {
            "gate.decision": "promote" if self.promote else "reject",
            "gate.metric": self.metric,
            "gate.challenger": f"{self.challenger:.6f}",
            "gate.champion": "none" if self.champion is None else f"{self.champion:.6f}",
            "gate.tolerance": str(self.tolerance),
            "gate.reasons": "; ".join(self.reasons),
        }
        if self.baseline is not None:
            tags["gate.baseline"] = f"{self.baseline:.6f}"
        tags.update({f"gate.floor.{k}": str(v) for k, v in self.floors.items()})
        tags.update(
            {f"gate.challenger.{k}": f"{v:.6f}" for k, v in self.challenger_metrics.items()}
        )
        tags.update(
            {f"gate.champion.{k}": f"{v:.6f}" for k, v in (self.champion_metrics or {}).items()}
        )
        return tags

    def blocked(self, reason: str) -> GateDecision:
        """Return this decision turned into a rejection for `reason` (e.g. a failed infrastructure check)."""
        return replace(self, promote=False, reasons=self.reasons + (reason,))


def _applies(name: str, metrics: dict[str, float]) -> bool:
    """Return False for a floor on a metric that models of this kind never report (binary, multiclass, regression)."""
    if name not in HIGHER_IS_BETTER:
        return True  # an unknown name is a typo to report as missing, not a floor to skip
    return name in kind_metrics(metrics_kind(metrics))


def decide(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    metric: str,
    floors: dict[str, float] | None = None,
    tolerance: float = 0.0,
    baseline: dict[str, float] | None = None,
) -> GateDecision:
    """Return whether `challenger` passes: every floor met and `metric` better than the champion's by more than `-tolerance`.

    Floors are minimums for higher-is-better metrics and maximums otherwise. With
    no champion, passing the floors is enough. With tolerance 0 the challenger
    must be strictly better, so rebuilding the same model moves no alias; a
    positive tolerance admits a challenger that is at most that much worse. With `baseline`, the
    trivial model's metrics on the same test rows, the challenger must beat it on `metric`
    (strictly): never a champion worse than predicting the mean or the class shares.
    """
    if metric not in HIGHER_IS_BETTER:
        raise KeyError(f"unknown gate metric {metric!r}; known: {', '.join(HIGHER_IS_BETTER)}")
    if metric not in challenger:
        raise KeyError(
            f"challenger has no {metric!r} metric; it has {', '.join(sorted(challenger))}"
        )
    reasons = []
    ok = True
    for name, bound in (floors or {}).items():
        value = challenger.get(name)
        if value is None and not _applies(name, challenger):
            # one env.yaml serves every task: a floor on another kind's metric does not apply
            reasons.append(f"floor on {name} does not apply to this task")
            continue
        if value is None:
            ok = False
            reasons.append(f"{name} missing")
            continue
        good = value >= bound if HIGHER_IS_BETTER.get(name, True) else value <= bound
        if not good:
            ok = False
            reasons.append(f"{name}={value:.4f} misses floor {bound}")
    new = float(challenger[metric])
    trivial = None
    if baseline is not None and metric in baseline:
        trivial = float(baseline[metric])
        what = (
            "predicting the mean"
            if metrics_kind(challenger) == "regression"
            else "predicting the class shares"
        )
        sign = 1 if HIGHER_IS_BETTER[metric] else -1
        if sign * (new - trivial) > 0:
            reasons.append(f"{metric} {new:.4f} beats the trivial model ({what}) {trivial:.4f}")
        else:
            ok = False
            reasons.append(
                f"{metric} {new:.4f} does not beat the trivial model ({what}) {trivial:.4f} "
                "on the same test rows: never champion"
            )
    old = None if champion is None or metric not in champion else float(champion[metric])
    if old is None:
        reasons.append("no champion yet")
    else:
        sign = 1 if HIGHER_IS_BETTER[metric] else -1
        delta = sign * (new - old)
        if delta > -tolerance:
            reasons.append(
                f"{metric} {new:.4f} vs champion {old:.4f}: within the gate (tolerance {tolerance})"
            )
        else:
            ok = False
            reasons.append(
                f"{metric} {new:.4f} vs champion {old:.4f}: not better (tolerance {tolerance})"
            )
    return GateDecision(
        promote=ok,
        metric=metric,
        challenger=new,
        champion=old,
        reasons=tuple(reasons),
        challenger_metrics=dict(challenger),
        champion_metrics=None if champion is None else dict(champion),
        floors=dict(floors or {}),
        tolerance=tolerance,
        baseline=trivial,
    )
