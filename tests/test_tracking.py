import subprocess

import mlflow

from conftest import empty_store
from lab2prod import tracking


def test_connect_uses_sqlite_in_the_project_with_artifacts_beside_it(store):
    experiment_id = tracking.connect(store, "exp")
    assert mlflow.get_tracking_uri() == f"sqlite:///{store / 'mlflow.db'}"
    assert (store / "mlflow.db").exists()
    location = mlflow.get_experiment(experiment_id).artifact_location
    assert location == (store / "mlartifacts" / "exp").as_uri()
    assert tracking.connect(store, "exp") == experiment_id  # found, not created twice


def test_connect_makes_the_mlflow_ui_open_the_experiment_on_its_runs(store):
    empty_store(store)  # a store as MLflow makes it (the test above has connect make one)
    created = tracking.connect(store, "exp")
    # MLflow 3's UI opens an experiment without this tag on its GenAI "Traces" tab
    assert (
        mlflow.get_experiment(created).tags["mlflow.experimentKind"] == "custom_model_development"
    )
    client = mlflow.MlflowClient()
    older = client.create_experiment(
        "made-before"
    )  # an experiment of an older lab2prod: tagged now
    assert "mlflow.experimentKind" not in client.get_experiment(older).tags
    assert tracking.connect(store, "made-before") == older
    assert client.get_experiment(older).tags["mlflow.experimentKind"] == "custom_model_development"
    # a kind a person chose is kept
    client.set_experiment_tag(older, "mlflow.experimentKind", "genai_development")
    tracking.connect(store, "made-before")
    assert client.get_experiment(older).tags["mlflow.experimentKind"] == "genai_development"


def test_each_build_run_gets_a_name_of_its_own():
    import datetime as dt

    when = dt.datetime(2026, 12, 6, 19, 50, 7, tzinfo=dt.UTC)
    sha = "9eb0950aa43f1b2c3d4e5f60718293a4b5c6d7e8"
    assert (
        tracking.build_run_name("credit", sha, when) == "build-credit 2026-12-06 19:50:07 9eb0950"
    )
    assert tracking.build_run_name("credit", f"{sha}-dirty", when).endswith("9eb0950-dirty")
    assert tracking.build_run_name("credit", "unknown", when).endswith("no commit")
    later = when + dt.timedelta(seconds=1)
    assert tracking.build_run_name("credit", sha, later) != tracking.build_run_name(
        "credit", sha, when
    )


def test_git_commit_reports_dirty_and_unknown(tmp_path):
    assert tracking.git_commit(tmp_path) == "unknown"
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "f.txt").write_text("1")
    subprocess.run(["git", "add", "f.txt"], cwd=tmp_path, check=True)
    subprocess.run(
        ["git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "x"],
        cwd=tmp_path,
        check=True,
    )
    sha = tracking.git_commit(tmp_path)
    assert len(sha) == 40
    (tmp_path / "f.txt").write_text("2")
    assert tracking.git_commit(tmp_path) == f"{sha}-dirty"


def test_git_commit_of_a_copy_is_the_commit_it_records(tmp_path):
    # a copy of the project is no git repository: it reads the commit recorded when it was made
    (tmp_path / tracking.COMMIT_FILE).write_text("0123abcd-dirty\n")
    assert tracking.git_commit(tmp_path) == "0123abcd-dirty"
