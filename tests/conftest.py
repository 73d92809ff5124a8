"""Shared fixtures: tiny literal frames and contracts, and a temporary copy of the project."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from lab2prod.data.contract import contract_from_dict

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def contract_dict():
    return {
        "dataset": "toy", "task": "classification", "id_column": "id",
        "target": {"name": "y", "labels": ["bad", "good"], "positive": "bad"},
        "max_quarantine_fraction": 0.5,
        "columns": {
            "id": {"type": "string", "nullable": False},
            "age": {"type": "int", "nullable": False, "min": 18, "max": 100},
            "income": {"type": "float", "nullable": True, "min": 0},
            "home": {"type": "category", "nullable": True, "categories": ["owner", "rent"]},
            "y": {"type": "category", "nullable": False, "categories": ["bad", "good"]},
        },
    }


@pytest.fixture
def contract(contract_dict):
    return contract_from_dict(contract_dict)


@pytest.fixture
def toy_text():
    """Rows as the adapters hand them over: text cells with line numbers."""
    return pd.DataFrame({
        "_line": [2, 3, 4, 5],
        "id": ["a", "b", "c", "d"],
        "age": ["30", "45", "52", "23"],
        "income": ["100.5", None, "80", "120"],
        "home": ["owner", "rent", None, "rent"],
        "y": ["good", "bad", "good", "bad"],
    }, dtype=object)


@pytest.fixture
def write(tmp_path):
    """Write text (or bytes) to a file in a temporary folder and return its path."""
    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        return path
    return _write


@pytest.fixture(scope="session")
def credit_contract():
    from lab2prod import settings
    return settings.load_contract(PROJECT / "data/contracts/credit.yaml")


def copy_project(dest: Path) -> Path:
    """Copy what a build needs (pipeline, env files, notebooks, sources, contract) into `dest`."""
    for item in ("pipeline.yaml", "env.yaml", "env.test.yaml", "notebooks", "data/sources", "data/contracts"):
        src = PROJECT / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "exploratory"))
        else:
            (dest / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / item)
    return dest


@pytest.fixture
def contract_file(tmp_path, contract_dict):
    """The toy contract written as YAML, for the command line."""
    import yaml

    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(contract_dict), encoding="utf-8")
    return path
