"""The ML Test Score (Breck et al., 2017) of a project, from evidence that is checked when it is scored.

The rubric has 28 tests in four sections (data, model, infrastructure,
monitoring). Each test here names its evidence: a test function in `tests/`,
a product a build writes, a committed file, or a tag on the champion model
version. Every piece is checked against the project as it is when the page is
written (the test file defines the function, the product exists, the tag is on
the champion with the expected value); a piece that is not there scores
nothing and is shown as missing. Nothing is claimed that a file, a tag or a
test does not show.

Scoring follows the paper: half a point for a test done by hand with
documented results, a full point for one run automatically and repeatedly;
each section sums its tests; the final score is the minimum over the four
sections. Here a pytest test, or a check the pipeline records as a tag on the
champion, counts as automated and repeated only when the project has a CI
workflow that runs the suite on every change (`.github/workflows/ci.yml`
running `.ci/run`); without it a test is something a person runs (half a
point). A product or a committed document is a documented result (half a
point). Some evidence covers only part of a test: its weight says so (0.5).
"""

from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab2prod.data.lake import atomic_write_text
from lab2prod.errors import ConfigError
from lab2prod.model_edge import CHAMPION, version_by_alias
from lab2prod.reporting.render import render

SECTIONS = {
    "data": "Tests for features and data",
    "model": "Tests for model development",
    "infra": "Tests for ML infrastructure",
    "monitor": "Monitoring tests for ML",
}
AUTOMATED, MANUAL = 1.0, 0.5
CI_WORKFLOW = ".github/workflows/ci.yml"

# The paper's reading of the final score (Breck et al. 2017, table V).
READING = (
    (0.0, "More of a research project than a productionized system."),
    (
        1.0,
        "Not totally untested, but it is worth considering the possibility of serious holes in reliability.",
    ),
    (
        2.0,
        "There's been first pass at basic productionization, but additional investment may be needed.",
    ),
    (
        3.0,
        "Reasonably tested, but it's possible that more of those tests and procedures may be automated.",
    ),
    (
        5.0,
        "Strong levels of automated testing and monitoring, appropriate for mission-critical systems.",
    ),
    (float("inf"), "Exceptional levels of automated testing and monitoring."),
)


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence: `kind` is test, tag, product or file; `ref` what to look for."""

    kind: str
    ref: str
    value: str | None = None  # a tag: the value it must have (None: any)
    weight: float | None = None  # None: by kind (test and tag automated, product and file manual)
    note: str = ""


@dataclass(frozen=True)
class RubricTest:
    """One of the 28 tests: its section and number, the paper's wording, the evidence, or why not covered."""

    section: str
    number: int
    title: str
    evidence: tuple[Evidence, ...] = ()
    how: str = ""  # how lab2prod meets it
    gap: str = ""  # what is missing for a full point (or why not covered)

    @property
    def id(self) -> str:
        return f"{self.section} {self.number}"


def _t(ref: str, weight: float | None = None, note: str = "") -> Evidence:
    return Evidence("test", ref, weight=weight, note=note)


def _p(ref: str, note: str = "") -> Evidence:
    return Evidence("product", ref, note=note)


def _f(ref: str, note: str = "") -> Evidence:
    return Evidence("file", ref, note=note)


def _tag(key: str, value: str | None = None, weight: float | None = None) -> Evidence:
    return Evidence("tag", key, value=value, weight=weight)


RUBRIC: tuple[RubricTest, ...] = (
    RubricTest(
        "data",
        1,
        "Feature expectations are captured in a schema",
        (
            _f("data/contracts/credit.yaml", "types, ranges, categories, labels per column"),
            _p("{lake}/contracts/{dataset}.yaml", "the contract the build trained with"),
            _t("tests/data/test_contract.py::test_condition_types_rows_and_keeps_inputs_untouched"),
            _t("tests/data/test_hostile.py::test_out_of_range_numbers"),
        ),
        how="the data contract is checked by pandera at ingest and at scoring; violations stop or quarantine",
    ),
    RubricTest(
        "data",
        2,
        "All features are beneficial",
        (_p("{reports}/index.html", "permutation importance of every feature on the test split"),),
        how="permutation importance is computed and shown on each build",
        gap="nothing fails when a feature brings no benefit: a person reads the importance table",
    ),
    RubricTest(
        "data",
        3,
        "No feature's cost is too much",
        gap="not covered: the cost of a feature (latency, memory, upstream dependencies) is not measured",
    ),
    RubricTest(
        "data",
        4,
        "Features adhere to meta-level requirements",
        (
            _t("tests/data/test_hostile.py::test_unknown_extra_columns_are_dropped_with_a_warning"),
            _t(
                "tests/data/test_hostile.py::test_unknown_extra_columns_stop_when_the_contract_says_so"
            ),
        ),
        how="only the contract's columns reach the model: a column nobody declared is dropped or stops the build",
    ),
    RubricTest(
        "data",
        5,
        "The data pipeline has appropriate privacy controls",
        (
            _t(
                "tests/data/test_sources.py::test_query_sql_on_sqlite_and_a_failing_query_hides_the_password",
                weight=MANUAL,
                note="credentials never printed",
            ),
            _t("tests/test_settings.py::test_secret_missing_names_the_variable", weight=MANUAL),
            _f(".pre-commit-config.yaml", "detect-private-key refuses a committed key"),
        ),
        how="secrets only from environment variables, masked in errors; no key can be committed",
        gap="nothing controls who reads the personal data in the lake, nor checks for personal data",
    ),
    RubricTest(
        "data",
        6,
        "New features can be added quickly",
        (
            _t(
                "tests/data/test_pipeline_data.py::test_byod_dated_regression_builds_from_the_command_line",
                weight=MANUAL,
            ),
        ),
        how="a new table builds from the command line with an inferred contract; a column is a contract edit",
        gap="the time it takes to add a feature is not measured",
    ),
    RubricTest(
        "data",
        7,
        "All input feature code is tested",
        (
            _t("tests/modeling/test_features.py::test_model_frame_types_numbers_and_categories"),
            _t("tests/modeling/test_features.py::test_model_frame_turns_dates_into_numbers"),
            _t("tests/modeling/test_features.py::test_model_frame_missing_feature_is_named"),
        ),
        how="one feature function (modeling/features.py) serves training and scoring, unit-tested",
    ),
    RubricTest(
        "model",
        1,
        "Every model specification undergoes a code review and is checked in to a repository",
        (
            _tag("git_commit", weight=MANUAL),
            _f(CI_WORKFLOW, "every pull request runs the suite"),
        ),
        how="model factories live in src/lab2prod/modeling/estimators.py; the champion records its commit",
        gap="review happens by pull request, but the repository enforces none (no required review)",
    ),
    RubricTest(
        "model",
        2,
        "Offline proxy metrics correlate with actual online impact metrics",
        gap="not covered: a batch system without a business outcome feed has no online impact metric",
    ),
    RubricTest(
        "model",
        3,
        "All hyperparameters have been tuned",
        (
            _p("{products}/select.json", "every grid cell compared on the validation split"),
            _t(
                "tests/modeling/test_selection.py::test_best_follows_the_direction_of_the_metric",
                weight=MANUAL,
            ),
        ),
        how="a declared grid (env.yaml) trains one nested MLflow run per cell; the best on validation is kept",
        gap="the grid is small and hand-written: not every hyperparameter is searched",
    ),
    RubricTest(
        "model",
        4,
        "The impact of model staleness is known",
        (_t("tests/monitoring/test_simulate.py::test_batches_follow_the_scenario", weight=MANUAL),),
        how="`lab2prod simulate` compares a frozen model with the retraining loop over drifting batches",
        gap="the simulation is run by hand; no test bounds how much a stale model loses",
    ),
    RubricTest(
        "model",
        5,
        "A simpler model is not better",
        (
            _t("tests/modeling/test_selection.py::test_best_follows_the_direction_of_the_metric"),
            _p("{products}/select.json", "the linear baseline is a grid cell of every build"),
        ),
        how="the grid always holds the linear family; a more complex cell wins only on validation",
    ),
    RubricTest(
        "model",
        6,
        "Model quality is sufficient on all important data slices",
        (
            _t(
                "tests/release/test_evaluate.py::test_slices_keep_small_groups_visible_without_metrics",
                weight=MANUAL,
            ),
            _p("{reports}/model_card.html", "metrics per slice"),
        ),
        how="metrics per slice of the configured columns, in the report and the model card",
        gap="the gate has no floor per slice: a person reads the slices",
    ),
    RubricTest(
        "model",
        7,
        "The model has been tested for considerations of inclusion",
        gap="not covered: no protected attribute is declared and no fairness metric is computed",
    ),
    RubricTest(
        "infra",
        1,
        "Training is reproducible",
        (
            _t("tests/release/test_repro.py::test_unseeded_split_makes_repro_check_fail"),
            _t("tests/modeling/test_estimators.py::test_same_seed_same_model"),
            _tag("data.sha256"),
        ),
        how="every random choice derives from the seed; `lab2prod repro-check` builds twice and compares hashes",
    ),
    RubricTest(
        "infra",
        2,
        "Model specification code is unit tested",
        (
            _t(
                "tests/modeling/test_estimators.py::test_every_family_fits_and_declares_exactly_its_skops_types"
            ),
            _t(
                "tests/modeling/test_estimators.py::test_unknown_family_and_bad_params_are_one_line_errors"
            ),
        ),
    ),
    RubricTest(
        "infra",
        3,
        "The full ML pipeline is integration tested",
        (
            _t("tests/integration/test_pipeline.py::test_products_and_reports_exist"),
            _t("tests/integration/test_pipeline.py::test_mlflow_run_and_champion"),
        ),
        how="the suite builds the whole pipeline on the sample env once per session",
    ),
    RubricTest(
        "infra",
        4,
        "Model quality is validated before attempting to serve it",
        (
            _tag("gate.decision", "promote"),
            _t(
                "tests/release/test_promotion.py::test_worse_challenger_trained_on_shuffled_labels_is_not_promoted"
            ),
        ),
        how="the gate compares challenger and champion on the same test split, with absolute floors",
    ),
    RubricTest(
        "infra",
        5,
        "The model allows debugging by observing the step-by-step computation of training or inference on a single example",
        gap="not covered: nothing steps through one example's computation; the model is a scikit-learn pipeline a person can inspect",
    ),
    RubricTest(
        "infra",
        6,
        "Models are tested via a canary process before they enter production serving environments",
        (
            _tag("infra.ok", "true"),
            _t(
                "tests/release/test_promotion.py::test_a_model_failing_the_infra_check_is_never_promoted"
            ),
        ),
        how="before `champion` moves, the version is loaded from the registry in a fresh process and scores its input example",
    ),
    RubricTest(
        "infra",
        7,
        "Models can be quickly and safely rolled back to a previous serving version",
        (
            _t(
                "tests/release/test_promotion.py::test_better_challenger_is_promoted_and_rollback_restores_the_previous_champion"
            ),
            _t(
                "tests/release/test_cli_release.py::test_promote_a_better_version_then_rollback_through_the_command_line"
            ),
        ),
        how="`lab2prod rollback` gives `champion` back to the `previous` version, after the same fresh-process check",
    ),
    RubricTest(
        "monitor",
        1,
        "Dependency changes result in notification",
        (
            _f("constraints.txt", "every dependency pinned exactly"),
            _t(
                "tests/scoring/test_model_edge.py::test_a_registered_model_loads_with_its_lineage",
                weight=MANUAL,
            ),
            _t("tests/test_tracking.py::test_pip_requirements_are_exact_pins", weight=MANUAL),
        ),
        how="an upgraded pin that changes what lab2prod relies on fails the suite",
        gap="nobody is told when an upstream package or data source changes; only an upgrade attempt shows it",
    ),
    RubricTest(
        "monitor",
        2,
        "Data invariants hold in training and serving inputs",
        (
            _t(
                "tests/scoring/test_score.py::test_hostile_rows_are_quarantined_with_line_and_reason"
            ),
            _t("tests/data/test_validate.py::test_validate_file_summary_and_quarantine_output"),
        ),
        how="the same contract checks the training sources and every scored batch; bad rows are quarantined",
    ),
    RubricTest(
        "monitor",
        3,
        "Training and serving features compute the same values",
        (
            _t(
                "tests/scoring/test_export.py::test_command_papermill_job_and_exported_script_give_identical_predictions"
            ),
            _t("tests/scoring/test_serve.py::test_rest_invocations_match_lab2prod_score"),
        ),
        how="one feature function for training and scoring; every way of scoring gives identical predictions",
    ),
    RubricTest(
        "monitor",
        4,
        "Models are not too stale",
        (
            _t(
                "tests/monitoring/test_retrain.py::test_retrain_needed_follows_the_status",
                weight=MANUAL,
            ),
        ),
        how="retraining is triggered when the monitor sees drift or degraded performance",
        gap="no alert on the champion's age: staleness is caught only through its effects",
    ),
    RubricTest(
        "monitor",
        5,
        "Models are numerically stable",
        gap="not covered: predictions are not checked for NaN or infinity while scoring (only the infra check's example is)",
    ),
    RubricTest(
        "monitor",
        6,
        "Computing performance has not regressed",
        (
            _f("benchmarks/score.py", "scoring speed and memory, figures in benchmarks/RESULTS.md"),
            _tag("infra.load_seconds", weight=MANUAL),
        ),
        how="benchmarks print speed and memory; the infra check records load time and latency on the version",
        gap="nothing compares these figures between versions or alerts on a slowdown",
    ),
    RubricTest(
        "monitor",
        7,
        "Prediction quality has not regressed on served data",
        (
            _t("tests/monitoring/test_monitor.py::test_monitor_frame_statuses"),
            _t("tests/monitoring/test_performance.py::test_join_and_realized_performance"),
        ),
        how="`lab2prod monitor --labels` compares the realized metric with the holdout and alerts on a drop",
    ),
)


@dataclass
class Checked:
    """A piece of evidence after checking it: found or not, what it is worth, where it is."""

    evidence: Evidence
    found: bool
    points: float
    detail: str
    link: str | None = None


@dataclass
class Scored:
    """One rubric test with its checked evidence and its points."""

    test: RubricTest
    checked: list[Checked] = field(default_factory=list)

    @property
    def points(self) -> float:
        return max((c.points for c in self.checked if c.found), default=0.0)

    @property
    def status(self) -> str:
        if self.points >= AUTOMATED:
            return "automated"
        if self.points >= MANUAL:
            return "manual"
        if any(not c.found for c in self.checked):
            return "evidence missing"
        return "not covered"


def defined_tests(path: Path) -> set[str]:
    """Return the names of the top-level test functions a test file defines (empty when it cannot be parsed)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return set()
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


def runs_repeatedly(root: Path) -> bool:
    """Return True when the project's CI workflow runs the test suite (.ci/run) on every change."""
    workflow = Path(root) / CI_WORKFLOW
    return workflow.is_file() and ".ci/run" in workflow.read_text(encoding="utf-8")


def check(
    evidence: Evidence,
    root: Path,
    places: dict[str, str],
    champion_tags: dict[str, str] | None,
    repeated: bool,
) -> Checked:
    """Return `evidence` checked against the project at `root` and the champion's tags (None: no champion)."""
    automated = AUTOMATED if repeated else MANUAL
    if evidence.kind == "test":
        file, _, name = evidence.ref.partition("::")
        path = root / file
        found = name in defined_tests(path)
        weight = min(evidence.weight or automated, automated)
        detail = f"{file} defines {name}" if found else f"{file} has no test {name}"
        return Checked(evidence, found, weight, detail, link=file)
    if evidence.kind in ("product", "file"):
        rel = evidence.ref.format(**places)
        found = (root / rel).is_file()
        detail = f"{rel} exists" if found else f"{rel} not found"
        return Checked(evidence, found, evidence.weight or MANUAL, detail, link=rel)
    if evidence.kind == "tag":
        weight = min(evidence.weight or automated, automated)
        if champion_tags is None:
            return Checked(evidence, False, weight, f"tag {evidence.ref}: no champion version")
        value = champion_tags.get(evidence.ref)
        found = value is not None and (evidence.value is None or value == evidence.value)
        want = f" = {evidence.value}" if evidence.value is not None else ""
        detail = (
            f"tag {evidence.ref} = {value} on the champion"
            if found
            else f"tag {evidence.ref}{want} not on the champion"
            + (f" (it is {value})" if value is not None else "")
        )
        return Checked(evidence, found, weight, detail)
    raise ConfigError(f"unknown evidence kind {evidence.kind!r} (test, tag, product or file)")


def reading(score: float) -> str:
    """Return the paper's reading of a final score."""
    for upper, text in READING:
        if score <= upper:
            return text
    return READING[-1][1]  # pragma: no cover - inf is the last bound


def assess(
    root: Path,
    places: dict[str, str],
    champion_tags: dict[str, str] | None,
    rubric: tuple[RubricTest, ...] = RUBRIC,
) -> dict[str, Any]:
    """Return the rubric scored from the evidence found in `root`: per test, per section, and the final score."""
    root = Path(root)
    repeated = runs_repeatedly(root)
    scored = [
        Scored(t, [check(e, root, places, champion_tags, repeated) for e in t.evidence])
        for t in rubric
    ]
    sections = {key: sum(s.points for s in scored if s.test.section == key) for key in SECTIONS}
    final = min(sections.values())
    lowest = [key for key, value in sections.items() if value == final]
    return {
        "repeated_by_ci": repeated,
        "tests": [
            {
                "id": s.test.id,
                "section": s.test.section,
                "title": s.test.title,
                "status": s.status,
                "points": s.points,
                "how": s.test.how,
                "gap": s.test.gap,
                "evidence": [
                    {
                        "kind": c.evidence.kind,
                        "ref": c.evidence.ref,
                        "found": c.found,
                        "points": c.points,
                        "detail": c.detail,
                        "note": c.evidence.note,
                        "link": c.link,
                    }
                    for c in s.checked
                ],
            }
            for s in scored
        ],
        "sections": sections,
        "final": final,
        "lowest": lowest,
        "reading": reading(final),
        "to_raise": [
            f"{s.test.id}: {s.test.title}: {s.test.gap}"
            for s in scored
            if s.test.section in lowest and s.points < AUTOMATED and s.test.gap
        ],
    }


def champion_tags(model_name: str, tracking_uri: str | None) -> dict[str, str] | None:
    """Return the tags of the version of `model_name` holding `champion` (None: no champion) from MLflow."""
    local = tracking_uri and tracking_uri.startswith("sqlite:///")
    if local and not Path(tracking_uri.removeprefix("sqlite:///")).is_file():
        return None  # no store yet, so no champion: MLflow would create an empty one

    found = version_by_alias(model_name, CHAMPION, tracking_uri)
    return None if found is None else dict(found.tags)


def write_readiness(
    root: Path,
    reports_dir: Path,
    places: dict[str, str],
    model_name: str,
    built_at: str,
    tracking_uri: str | None,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Score the project against the champion of the store at `tracking_uri`; write readiness.html and .json."""

    result = assess(root, places, champion_tags(model_name, tracking_uri))
    result.update(model_name=model_name, built_at=built_at)
    reports_dir = Path(reports_dir)
    for test in result["tests"]:  # links from the page to the project's files, relative to the page
        for item in test["evidence"]:
            item["href"] = None
            if item["link"]:
                item["href"] = Path(
                    os.path.relpath(Path(root).resolve() / item["link"], reports_dir.resolve())
                ).as_posix()
    html = render(
        "readiness.html",
        reports_dir / "readiness.html",
        title="ML Test Score",
        r=result,
        sections=SECTIONS,
    )
    js = atomic_write_text(reports_dir / "readiness.json", json.dumps(result, indent=2) + "\n")
    return result, {"html": html, "json": js}
