"""The ML Test Score from evidence: every claim is checked, and the score follows the evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import empty_store
from lab2prod.cli import main
from lab2prod.errors import ConfigError
from lab2prod.release.readiness import (
    AUTOMATED,
    CI_WORKFLOW,
    MANUAL,
    RUBRIC_FILE,
    SECTIONS,
    Evidence,
    assess,
    check,
    defined_tests,
    load_rubric,
    reading,
)

PROJECT = Path(__file__).resolve().parents[2]
PLACES = {
    "lake": "data/lake",
    "reports": "reports",
    "products": "products",
    "dataset": "credit",
    "contract": "data/contracts/credit.yaml",
}
RUBRIC = load_rubric()


def _all_evidence_in(root: Path) -> dict[str, str]:
    """Lay out in `root` every file, product and test function the rubric names; return the champion's tags."""
    tests: dict[str, list[str]] = {}
    tags: dict[str, str] = {}
    for rubric_test in RUBRIC:
        for e in rubric_test.evidence:
            if e.kind == "test":
                file, _, name = e.ref.partition("::")
                tests.setdefault(file, []).append(name)
            elif e.kind in ("product", "file"):
                path = root / e.ref.format(**PLACES)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("x")
            else:
                tags[e.ref] = e.value or "1"
    for file, names in tests.items():
        path = root / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"def {n}():\n    pass\n\n\n" for n in names))
    (root / CI_WORKFLOW).parent.mkdir(parents=True, exist_ok=True)
    (root / CI_WORKFLOW).write_text("jobs: {test: {steps: [{run: bash .ci/run}]}}\n")
    return tags


def _points(result: dict, test_id: str) -> float:
    return next(t["points"] for t in result["tests"] if t["id"] == test_id)


def test_the_rubric_has_the_papers_28_tests_and_every_claimed_test_exists():
    assert len(RUBRIC) == 28
    for section in SECTIONS:
        assert [t.number for t in RUBRIC if t.section == section] == list(range(1, 8))
    for rubric_test in RUBRIC:
        assert rubric_test.evidence or rubric_test.gap.startswith("not covered"), rubric_test.id
        for e in rubric_test.evidence:
            if e.kind == "test":  # a renamed or deleted test must be renamed here too
                file, _, name = e.ref.partition("::")
                assert name in defined_tests(PROJECT / file), f"{rubric_test.id}: {e.ref}"
            elif e.kind == "file":
                assert (PROJECT / e.ref.format(**PLACES)).is_file(), f"{rubric_test.id}: {e.ref}"


def test_score_follows_the_evidence(tmp_path):
    tags = _all_evidence_in(tmp_path)
    full = assess(tmp_path, PLACES, tags)
    assert all(e["found"] for t in full["tests"] for e in t["evidence"])
    # every test that has evidence earns what its best evidence is worth; not-covered ones earn 0
    for t in full["tests"]:
        expected = max((e["points"] for e in t["evidence"]), default=0.0)
        assert t["points"] == expected, t["id"]
    assert full["final"] == min(full["sections"].values())
    assert full["reading"] == reading(full["final"])
    assert _points(full, "data 7") == AUTOMATED

    # a test function the rubric names disappears: its rubric test and section lose the point
    features = tmp_path / "tests/modeling/test_features.py"
    features.write_text("def test_something_else():\n    pass\n")
    fewer = assess(tmp_path, PLACES, tags)
    assert _points(fewer, "data 7") == 0.0
    assert next(t for t in fewer["tests"] if t["id"] == "data 7")["status"] == "evidence missing"
    assert fewer["sections"]["data"] == full["sections"]["data"] - AUTOMATED
    assert fewer["final"] == min(fewer["sections"].values())

    # the champion's gate tag says reject: that piece of evidence is not found
    rejected = assess(tmp_path, PLACES, {**tags, "gate.decision": "reject"})
    gate = next(t for t in rejected["tests"] if t["id"] == "infra 4")
    assert [e["found"] for e in gate["evidence"] if e["kind"] == "tag"] == [False]
    assert "it is reject" in gate["evidence"][0]["detail"]

    # no CI workflow repeats the suite: tests and tags are worth half a point, the score drops
    (tmp_path / CI_WORKFLOW).unlink()
    by_hand = assess(tmp_path, PLACES, None)
    assert not by_hand["repeated_by_ci"]
    assert all(t["points"] <= MANUAL for t in by_hand["tests"])
    assert by_hand["final"] < full["final"]


def test_the_rubric_is_package_data_that_names_no_demo_and_a_broken_one_is_refused(tmp_path):
    # the runtime package's code names no test function: the rubric file does
    code = (PROJECT / "src/lab2prod/release/readiness.py").read_text()
    assert "::test_" not in code and "credit" not in RUBRIC_FILE.read_text()
    assert RUBRIC_FILE.parent.name == "release" and load_rubric(RUBRIC_FILE) == RUBRIC
    (tmp_path / "rubric.json").write_text('{"tests": [{"section": "data"}]}')
    with pytest.raises(ConfigError, match="not a readiness rubric"):
        load_rubric(tmp_path / "rubric.json")
    # a place the caller did not give leaves its evidence missing, with why
    place = Evidence("file", "{contract}")
    missing = check(place, tmp_path, {"lake": "lake"}, None, repeated=True)
    assert not missing.found and missing.detail == "{contract}: no contract given"


def test_evidence_of_an_unknown_kind_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown evidence kind 'wiki'"):
        check(Evidence("wiki", "page"), tmp_path, PLACES, None, repeated=True)
    # a test file that does not parse defines no test
    (tmp_path / "test_broken.py").write_text("def test_x(:\n")
    assert defined_tests(tmp_path / "test_broken.py") == set()


def test_paper_reading_of_the_final_score():
    assert reading(0) == "More of a research project than a productionized system."
    assert reading(3).startswith("Reasonably tested")
    assert reading(3.5).startswith("Strong levels")
    assert reading(6).startswith("Exceptional")


def test_readiness_command_writes_the_page_and_the_json(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{empty_store(tmp_path)}")
    reports = tmp_path / "reports"
    assert main(["readiness", "--root", str(PROJECT), "--reports", str(reports)]) == 0
    result = json.loads((reports / "readiness.json").read_text())
    assert len(result["tests"]) == 28 and result["final"] == min(result["sections"].values())
    # no champion in this empty store: no tag is claimed
    assert not any(e["found"] for t in result["tests"] for e in t["evidence"] if e["kind"] == "tag")
    html = (reports / "readiness.html").read_text()
    assert html.count('<tr id="') == 28 and "not covered" in html
    # the links point from the page to the project's files
    link = next(e["href"] for t in result["tests"] for e in t["evidence"] if e["kind"] == "test")
    assert (reports / link).resolve().is_file()


def test_readiness_command_outside_a_project_is_one_line(tmp_path, capsys):
    assert main(["readiness", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


@pytest.mark.integration
def test_readiness_of_the_sample_build_shows_the_champion_tags(built, monkeypatch):
    """The report step wrote the page; with the repository's tests beside the build every claim is found."""
    assert (built / "reports/readiness.html").is_file()
    assert 'href="readiness.html"' in (built / "reports/index.html").read_text()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{built / 'mlflow.db'}")
    added = []
    try:
        lent = {"tests", ".github"} | {  # the build copy has no tests: lend it the repository's
            e.ref.format(**PLACES).split("/")[0]
            for t in RUBRIC
            for e in t.evidence
            if e.kind == "file"
        }
        for item in sorted(lent):
            if not (built / item).exists():
                (built / item).symlink_to(PROJECT / item)
                added.append(built / item)
        assert main(["readiness", "--root", str(built)]) == 0
    finally:
        for link in added:
            link.unlink()
    result = json.loads((built / "reports/readiness.json").read_text())
    missing = [
        (t["id"], e["ref"]) for t in result["tests"] for e in t["evidence"] if not e["found"]
    ]
    assert missing == [], missing
    gate = next(t for t in result["tests"] if t["id"] == "infra 4")
    assert gate["points"] == AUTOMATED
    assert "tag gate.decision = promote on the champion" in [e["detail"] for e in gate["evidence"]]
