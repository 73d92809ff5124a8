"""The ML Test Score from evidence: every claim is checked, and the score follows the evidence."""

from __future__ import annotations

import json
import re
import shutil
import tomllib
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
    TESTS_DIR,
    Evidence,
    assess,
    check,
    file_markers,
    load_rubric,
    marked_tests,
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


def _marked(test_id: str, name: str) -> str:
    """Return the source of a test function marked as evidence for `test_id`."""
    return f'@pytest.mark.readiness("{test_id}")\ndef {name}():\n    pass\n\n\n'


def _all_evidence_in(root: Path) -> dict[str, str]:
    """Lay out in `root` every file, product and marked test the rubric asks for; return the champion's tags."""
    tests: dict[str, str] = {}
    tags: dict[str, str] = {}
    for rubric_test in RUBRIC:
        for e in rubric_test.evidence:
            if e.kind == "test":  # data 7's in a file of their own, the others together
                file = "modeling/test_features.py" if rubric_test.id == "data 7" else "test_all.py"
                name = f"test_{rubric_test.id.replace(' ', '_')}"
                tests[file] = tests.get(file, "import pytest\n\n\n") + "".join(
                    _marked(rubric_test.id, f"{name}_{i}") for i in range(e.count)
                )
            elif e.kind in ("product", "file"):
                path = root / e.ref.format(**PLACES)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("x")
            else:
                tags[e.ref] = e.value or "1"
    for file, text in tests.items():
        path = root / TESTS_DIR / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / CI_WORKFLOW).parent.mkdir(parents=True, exist_ok=True)
    (root / CI_WORKFLOW).write_text("jobs: {test: {steps: [{run: bash .ci/run}]}}\n")
    return tags


def _points(result: dict, test_id: str) -> float:
    return next(t["points"] for t in result["tests"] if t["id"] == test_id)


def _without_marked_tests(root: Path) -> list[str]:
    """Return the rubric tests whose test evidence finds too few marked tests in `root`/tests."""
    marked = marked_tests(root)
    return [
        t.id
        for t in RUBRIC
        for e in t.evidence
        if e.kind == "test" and len(marked.get(t.id, ())) < e.count
    ]


def test_the_rubric_has_the_papers_28_tests_and_each_has_its_marked_tests_here():
    assert len(RUBRIC) == 28
    for section in SECTIONS:
        assert [t.number for t in RUBRIC if t.section == section] == list(range(1, 8))
    for rubric_test in RUBRIC:
        assert rubric_test.evidence or rubric_test.gap.startswith("not covered"), rubric_test.id
        for e in rubric_test.evidence:
            assert e.kind != "test" or not e.ref, f"{rubric_test.id}: a test evidence names no test"
            if e.kind == "file":
                assert (PROJECT / e.ref.format(**PLACES)).is_file(), f"{rubric_test.id}: {e.ref}"
    # the page says lab2prod's own suite has marked tests for every test evidence: it must
    assert _without_marked_tests(PROJECT) == []
    # every marker of this repository names a rubric test with test evidence (no typo)
    with_tests = {t.id for t in RUBRIC if any(e.kind == "test" for e in t.evidence)}
    assert set(marked_tests(PROJECT)) <= with_tests, set(marked_tests(PROJECT)) - with_tests


def test_a_rubric_test_whose_marked_test_loses_its_marker_fails_the_check_above(tmp_path):
    for path in (PROJECT / TESTS_DIR).rglob("test_*.py"):
        copy = tmp_path / path.relative_to(PROJECT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(path.read_text())
    assert _without_marked_tests(tmp_path) == []
    features = tmp_path / TESTS_DIR / "modeling/test_features.py"
    features.write_text(features.read_text().replace('@pytest.mark.readiness("data 7")\n', ""))
    assert _without_marked_tests(tmp_path) == ["data 7"]


def test_marked_tests_are_read_from_the_tests_folder_without_running_them(tmp_path):
    tests = tmp_path / TESTS_DIR / "unit"
    tests.mkdir(parents=True)
    (tests / "test_a.py").write_text(
        "import pytest\n"
        "from pytest import mark\n\n"
        "raise SystemExit('never imported')\n\n"
        '@pytest.mark.readiness("data 1", "monitor  2")\n'
        "@pytest.mark.parametrize('x', [1, 2])\n"
        "def test_marked(x):\n    pass\n\n"
        '@mark.readiness("data 1")\n'
        "async def test_async():\n    pass\n\n"
        "def test_unmarked():\n"
        '    """@pytest.mark.readiness("data 1") in a docstring marks nothing."""\n\n'
        '# @pytest.mark.readiness("data 1")\n'
        "def test_commented_out():\n    pass\n\n"
        '@pytest.mark.other("data 1")\n'
        "def test_other_marker():\n    pass\n\n"
        '@pytest.mark.readiness("data 1")\n'
        "def helper():\n    pass\n"
    )
    (tests / "helpers.py").write_text('@pytest.mark.readiness("data 1")\ndef test_x():\n    pass\n')
    (tests / "test_broken.py").write_text('@pytest.mark.readiness("data 1")\ndef test_x(:\n')
    (tmp_path / "test_outside.py").write_text(
        '@pytest.mark.readiness("data 1")\ndef test_x():\n    pass\n'
    )
    assert marked_tests(tmp_path) == {
        "data 1": ("tests/unit/test_a.py::test_marked", "tests/unit/test_a.py::test_async"),
        "monitor 2": ("tests/unit/test_a.py::test_marked",),
    }
    assert file_markers(tests / "test_broken.py") == {}
    assert marked_tests(tmp_path / "nowhere") == {}


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

    data7 = next(t for t in full["tests"] if t["id"] == "data 7")
    assert [m["ref"] for m in data7["evidence"][0]["tests"]] == [
        "tests/modeling/test_features.py::test_data_7_0"
    ]
    assert full["toolkit_only"] == [] and not data7["toolkit_tests"]

    # data 7's marked test loses its marker: its rubric test and section lose the point
    features = tmp_path / "tests/modeling/test_features.py"
    features.write_text(
        _marked("data 7", "test_data_7_0").replace("@pytest.mark.", "# @pytest.mark.")
    )
    fewer = assess(tmp_path, PLACES, tags)
    assert _points(fewer, "data 7") == 0.0
    assert next(t for t in fewer["tests"] if t["id"] == "data 7")["status"] == "evidence missing"
    assert fewer["sections"]["data"] == full["sections"]["data"] - AUTOMATED
    assert fewer["final"] == min(fewer["sections"].values())
    assert fewer["toolkit_only"] == ["data 7"]
    gone = next(t for t in fewer["tests"] if t["id"] == "data 7")["evidence"][0]
    assert gone["detail"] == "0 marked tests in tests/, 1 needed" and gone["tests"] == []

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


def test_the_package_names_no_test_of_its_test_suite():
    """No file of src/lab2prod refers to a test as tests/<file>::<name>: tests carry markers instead."""
    reference = re.compile(r"tests/[\w./-]*::")
    for path in (PROJECT / "src/lab2prod").rglob("*"):
        if path.is_file() and path.suffix not in (".pyc", ".png", ".ico", ".gz", ".db"):
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not reference.search(text), f"{path}: {reference.search(text).group()}"


def test_the_marker_is_registered_here_and_in_a_project_made_by_new():
    markers = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["pytest"]
    assert any(m.startswith("readiness(") for m in markers["ini_options"]["markers"])
    template = PROJECT / "src/lab2prod/templates/project"
    assert '"markers", \'readiness(*ids)' in (template / "conftest.py").read_text()


def test_a_project_made_by_new_scores_its_own_tests_and_names_lab2prods(tmp_path):
    """The template's tests are marked; the rubric tests only lab2prod's own tests cover are named, not counted."""
    template = PROJECT / "src/lab2prod/templates/project"
    (tmp_path / TESTS_DIR).mkdir()
    shutil.copy(
        template / "tests/test_contract.py.jinja", tmp_path / TESTS_DIR / "test_contract.py"
    )
    shutil.copytree(template / ".github", tmp_path / ".github")
    shutil.copy(template / ".pre-commit-config.yaml", tmp_path)
    (tmp_path / "data/contracts").mkdir(parents=True)
    (tmp_path / "data/contracts/credit.yaml").write_text("x")
    result = assess(tmp_path, PLACES, None)
    schema = next(t for t in result["tests"] if t["id"] == "data 1")
    assert schema["points"] == AUTOMATED and schema["status"] == "automated"
    test = next(e for e in schema["evidence"] if e["kind"] == "test")
    assert [m["ref"] for m in test["tests"]] == [
        "tests/test_contract.py::test_the_table_meets_its_contract",
        "tests/test_contract.py::test_the_contract_names_the_target_of_the_table",
    ]
    with_tests = [t.id for t in RUBRIC if any(e.kind == "test" for e in t.evidence)]
    assert result["toolkit_only"] == [i for i in with_tests if i != "data 1"]
    # a rubric test whose file evidence exists scores it, and says lab2prod's tests cover the rest
    privacy = next(t for t in result["tests"] if t["id"] == "data 5")
    assert privacy["status"] == "manual" and privacy["toolkit_tests"]
    assert [e["found"] for e in privacy["evidence"]] == [False, True]


def test_the_rubric_is_package_data_that_names_no_demo_and_a_broken_one_is_refused(tmp_path):
    assert "credit" not in RUBRIC_FILE.read_text()
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
    # a test evidence asking for two marked tests is not found with one
    one = check(Evidence("test", count=2), tmp_path, PLACES, None, True, ("tests/t.py::test_a",))
    assert not one.found and one.detail == "1 marked test in tests/, 2 needed"


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
    marked = [m for t in result["tests"] for e in t["evidence"] for m in e["tests"]]
    assert marked and all((reports / m["href"]).resolve().is_file() for m in marked)
    assert all(f"<code>{m['ref']}</code>" in html for m in marked)


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
