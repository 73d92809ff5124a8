from dataclasses import replace
from pathlib import Path

import pytest

from conftest import CREDIT_BUSINESS
from lab2prod import settings
from lab2prod.data.catalog import single_file_catalog
from lab2prod.errors import ConfigError


def test_project_root_prefers_explicit_then_env_then_search(tmp_path, monkeypatch):
    (tmp_path / "pipeline.yaml").write_text("tasks: []\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.delenv("LAB2PROD_ROOT", raising=False)
    monkeypatch.chdir(tmp_path / "sub")
    assert settings.project_root() == tmp_path.resolve()
    monkeypatch.setenv("LAB2PROD_ROOT", "/elsewhere")
    assert settings.project_root() == Path("/elsewhere")
    assert settings.project_root(tmp_path / "sub") == (tmp_path / "sub").resolve()


def test_project_root_without_pipeline_names_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("LAB2PROD_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no pipeline.yaml found"):
        settings.project_root()


def test_tracking_uri_defaults_to_sqlite_and_env_overrides(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert settings.tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert settings.tracking_uri(None) is None  # outside a project MLflow's own default applies
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert settings.tracking_uri(tmp_path) == settings.tracking_uri(None) == "http://127.0.0.1:5000"


def test_monitor_settings_are_the_scoring_env_files_and_only_what_it_sets(tmp_path):
    assert settings.monitor_settings(tmp_path) == {}  # no env.score.yaml: the dataclass decides
    assert settings.monitor_settings(None) == {}  # outside a project
    (tmp_path / "env.score.yaml").write_text(
        "alpha: 0.05\ntolerance: 0.1\nmonitor_experiment: watch\nmetric: ''\nbatch: x.csv\n"
    )
    assert settings.monitor_settings(tmp_path) == {
        "alpha": 0.05,
        "tolerance": 0.1,
        "experiment": "watch",
    }
    (tmp_path / "env.score.yaml").write_text("alpha: [0.05\n")
    with pytest.raises(ConfigError, match="env.score.yaml line 2: not valid YAML"):
        settings.monitor_settings(tmp_path)


def test_the_projects_monitor_settings_build_the_monitors_config():
    from lab2prod.monitoring.monitor import MonitorConfig

    root = Path(__file__).resolve().parents[1]
    values = settings.monitor_settings(root)
    env = settings.read_yaml(root / "env.score.yaml")
    assert values.pop("experiment") == env["monitor_experiment"]
    config = MonitorConfig.of(**values)
    assert config.thresholds.drift_share == env["drift_share"]
    assert config.thresholds.alpha == env["alpha"]
    assert (config.metric, config.tolerance) == (env["metric"], env["tolerance"])
    # "" in env.score.yaml: the model run's decision threshold, found when a batch is monitored
    assert config.threshold == (env["threshold"] if env["threshold"] != "" else None)
    assert config.estimated_tolerance == (env["estimated_tolerance"] or None)


@pytest.mark.readiness("data 5")
def test_secret_missing_names_the_variable(monkeypatch):
    monkeypatch.delenv("LAB2PROD_TEST_SECRET", raising=False)
    with pytest.raises(ConfigError, match="LAB2PROD_TEST_SECRET is not set"):
        settings.secret("LAB2PROD_TEST_SECRET")
    monkeypatch.setenv("LAB2PROD_TEST_SECRET", "s3cret")
    assert settings.secret("LAB2PROD_TEST_SECRET") == "s3cret"


def test_read_yaml_reports_line_of_bad_yaml(write):
    path = write("bad.yaml", "a: 1\nb: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml line \d+: not valid YAML"):
        settings.read_yaml(path)


def test_load_catalog_resolves_paths_and_sqlite_urls(write):
    path = write(
        "catalog.yaml",
        "key: id\nsources:\n  - {name: a, format: csv, path: a.csv}\n"
        "  - {name: b, format: sql, url: 'sqlite:///b.sqlite', query: select 1}\n",
    )
    catalog = settings.load_catalog(path)
    assert catalog.key == "id"
    assert catalog.sources[0].path == path.parent / "a.csv"
    assert catalog.sources[1].url == f"sqlite:///{path.parent / 'b.sqlite'}"


def test_load_catalog_rejects_unknown_format_and_missing_key(write):
    with pytest.raises(ConfigError, match="format 'xml'"):
        settings.load_catalog(
            write("c1.yaml", "sources:\n  - {name: a, format: xml, path: a.xml}\n")
        )
    with pytest.raises(ConfigError, match="need a 'key'"):
        settings.load_catalog(
            write(
                "c2.yaml",
                "sources:\n  - {name: a, format: csv, path: a}\n  - {name: b, format: csv, path: b}\n",
            )
        )


def test_catalog_url_from_environment_variable(write, monkeypatch):
    monkeypatch.setenv("LAB2PROD_DB", "postgresql://u:p@127.0.0.1/db")
    catalog = settings.load_catalog(
        write("c.yaml", "sources:\n  - {name: a, format: sql, url_env: LAB2PROD_DB, query: q}\n")
    )
    assert catalog.sources[0].url == "postgresql://u:p@127.0.0.1/db"


def test_single_file_catalog_by_suffix(tmp_path):
    assert single_file_catalog(tmp_path / "x.parquet").sources[0].format == "parquet"
    with pytest.raises(ConfigError, match="cannot tell the format"):
        single_file_catalog(tmp_path / "x.dat")


def test_project_defaults_follow_env_yaml_and_the_contract_ingest_wrote(tmp_path):
    (tmp_path / "env.yaml").write_text(
        "dataset: houses\ncontract: data/contracts/houses.yaml\nlake: lake2\n"
        "reports: out\nmodel_name: house-price\nexperiment: houses\nproducts: built\n"
    )
    defaults = settings.project_defaults(tmp_path)
    assert defaults == {
        "contract": str(tmp_path / "data/contracts/houses.yaml"),
        "lake": "lake2",
        "reports": "out",
        "products": "built",
        "model_name": "house-price",
        "experiment": "houses",
    }
    written = (
        tmp_path / "lake2/contracts/houses.yaml"
    )  # what ingest wrote (committed or inferred) wins
    written.parent.mkdir(parents=True)
    written.write_text("dataset: houses\n")
    assert settings.project_defaults(tmp_path)["contract"] == str(written)


def test_gate_settings_are_the_env_files_and_only_what_it_sets(tmp_path):
    (tmp_path / "env.yaml").write_text(
        "gate_floors: {roc_auc: 0.7}\ngate_tolerance: 0.01\nseed: 3\n"
    )
    assert settings.gate_settings(tmp_path) == {
        "gate_floors": {"roc_auc": 0.7},
        "gate_tolerance": 0.01,
    }
    assert settings.gate_settings(tmp_path, "env.missing.yaml") == {}
    (tmp_path / "env.bad.yaml").write_text("gate_floors: [0.7]\n")
    with pytest.raises(ConfigError, match="gate_floors must map metric names to limits"):
        settings.gate_settings(tmp_path, "env.bad.yaml")


def test_approval_is_required_only_when_the_env_file_says_so(tmp_path):
    assert settings.approval_required(tmp_path) is False  # no env.yaml: a user alone
    (tmp_path / "env.yaml").write_text("release: {approval: required}\n")
    assert settings.approval_required(tmp_path) is True
    (tmp_path / "env.yaml").write_text("release: {approval: always}\n")
    with pytest.raises(
        ConfigError, match=r"release must be \{approval: none\} or \{approval: required\}"
    ):
        settings.approval_required(tmp_path)


def test_identity_is_the_team_servers_login_else_the_os_user(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ada")
    assert settings.identity() == "ada"
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    assert settings.identity() not in ("", "ada")


def test_business_values_are_read_once_from_env_yaml_and_a_blank_threshold_is_chosen_later(
    tmp_path,
):
    from lab2prod.modeling.business import BusinessValue, business_from_dict

    project = settings.business_settings(Path(__file__).resolve().parents[1])
    assert isinstance(project, BusinessValue) and project.unit == "EUR"
    assert project.outcomes["false_negative"] < 0 < project.outcomes["true_negative"]
    # the tests' one copy of the demo's values (tests/conftest.py) is env.yaml's
    assert replace(project, source="") == business_from_dict(CREDIT_BUSINESS)
    assert settings.business_settings(tmp_path) is None  # no env.yaml: no values
    (tmp_path / "env.yaml").write_text(
        'threshold: ""\ngate_metric: value\n'
        "business: {unit: EUR, outcomes: {true_positive: 0, false_positive: 0, "
        "true_negative: 1, false_negative: -4}}\n"
    )
    gate = settings.gate_settings(tmp_path)
    assert "threshold" not in gate and gate["business"].outcomes["false_negative"] == -4
    assert settings.hand_threshold("") is None and settings.hand_threshold("", 0.5) == 0.5
    assert settings.hand_threshold(0.3) == 0.3
    with pytest.raises(ConfigError, match="threshold must be between 0 and 1"):
        settings.hand_threshold(1.5)
    (tmp_path / "env.yaml").write_text("business: {outcomes: {true_positive: 1}}\n")
    with pytest.raises(ConfigError, match="business.unit is missing"):
        settings.business_settings(tmp_path)
