"""The typed project: settings.load_project reads env.yaml and env.score.yaml, a run's overrides win."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab2prod import settings
from lab2prod.errors import ConfigError
from lab2prod.project import Project

ENV = (
    "dataset: houses\ncontract: data/contracts/houses.yaml\nmodel_name: house-price\n"
    "experiment: houses\nlake: lake2\nseed: 7\nthreshold: ''\ngate_floors: {r2: 0.5}\n"
    "slice_columns: [town]\nrelease: {approval: required}\n"
)


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    (tmp_path / "pipeline.yaml").write_text("tasks: []\n")
    (tmp_path / "env.yaml").write_text(ENV)
    return tmp_path


def test_the_project_holds_env_yaml_typed_and_its_lake_finds_the_paths(project_dir):
    project = settings.load_project(project_dir)
    assert isinstance(project, Project)
    assert (project.dataset, project.model_name, project.seed) == ("houses", "house-price", 7)
    assert project.threshold is None and project.approval_required is True
    assert project.slice_columns == ("town",) and dict(project.gate_floors) == {"r2": 0.5}
    assert project.lake.split("houses", "test") == project_dir / "lake2/splits/houses/test.csv"
    assert project.contract_path() == project_dir / "data/contracts/houses.yaml"
    with pytest.raises(TypeError):
        project.gate_floors["r2"] = 0.1  # frozen, down to its mappings


def test_an_override_wins_none_included_and_names_map_to_fields(project_dir):
    project = settings.load_project(
        project_dir, seed=None, lake="elsewhere", threshold="0.3", release={"approval": "none"}
    )
    assert project.seed is None  # `seed: null` leaves the split unseeded: an override, not a gap
    assert project.lake_folder == "elsewhere" and project.threshold == 0.3
    assert project.approval_required is False


def test_the_scoring_values_come_from_env_score_yaml_with_the_steps_overrides(project_dir):
    (project_dir / "env.score.yaml").write_text(
        "batch: in.csv\nbatch_name: b1\ndrift_share: 0.5\nalpha: ''\nthreshold: ''\nworkers: ''\n"
    )
    scoring = settings.load_project(project_dir, threshold=0.4, workers="2").scoring
    assert (scoring.batch, scoring.batch_name, scoring.threshold, scoring.workers) == (
        "in.csv",
        "b1",
        0.4,
        2,
    )
    assert dict(scoring.limits) == {"drift_share": 0.5, "threshold": 0.4}  # "" keeps the default


def test_a_missing_key_is_one_line_naming_env_yaml_and_the_key(project_dir):
    (project_dir / "env.yaml").write_text("dataset: houses\nexperiment: e\n")
    project = settings.load_project(project_dir)
    assert project.need("dataset") == "houses"
    with pytest.raises(ConfigError, match=r"env.yaml: set 'model_name' \(the MLflow registered"):
        project.need("model_name")
    assert settings.load_project(project_dir, model_name="m").need("model_name") == "m"


def test_a_bad_release_setting_is_one_line(project_dir):
    with pytest.raises(ConfigError, match="release must be"):
        settings.load_project(project_dir, release={"approval": "maybe"})


def test_no_demo_value_stands_in_for_a_missing_one(tmp_path):
    (tmp_path / "env.yaml").write_text("lake: my-lake\n")
    defaults = settings.project_defaults(tmp_path)
    assert "model_name" not in defaults and "contract" not in defaults
    assert "credit" not in str(defaults)
    with pytest.raises(
        ConfigError, match=r"env.yaml: set 'model_name' \(or pass it on the command"
    ):
        defaults["model_name"]
