"""The lake: raw landing is exact and immutable, writes are atomic, manifests record digests."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lab2prod.data import lake

DAY = dt.date(2026, 1, 31)


def test_zone_paths(tmp_path):
    assert lake.normalized_path(tmp_path, "credit") == tmp_path / "normalized" / "credit.csv"
    assert lake.quarantine_path(tmp_path, "credit") == tmp_path / "quarantine" / "credit.csv"
    assert (
        lake.split_path(tmp_path, "credit", "test") == tmp_path / "splits" / "credit" / "test.csv"
    )
    assert lake.contract_path(tmp_path, "credit") == tmp_path / "contracts" / "credit.yaml"


def test_sha256_file_matches_hashlib(write):
    path = write("a.bin", b"\x00\x01" * 1000)
    assert lake.sha256_file(path) == hashlib.sha256(b"\x00\x01" * 1000).hexdigest()


def test_land_raw_keeps_exact_bytes_read_only_and_never_overwrites(tmp_path, write):
    src = write("a.csv", b"id\r\na\r\n")
    landed, digest = lake.land_raw(src, tmp_path / "lake", "apps", DAY)
    assert landed == tmp_path / "lake/raw/apps/2026-01-31/a.csv"
    assert landed.read_bytes() == b"id\r\na\r\n" and digest == lake.sha256_file(src)
    assert (
        not os.access(landed, os.W_OK) or os.geteuid() == 0
    )  # root ignores modes; the mode is still set
    assert landed.stat().st_mode & 0o222 == 0
    again, _ = lake.land_raw(src, tmp_path / "lake", "apps", DAY)
    assert again == landed  # identical content is reused
    src.chmod(0o644)
    src.write_bytes(b"id\na\nb\n")
    other, digest2 = lake.land_raw(src, tmp_path / "lake", "apps", DAY)
    assert other == landed.parent / f"a.{digest2[:12]}.csv"
    assert landed.read_bytes() == b"id\r\na\r\n" and other.read_bytes() == b"id\na\nb\n"


def test_atomic_write_leaves_no_partial_file_on_failure(tmp_path):
    target = tmp_path / "out" / "x.csv"
    lake.atomic_write_text(target, "old\n")

    class Boom(pd.DataFrame):
        def to_csv(self, *args, **kwargs):
            with open(args[0], "w") as fh:
                fh.write("half")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        lake.atomic_write_csv(target, Boom({"a": [1]}))
    assert target.read_text() == "old\n"
    assert [p.name for p in target.parent.iterdir()] == ["x.csv"]


def test_atomic_write_csv_normalized_conventions(tmp_path):
    frame = pd.DataFrame({"d": pd.to_datetime(["2024-01-31"]), "x": [1.5], "s": [None]})
    path = lake.atomic_write_csv(tmp_path / "n.csv", frame)
    assert path.read_bytes() == b"d,x,s\n2024-01-31T00:00:00,1.5,\n"


def test_write_manifest_records_sources_and_outputs(tmp_path):
    path = lake.write_manifest(
        tmp_path, "credit", [{"source": "a", "sha256": "00"}], {"normalized": {"rows": 3}}
    )
    data = json.loads(path.read_text())
    assert path.parent == tmp_path / "manifests" and path.name.startswith("credit-")
    assert data["sources"] == [{"source": "a", "sha256": "00"}] and data["outputs"] == {
        "normalized": {"rows": 3}
    }
    assert lake.latest_manifest(tmp_path, "credit") == path


def test_latest_manifest_missing_names_what_to_do(tmp_path):
    from lab2prod.errors import SourceError

    with pytest.raises(SourceError, match="no ingest manifest for 'credit'.*run the ingest step"):
        lake.latest_manifest(tmp_path, "credit")


def test_csv_bytes_are_what_pandas_writes():
    import numpy as np

    from lab2prod.data.lake import csv_bytes

    frame = pd.DataFrame(
        {
            "id": pd.Series(["a", None, 'q,"r', "line\nbreak"], dtype="str"),
            "n": pd.array([1, None, -3, 0], dtype="Int64"),
            "x": [1.0, np.nan, 2.5, -0.0],
            "when": pd.to_datetime(
                ["2024-01-31", None, "2024-02-03 04:05:06", "1999-12-31"], format="mixed"
            ),
            "note": pd.Series(["u", "v", None, "w"], dtype=object),
        }
    )
    expected = frame.to_csv(index=False, lineterminator="\n", date_format="%Y-%m-%dT%H:%M:%S")
    assert csv_bytes(frame) == expected.encode("utf-8")
    assert csv_bytes(frame.head(0)) == b"id,n,x,when,note\n"
    # what Arrow would render otherwise, pandas writes: exponents, booleans, one column
    assert csv_bytes(frame.assign(x=[1e-7, 1.0, 2.0, 3.0])) is None
    assert csv_bytes(frame.assign(b=[True, False, True, False])) is None
    assert csv_bytes(frame[["id"]]) is None


def test_whole_floats_and_plain_text_are_written_as_pandas_writes_them(tmp_path, monkeypatch):
    """Past THREADED_ROWS rows the columns render on threads: whole floats from their digits, text unquoted."""
    import numpy as np

    from lab2prod.data import lake
    from lab2prod.data.lake import atomic_write_csv, csv_bytes

    monkeypatch.setattr(lake, "THREADED_ROWS", 1_000)  # the threaded path on a small frame
    n = 1_200
    whole = np.where(np.arange(n) % 7 == 0, np.nan, np.arange(n) * 1000.0)
    whole[3] = 1e15  # Python's repr writes it without an exponent, as 1000000000000000.0
    frame = pd.DataFrame(
        {
            "id": pd.Series([f"r{i}" for i in range(n)], dtype="str"),
            "whole": whole,
            "quarter": np.arange(n) / 4,
            "signed_zero": np.where(np.arange(n) == 5, -0.0, 1.0),
            "n": pd.array(np.arange(n), dtype="Int64"),
        }
    )
    expected = frame.to_csv(index=False, lineterminator="\n", date_format="%Y-%m-%dT%H:%M:%S")
    assert csv_bytes(frame) == expected.encode("utf-8")
    assert atomic_write_csv(tmp_path / "t.csv", frame).read_bytes() == expected.encode("utf-8")
    # one cell that needs quotes, and the whole column is written the csv module's way
    quoted = frame.assign(id=frame["id"].where(frame.index != 9, 'a "b", c'))
    assert csv_bytes(quoted) == quoted.to_csv(index=False, lineterminator="\n").encode("utf-8")


# ---- the Lake: every path of a project, the same as the pipelines' products


PROJECT = Path(__file__).resolve().parents[2]


def _pipeline(name: str, env_file: str, root: Path) -> dict:
    """Return `name` loaded as YAML with the placeholders of `env_file` (and {{root}}) filled in."""
    env = yaml.safe_load((PROJECT / env_file).read_text())
    text = (PROJECT / name).read_text()
    for key, value in {**env, "root": str(root)}.items():
        if not isinstance(value, str):  # a list or mapping replaces the quoted placeholder whole
            text = text.replace('"{{' + key + '}}"', json.dumps(value))
        text = text.replace("{{" + key + "}}", str(value))
    return yaml.safe_load(text)


@pytest.mark.parametrize(
    "pipeline, env_file", [("pipeline.yaml", "env.yaml"), ("pipeline.score.yaml", "env.score.yaml")]
)
def test_every_product_of_the_pipelines_is_where_the_lake_puts_it(pipeline, env_file, tmp_path):
    from lab2prod.data.lake import Lake

    env = yaml.safe_load((PROJECT / env_file).read_text())
    spec = _pipeline(pipeline, env_file, tmp_path)
    lake = Lake.of(tmp_path, env["lake"], env["products"], env["reports"])
    dataset = yaml.safe_load((PROJECT / "env.yaml").read_text())["dataset"]
    assert len(spec["tasks"]) >= 3
    for task in spec["tasks"]:
        name = task["name"] + "0" if task["name"].endswith("-") else task["name"]
        declared = {k: Path(v) for k, v in task["product"].items()}
        if task["name"].endswith("-"):  # Ploomber appends the grid cell's index to each product
            declared = {k: p.with_name(f"{p.stem}-0{p.suffix}") for k, p in declared.items()}
        made = lake.task_products(name, dataset, env.get("batch_name", ""))
        assert declared == made, name


def test_the_lake_refuses_a_task_it_does_not_know(tmp_path):
    from lab2prod.data.lake import Lake

    with pytest.raises(ValueError, match="'fit' is not a step of the pipelines"):
        Lake.of(tmp_path).task_products("fit", "d")


def test_the_lake_orders_grid_cells_by_index_and_takes_folders_from_the_root(tmp_path):
    from lab2prod.data.lake import Lake

    lake = Lake.of(tmp_path, "lake", "built", "/abs/reports")
    assert lake.train_summaries() == [tmp_path / "built/train.json"]  # run alone: one cell
    (tmp_path / "built").mkdir()
    for i in (10, 2, 0):
        (tmp_path / "built" / f"train-{i}.json").write_text("{}")
    assert [p.stem for p in lake.train_summaries()] == ["train-0", "train-2", "train-10"]
    assert lake.split("d", "test") == tmp_path / "lake/splits/d/test.csv"
    assert lake.report("index.html") == Path("/abs/reports/index.html")
