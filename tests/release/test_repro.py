"""Reproducibility: `repro-check` builds twice in clean folders; unseeded randomness in a step makes it fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lane import maker

from lab2prod.errors import ConfigError
from lab2prod.release.repro import ReproResult, repro_check

PROJECT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_result_names_what_differs_and_what_matches():
    same = ReproResult(first={"a": "1" * 64, "b": "2" * 64}, second={"a": "1" * 64, "b": "2" * 64})
    assert same.identical and same.describe().endswith("reproducible: both builds are identical")
    other = ReproResult(
        first={"a": "1" * 64, "b": "2" * 64}, second={"a": "1" * 64, "b": "3" * 64, "c": "4" * 64}
    )
    assert other.differing == ["b", "c"] and not other.identical
    text = other.describe()
    assert "match    a" in text and "DIFFERS  b" in text and "DIFFERS  c  missing" in text
    assert text.endswith("NOT reproducible: 2 artifact(s) differ")


def test_a_copy_of_the_project_carries_the_commit_it_was_copied_from(tmp_path):
    from lab2prod import tracking
    from lab2prod.release.repro import copy_project

    source = tracking.git_commit(PROJECT)
    assert source != "unknown" and len(source.removesuffix("-dirty")) == 40
    copy_project(PROJECT, tmp_path / "copy")
    assert (tmp_path / "copy/pipeline.yaml").is_file() and not (tmp_path / "copy/.git").exists()
    assert tracking.git_commit(tmp_path / "copy") == source
    assert tracking.git_commit(tmp_path) == "unknown"  # beside the copy: no repository, no record


def test_an_override_of_an_unknown_env_key_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no key 'sede' to override"):
        repro_check(PROJECT, overrides={"sede": "null"}, keep=tmp_path)


def _repro_until_split(
    keep: Path, environ: dict[str, str], *overrides: str
) -> subprocess.CompletedProcess:
    """Run `lab2prod repro-check` on 300 sampled rows up to split, as a user does."""
    sets = [arg for item in ("sample_rows=300", *overrides) for arg in ("--set", item)]
    args = ["repro-check", "--root", str(PROJECT), *sets, "--until", "split", "--keep", str(keep)]
    return subprocess.run(
        [str(BIN / "lab2prod"), *args], env=environ, capture_output=True, text=True, timeout=900
    )


@maker("repro_runs")
def make_repro_runs(tmp_path_factory, environ) -> dict[str, subprocess.CompletedProcess]:
    """`lab2prod repro-check` until split, with the project's seed and with `seed: null`."""
    return {
        "seeded": _repro_until_split(tmp_path_factory.mktemp("repro-seeded"), environ),
        "unseeded": _repro_until_split(
            tmp_path_factory.mktemp("repro-unseeded"), environ, "seed=null"
        ),
    }


@pytest.fixture(scope="session")
def repro_runs(lane, request):
    """The two repro-checks of make_repro_runs, made by the second lane."""
    return lane.get(request, "repro_runs")


@pytest.mark.integration
@pytest.mark.readiness("infra 1")
def test_unseeded_split_makes_repro_check_fail(repro_runs):
    # `seed: null` is the honest injection: split and sampling then draw from fresh OS entropy.
    # The builds stop after `split` (where the randomness enters) to keep this test to seconds.
    done = repro_runs["unseeded"]
    out = done.stdout
    assert done.returncode == 1, out + done.stderr[-3000:]
    assert "match    normalized data" in out
    assert "DIFFERS  split train" in out and "DIFFERS  split test" in out
    assert "NOT reproducible" in out


@pytest.mark.integration
def test_seeded_builds_are_identical_and_repro_check_passes(repro_runs):
    # the counterpart of the test above: the project's own seed, the same two builds until split
    done = repro_runs["seeded"]
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-3000:]
    assert "match    normalized data" in out and "match    split test" in out
    assert out.rstrip().endswith("reproducible: both builds are identical")


def test_builds_get_their_own_environment(monkeypatch):
    from lab2prod import settings

    monkeypatch.setenv("LAB2PROD_ROOT", "/somewhere/else")
    env = settings.subprocess_env(
        set_={"MLFLOW_TRACKING_URI": "sqlite:////tmp/x.db"}, unset=("LAB2PROD_ROOT",)
    )
    assert "LAB2PROD_ROOT" not in env and env["MLFLOW_TRACKING_URI"] == "sqlite:////tmp/x.db"
