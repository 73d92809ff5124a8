"""Scoring on Dask writes the same predictions and quarantine, to the byte, as in-process scoring."""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lab2prod.cli import main
from lab2prod.errors import ConfigError, SourceError
from lab2prod.scoring.dask_engine import score_with_dask
from lab2prod.scoring.score import ScoreOptions, load_model, score_file

pytestmark = pytest.mark.integration  # starts Dask clusters: over a minute on 2 cores

STAMP = "2026-01-01T00:00:00Z"
CONTRACT = Path(__file__).resolve().parents[2] / "data/contracts/credit.yaml"


@pytest.fixture(scope="module")
def ref(champion):
    return load_model(champion["model_uri"])


@pytest.fixture(scope="module")
def scheduler():
    """A LocalCluster of two worker processes on 127.0.0.1, shared by the module's tests."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        protocol="tcp://",
        dashboard_address=None,
    ) as cluster:
        yield cluster.scheduler_address


def _hostile_csv(batch_text: pd.DataFrame, path: Path) -> Path:
    """The batch with bad cells, a ragged row, an id repeated in a later chunk and a run of blank lines."""
    rows = batch_text.copy()
    rows.loc[4, "Age"] = "forty"
    rows.loc[9, "Home"] = "castle"
    rows.loc[150, "applicant_id"] = rows.loc[3, "applicant_id"]
    lines = rows.to_csv(index=False, lineterminator="\n").splitlines()
    lines.insert(30, "A99999,1,rent")
    lines[100:100] = [""] * 45  # more blank lines than a chunk: a piece with no row at all
    path.write_text("\n".join(lines) + "\n")
    return path


def _local(src: Path, out: Path, ref, contract, chunk_rows: int):
    return score_file(
        src,
        out,
        ref,
        contract,
        options=ScoreOptions(chunk_rows=chunk_rows, scored_at=STAMP, workers=0),
    )


def test_a_csv_scores_on_dask_as_it_does_here(champion, ref, batch_text, tmp_path, scheduler):
    src = _hostile_csv(batch_text, tmp_path / "batch.csv")
    here = _local(src, tmp_path / "here.csv", ref, champion["contract"], 40)
    there = score_with_dask(
        src,
        tmp_path / "there.csv",
        ref,
        champion["contract"],
        options=ScoreOptions(chunk_rows=40, scored_at=STAMP),
        scheduler=scheduler,
    )
    assert there.output.read_bytes() == here.output.read_bytes()
    assert there.quarantine.read_bytes() == here.quarantine.read_bytes()
    assert (there.rows_in, there.rows_scored, there.rows_quarantined) == (
        here.rows_in,
        here.rows_scored,
        here.rows_quarantined,
    )
    reasons = pd.read_csv(there.quarantine)["reason"].tolist()
    assert any("duplicate id" in r for r in reasons) and len(reasons) == 4
    assert there.input_sha256 == here.input_sha256


def test_parquet_and_a_folder_of_partitions_with_empty_ones_score_as_here(
    champion, ref, batch_text, tmp_path, scheduler
):
    table = pa.Table.from_pandas(batch_text, preserve_index=False)
    whole = tmp_path / "batch.parquet"
    pq.write_table(table, whole, row_group_size=50)  # pieces of 40 rows straddle row groups
    here = _local(whole, tmp_path / "here.csv", ref, champion["contract"], 40)
    there = score_with_dask(
        whole,
        tmp_path / "there.csv",
        ref,
        champion["contract"],
        options=ScoreOptions(chunk_rows=40, scored_at=STAMP),
        scheduler=scheduler,
    )
    assert there.output.read_bytes() == here.output.read_bytes()
    assert there.quarantine.read_bytes() == here.quarantine.read_bytes()
    # partitions of 80, 0, 120, 0 and 100 rows: the pieces fall where they fall in the whole file
    folder = tmp_path / "partitions"
    folder.mkdir()
    start = 0
    for i, rows in enumerate((80, 0, 120, 0, 100)):
        pq.write_table(table.slice(start, rows), folder / f"part-{i}.parquet")
        start += rows
    parts = score_with_dask(
        folder,
        tmp_path / "parts.csv",
        ref,
        champion["contract"],
        options=ScoreOptions(chunk_rows=40, scored_at=STAMP),
        scheduler=scheduler,
    )
    by_parts, by_file = pd.read_csv(parts.output, dtype=str), pd.read_csv(here.output, dtype=str)
    # one difference only: the input's digest is that of the partitions' bytes, not of batch.parquet
    assert (by_parts["input_sha256"] != by_file["input_sha256"]).all()
    pd.testing.assert_frame_equal(
        by_parts.drop(columns="input_sha256"), by_file.drop(columns="input_sha256")
    )
    assert parts.rows_scored == len(batch_text)


def test_the_command_scores_on_a_local_cluster_of_its_own(champion, batch_text, tmp_path, capsys):
    src = tmp_path / "batch.csv"
    batch_text.to_csv(src, index=False, lineterminator="\n")
    common = [
        "--input",
        str(src),
        "--model",
        champion["model_uri"],
        "--contract",
        str(CONTRACT),
        "--scored-at",
        STAMP,
        "--chunk-rows",
        "64",
        "--quiet",
    ]
    assert main(["score", *common, "--output", str(tmp_path / "local.csv"), "--workers", "0"]) == 0
    assert (
        main(
            [
                "score",
                *common,
                "--output",
                str(tmp_path / "dask.csv"),
                "--engine",
                "dask",
                "--workers",
                "2",
            ]
        )
        == 0
    )
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert "300 scored" in capsys.readouterr().out


def test_an_unreachable_scheduler_is_one_line_and_leaves_no_output(
    champion, ref, batch_text, tmp_path
):
    src = tmp_path / "batch.csv"
    batch_text.to_csv(src, index=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConfigError, match=rf"Dask scheduler tcp://127.0.0.1:{port} is unreachable"):
        score_with_dask(
            src, tmp_path / "p.csv", ref, champion["contract"], scheduler=f"tcp://127.0.0.1:{port}"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch.csv"]


def test_a_folder_without_parquet_files_is_refused(champion, ref, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="a folder without .parquet files"):
        score_with_dask(tmp_path / "empty", tmp_path / "p.csv", ref, champion["contract"])


def test_a_scheduler_without_the_dask_engine_is_a_usage_error(tmp_path, capsys):
    code = main(["score", "--input", "x.csv", "--output", "y.csv", "--scheduler", "tcp://h:1"])
    assert code == 2
    assert "--scheduler is a Dask scheduler's address: add --engine dask" in capsys.readouterr().err
