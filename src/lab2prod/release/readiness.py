"""The ML Test Score (Breck et al., 2017) of a project, from evidence that is checked when it is scored.

The rubric has 28 tests in four sections (data, model, infrastructure,
monitoring). Each test of the rubric file (`readiness_rubric.json`, shipped
with the package) names its evidence: the project's tests marked for it, a
product a build writes, a committed file, or a tag on the champion model
version. The rubric names no test function: a test declares what it is evidence
for with a marker, `@pytest.mark.readiness("data 1")` (one or more of the
paper's test ids), which `marked_tests` finds by reading `tests/` with `ast`
(nothing is imported or run). Every piece is checked against the project as it
is when the page is written (enough tests carry the marker, the product
exists, the tag is on the champion with the expected value); a piece that is
not there scores nothing. Nothing is claimed that a file, a tag or a test does
not show. lab2prod's own suite has marked tests for every piece of test
evidence, but they test lab2prod's code, not a project's: the page names the
tests it finds in the project and counts only those.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab2prod.data.lake import Lake, atomic_write_text, link
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
# @pytest.mark.readiness("data 1", ...): the rubric tests a test is evidence for
MARKER = "readiness"
TESTS_DIR = "tests"
CI_WORKFLOW = ".github/workflows/ci.yml"
# the 28 tests and the evidence each names (marked tests, products, files, tags): data, not code
RUBRIC_FILE = Path(__file__).with_name("readiness_rubric.json")

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
    """One piece of evidence: `kind` is test, tag, product or file; `ref` what to look for (a test: none)."""

    kind: str
    ref: str = ""
    value: str | None = None  # a tag: the value it must have (None: any)
    weight: float | None = None  # None: by kind (test and tag automated, product and file manual)
    note: str = ""
    count: int = 1  # a test: how many marked tests it takes


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
        """Return the test's name in the paper's numbering: its section, then its number."""
        return f"{self.section} {self.number}"


def load_rubric(path: Path = RUBRIC_FILE) -> tuple[RubricTest, ...]:
    """Return the rubric's tests with their evidence, read from a rubric JSON file (the package's by default)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return tuple(
            RubricTest(
                section=item["section"],
                number=int(item["number"]),
                title=item["title"],
                evidence=tuple(Evidence(**e) for e in item.get("evidence", ())),
                how=item.get("how", ""),
                gap=item.get("gap", ""),
            )
            for item in data["tests"]
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path}: not a readiness rubric ({exc}): a JSON object whose 'tests' list each test's "
            "section, number, title and evidence"
        ) from None


@dataclass
class Checked:
    """A piece of evidence after checking it: found or not, what it is worth, where it is."""

    evidence: Evidence
    found: bool
    points: float
    detail: str
    link: str | None = None
    tests: tuple[str, ...] = ()  # a test: the marked tests found, as file::name


@dataclass
class Scored:
    """One rubric test with its checked evidence and its points."""

    test: RubricTest
    checked: list[Checked] = field(default_factory=list)

    @property
    def points(self) -> float:
        """Return the points of the test's best evidence found (0 when none is)."""
        return max((c.points for c in self.checked if c.found), default=0.0)

    @property
    def status(self) -> str:
        """Return how the test is met: automated, manual, evidence missing or not covered."""
        if self.points >= AUTOMATED:
            return "automated"
        if self.points >= MANUAL:
            return "manual"
        if any(not c.found for c in self.checked):
            return "evidence missing"
        return "not covered"


def _marked_for(decorator: ast.expr) -> list[str]:
    """Return the rubric test ids a decorator `pytest.mark.readiness(...)` names (empty for any other)."""
    if not isinstance(decorator, ast.Call) or not isinstance(decorator.func, ast.Attribute):
        return []
    func = decorator.func
    mark = func.value
    if func.attr != MARKER or not (
        (isinstance(mark, ast.Attribute) and mark.attr == "mark")
        or (isinstance(mark, ast.Name) and mark.id == "mark")
    ):
        return []
    return [
        " ".join(arg.value.split())
        for arg in decorator.args
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
    ]


def file_markers(path: Path) -> dict[str, list[str]]:
    """Return the rubric test ids each top-level test function of a file is marked for (empty when it cannot be parsed)."""
    try:
        text = path.read_text(encoding="utf-8")
        if MARKER not in text:
            return {}
        tree = ast.parse(text, filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return {}
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            ids = [i for d in node.decorator_list for i in _marked_for(d)]
            if ids:
                found[node.name] = ids
    return found


def marked_tests(root: Path) -> dict[str, tuple[str, ...]]:
    """Return, per rubric test id, the tests of `root`/tests marked for it, as file::name (read with ast, not run)."""
    root = Path(root)
    found: dict[str, list[str]] = {}
    for path in sorted((root / TESTS_DIR).rglob("test_*.py")):
        for name, ids in file_markers(path).items():
            for test_id in ids:
                found.setdefault(test_id, []).append(f"{path.relative_to(root).as_posix()}::{name}")
    return {test_id: tuple(refs) for test_id, refs in found.items()}


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
    marked: tuple[str, ...] = (),
) -> Checked:
    """Return `evidence` checked against the project at `root`, its tests `marked` for it and the champion's tags.

    `champion_tags` None: no champion.
    """
    automated = AUTOMATED if repeated else MANUAL
    if evidence.kind == "test":
        found = len(marked) >= evidence.count
        weight = min(evidence.weight or automated, automated)
        many = f"{len(marked)} marked test{'' if len(marked) == 1 else 's'} in {TESTS_DIR}/"
        detail = many if found else f"{many}, {evidence.count} needed"
        return Checked(evidence, found, weight, detail, tests=tuple(marked))
    if evidence.kind in ("product", "file"):
        try:
            rel = evidence.ref.format(**places)
        except KeyError as exc:
            return Checked(evidence, False, MANUAL, f"{evidence.ref}: no {exc.args[0]} given")
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
    rubric: tuple[RubricTest, ...] | None = None,
) -> dict[str, Any]:
    """Return the rubric scored from the evidence found in `root`: per test, per section, and the final score.

    `rubric` None: the package's (`load_rubric()`).
    """
    root = Path(root)
    rubric = load_rubric() if rubric is None else rubric
    repeated = runs_repeatedly(root)
    marked = marked_tests(root)
    scored = [
        Scored(
            t,
            [
                check(e, root, places, champion_tags, repeated, marked.get(t.id, ()))
                for e in t.evidence
            ],
        )
        for t in rubric
    ]
    sections = {key: sum(s.points for s in scored if s.test.section == key) for key in SECTIONS}
    final = min(sections.values())
    lowest = [key for key, value in sections.items() if value == final]
    result = {
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
                        "ref": c.evidence.ref or f'@pytest.mark.{MARKER}("{s.test.id}")',
                        "found": c.found,
                        "points": c.points,
                        "detail": c.detail,
                        "note": c.evidence.note,
                        "link": c.link,
                        "tests": [{"ref": ref} for ref in c.tests],
                    }
                    for c in s.checked
                ],
                # lab2prod's own suite has tests marked for it, the project's tests not
                "toolkit_tests": any(c.evidence.kind == "test" and not c.found for c in s.checked),
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
    result["toolkit_only"] = [t["id"] for t in result["tests"] if t["toolkit_tests"]]
    return result


def champion_tags(model_name: str, tracking_uri: str | None) -> dict[str, str] | None:
    """Return the tags of the version of `model_name` holding `champion` (None: no champion) from MLflow."""
    local = tracking_uri and tracking_uri.startswith("sqlite:///")
    if local and not Path(tracking_uri.removeprefix("sqlite:///")).is_file():
        return None  # no store yet, so no champion: MLflow would create an empty one

    found = version_by_alias(model_name, CHAMPION, tracking_uri)
    return None if found is None else dict(found.tags)


def write_readiness(
    root: Path,
    lake: Lake,
    places: dict[str, str],
    model_name: str,
    built_at: str,
    tracking_uri: str | None,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Score the project against the champion of the store at `tracking_uri`; write the Lake's readiness page and JSON."""

    result = assess(root, places, champion_tags(model_name, tracking_uri))
    result.update(model_name=model_name, built_at=built_at)
    pages = lake.readiness_pages()
    for test in result["tests"]:  # links from the page to the project's files, relative to the page
        for item in test["evidence"]:
            item["href"] = None
            if item["link"]:
                item["href"] = link(Path(root).resolve() / item["link"], pages["html"])
            for marked in item["tests"]:
                marked["href"] = link(
                    Path(root).resolve() / marked["ref"].split("::")[0], pages["html"]
                )
    html = render(
        "readiness.html",
        pages["html"],
        title="ML Test Score",
        r=result,
        sections=SECTIONS,
    )
    js = atomic_write_text(pages["json"], json.dumps(result, indent=2) + "\n")
    return result, {"html": html, "json": js}
