"""The model edge: one parser of model URIs, models found through MLflow's own client and loaded with skops."""

from __future__ import annotations

import ast
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from lab2prod import model_edge
from lab2prod.cli import main
from lab2prod.errors import RegistryError
from lab2prod.model_edge import ModelURI, parse_model_uri

SRC = Path(__file__).resolve().parents[2] / "src/lab2prod"
CONTRACT_PATH = SRC.parents[1] / "data/contracts/credit.yaml"


@pytest.mark.parametrize(
    "uri, expected",
    [
        (
            "models:/credit-risk@champion",
            ModelURI("models:/credit-risk@champion", "credit-risk", "champion"),
        ),
        ("models:/credit-risk/3", ModelURI("models:/credit-risk/3", "credit-risk", version="3")),
        ("models:/m-0123abcd", ModelURI("models:/m-0123abcd")),
        ("runs:/abc123/model", ModelURI("runs:/abc123/model", run_id="abc123")),
        ("/a/folder/model", ModelURI("/a/folder/model")),
    ],
)
def test_model_uris_are_parsed_in_one_place(uri, expected):
    assert parse_model_uri(uri) == expected
    assert parse_model_uri(uri).registered == bool(expected.name)


def test_a_model_uri_is_written_in_one_place_and_parses_back():
    from lab2prod.model_edge import champion_uri, model_uri

    assert champion_uri("credit-risk") == "models:/credit-risk@champion"
    assert parse_model_uri(model_uri("m", version=3)) == parse_model_uri("models:/m/3")
    assert parse_model_uri(champion_uri("m")).alias == "champion"
    with pytest.raises(RegistryError, match="names one alias or one version"):
        model_uri("m", alias="champion", version="2")
    with pytest.raises(RegistryError, match="names one alias or one version"):
        model_uri("m")


@pytest.mark.parametrize("uri", ["models:/", "models:/@champion", "models:/credit-risk", "runs:/"])
def test_a_malformed_model_uri_is_one_line(uri):
    with pytest.raises(RegistryError, match=r"model URI .* (is not models:/|names no run)"):
        parse_model_uri(uri)


@pytest.mark.readiness("monitor 1")
def test_a_registered_model_loads_with_its_lineage(champion, tmp_path, monkeypatch):
    own = tmp_path / "tmp"  # this test's temporary folder: others' runs share the system's
    own.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(own))
    ref = model_edge.load_model(champion["model_uri"], champion["tracking_uri"])
    assert (ref.name, ref.version, ref.run_id, ref.threshold) == (
        "credit-risk",
        champion["version"],
        champion["run_id"],
        0.5,
    )
    assert hasattr(ref.model, "predict_proba")
    by_number = model_edge.load_model(f"models:/credit-risk/{champion['version']}")
    assert by_number.version == champion["version"]
    assert list(own.iterdir()) == []  # the model copies were made here, and removed


def test_a_logged_model_keeps_an_empty_name(champion):
    from mlflow import MlflowClient

    logged = (
        MlflowClient(champion["tracking_uri"])
        .get_model_version("credit-risk", champion["version"])
        .source
    )
    ref = model_edge.load_model(logged, champion["tracking_uri"])
    assert (ref.name, ref.version, ref.threshold) == ("", "", None)
    assert hasattr(ref.model, "predict_proba")


@pytest.fixture(scope="module")
def in_children(champion) -> dict[str, Future]:
    """`load_model(..., in_child=True)` of the champion and of a model nobody registered, started
    side by side: two fetching interpreters share the cores."""
    with ThreadPoolExecutor(2) as pool:
        return {
            uri: pool.submit(model_edge.load_model, uri, champion["tracking_uri"], in_child=True)
            for uri in (champion["model_uri"], "models:/nobody@champion")
        }


# the children are interpreters that import MLflow and fetch from the store: seconds of a core each
@pytest.mark.integration
def test_a_model_fetched_in_a_child_process_is_the_same_model(champion, batch_text, in_children):
    from lab2prod.modeling.features import model_frame
    from lab2prod.settings import load_contract

    here = model_edge.load_model(champion["model_uri"], champion["tracking_uri"])
    child = in_children[champion["model_uri"]].result()
    assert (child.name, child.version, child.run_id, child.threshold) == (
        here.name,
        here.version,
        here.run_id,
        here.threshold,
    )
    contract = load_contract(CONTRACT_PATH)
    frame = model_frame(batch_text, contract)
    assert (child.model.predict_proba(frame) == here.model.predict_proba(frame)).all()


@pytest.mark.integration
def test_a_model_the_child_cannot_fetch_is_the_same_one_line(in_children):
    with pytest.raises(
        RegistryError, match=r"^cannot load model models:/nobody@champion: .*register a model first"
    ):
        in_children["models:/nobody@champion"].result()


def test_an_unknown_model_is_one_line(champion):
    with pytest.raises(
        RegistryError, match=r"^cannot load model models:/nobody@champion: .*register a model first"
    ):
        model_edge.load_model("models:/nobody@champion", champion["tracking_uri"])
    assert model_edge.version_by_alias("nobody", "champion") is None


def test_cli_score_with_a_missing_contract_is_one_line(champion, batch_text, tmp_path, capsys):
    batch_csv = tmp_path / "batch.csv"
    batch_text.head(20).to_csv(batch_csv, index=False)
    code = main(
        [
            "score",
            "--input",
            str(batch_csv),
            "--output",
            str(tmp_path / "pred.csv"),
            "--model",
            champion["model_uri"],
            "--contract",
            str(tmp_path / "missing.yaml"),
        ]
    )
    assert code == 2 and "missing.yaml" in capsys.readouterr().err
    assert not (tmp_path / "pred.csv").exists()


def test_no_module_parses_model_uris_or_reads_mlflow_tables_but_the_edge():
    """Only model_edge splits models:/ URIs; nothing opens MLflow's SQLite store with sqlite3."""
    offenders = []
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        imports = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        if "sqlite3" in imports or "alembic_version" in text:
            offenders.append(f"{path.name}: reads a database directly")
        if path.name != "model_edge.py" and (
            '[len("models:/")' in text or "get_model_version_by_alias" in text
        ):
            offenders.append(f"{path.name}: resolves a model URI itself")
        if path.name != "model_edge.py" and 'f"models:/{' in text:
            offenders.append(f"{path.name}: writes a model URI itself (model_edge.model_uri)")
    assert offenders == []
