"""One reader: scoring reads every format ingest reads, and a bad file gets the same line from both.

The same rows as CSV, gzip CSV, JSON lines, Parquet and Excel score to the same predictions; a
folder, an unreadable file and an empty gzip are one line each; a set of hostile files gives the
same message through `lab2prod score`, `lab2prod validate` and the ingest of a user's own file.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lab2prod import settings
from lab2prod.cli import main
from lab2prod.data.catalog import single_file_catalog
from lab2prod.data.ingest import ingest
from lab2prod.errors import Lab2ProdError
from lab2prod.scoring.chunk import score_chunk
from lab2prod.scoring.score import ScoreOptions, score_file

STAMP = "2026-01-01T00:00:00Z"
CONTRACT_PATH = Path(__file__).resolve().parents[2] / "data/contracts/credit.yaml"


@pytest.fixture(scope="module")
def ref(champion):
    from lab2prod.model_edge import load_model

    return load_model(champion["model_uri"])


def _rows(batch_text: pd.DataFrame) -> pd.DataFrame:
    rows = batch_text.head(120).copy()
    rows.loc[4, "Age"] = "forty"  # quarantined: line 6 of a CSV, line 5 of JSON lines
    return rows


def _write_all(rows: pd.DataFrame, folder: Path) -> dict[str, Path]:
    csv = folder / "batch.csv"
    rows.to_csv(csv, index=False, lineterminator="\n")
    paths = {"csv": csv, "csv.gz": folder / "batch.csv.gz"}
    paths["csv.gz"].write_bytes(gzip.compress(csv.read_bytes()))
    # JSON lines with real numbers where the text is one, as an exporter writes them
    jsonl = folder / "batch.jsonl"
    with open(jsonl, "w", encoding="utf-8") as fh:
        for record in rows.to_dict("records"):
            fh.write(json.dumps({k: _number(v) for k, v in record.items()}) + "\n")
    paths["jsonl"] = jsonl
    typed = pd.read_csv(
        csv, dtype={"applicant_id": str}
    )  # numbers as numbers, 'forty' keeps Age text
    paths["parquet"] = folder / "batch.parquet"
    typed.to_parquet(paths["parquet"], index=False)
    paths["xlsx"] = folder / "batch.xlsx"
    typed.to_excel(paths["xlsx"], index=False)
    return paths


def _number(value: str):
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def test_the_same_rows_score_the_same_in_every_format(champion, ref, batch_text, tmp_path):
    paths = _write_all(_rows(batch_text), tmp_path)
    outputs, quarantines = {}, {}
    for kind, path in paths.items():
        result = score_file(
            path,
            tmp_path / f"out-{kind}.csv",
            ref,
            champion["contract"],
            # the readers are tested here; the pool in test_score.py
            options=ScoreOptions(chunk_rows=50, scored_at=STAMP, workers=0),
        )
        assert (result.rows_in, result.rows_scored, result.rows_quarantined) == (120, 119, 1), kind
        outputs[kind] = pd.read_csv(result.output, dtype=str).drop(columns="input_sha256")
        quarantines[kind] = pd.read_csv(result.quarantine)
    for kind, frame in outputs.items():
        pd.testing.assert_frame_equal(frame, outputs["csv"], obj=kind)  # to the last digit, as text
    # line numbers: a compressed CSV counts the lines of its text; JSON lines have no header line
    lines = {kind: q["line"].tolist() for kind, q in quarantines.items()}
    assert lines == {"csv": [6], "csv.gz": [6], "jsonl": [5], "parquet": [5], "xlsx": [6]}
    assert {q["reason"].iloc[0] for q in quarantines.values()} == {"Age: 'forty' is not a number"}


def test_validate_and_ingest_read_every_format_scoring_reads_with_the_same_lines(
    champion, tmp_path
):
    # the same five files (the target kept): `lab2prod validate` and ingest count the rows and
    # quarantine the bad one on the line scoring names (test above), in every format
    from lab2prod.data.validate import validate_file

    contract = settings.load_contract(CONTRACT_PATH)
    labelled = pd.read_csv(champion["normalized"], dtype=str, keep_default_na=False)
    paths = _write_all(_rows(labelled), tmp_path)
    expected = {"csv": 6, "csv.gz": 6, "jsonl": 5, "parquet": 5, "xlsx": 6}
    for kind, path in paths.items():
        report = validate_file(path, contract)
        assert (report.result.rows_in, len(report.result.clean)) == (120, 119), kind
        assert report.result.quarantine["line"].tolist() == [expected[kind]], kind
        landed = ingest(single_file_catalog(path), contract, tmp_path / f"lake-{kind}")
        assert (landed.rows_in, landed.rows_normalized, landed.rows_quarantined) == (120, 119, 1)
        assert pd.read_csv(landed.quarantine)["line"].tolist() == [expected[kind]], kind


def test_score_chunk_is_the_step_of_every_engine(champion, ref, batch_text):
    contract = champion["contract"]
    empty = score_chunk(batch_text.head(0), ref.model, contract)
    assert empty.predictions.dtypes.astype(str).to_dict() == {
        "applicant_id": "object",
        "probability": "float64",
        "label": "object",
    }
    assert len(empty.predictions) == 0 and len(empty.quarantine) == 0 and empty.rows_in == 0
    rows = batch_text.head(10).copy()
    rows.loc[7, "applicant_id"] = rows.loc[2, "applicant_id"]  # a repeat inside the frame
    chunk = score_chunk(rows, ref.model, contract)
    assert len(chunk.predictions) == 9 and chunk.lines.tolist() == [2, 3, 4, 5, 6, 7, 8, 10, 11]
    assert chunk.quarantine[["line", "reason"]].values.tolist() == [
        [9, f"applicant_id: duplicate id '{rows.loc[2, 'applicant_id']}' (first on line 4)"]
    ]
    with pytest.raises(Lab2ProdError, match=r"missing column 'Age'"):
        score_chunk(rows.drop(columns="Age"), ref.model, contract)


def test_a_batch_drawn_with_replacement_scores_its_first_occurrences(
    champion, ref, batch_text, tmp_path
):
    """Issue 14: ids repeated in every pattern (inside chunks, across chunks, whole chunks) never
    crash; each id is scored once, every later row is quarantined with the first line, and the
    repeats do not count toward the quarantine limit."""
    picks = np.random.default_rng(0).integers(0, 40, 1000)
    batch = batch_text.head(40).iloc[picks].reset_index(drop=True)
    batch = pd.concat([batch, batch.head(64)], ignore_index=True)  # a whole chunk of repeats
    src = tmp_path / "drawn.csv"
    batch.to_csv(src, index=False, lineterminator="\n")
    # in this process: a pool scores the same bytes (test_score's test_every_way_of_sharing...)
    result = score_file(
        src,
        tmp_path / "pred.csv",
        ref,
        champion["contract"],
        options=ScoreOptions(chunk_rows=64, scored_at=STAMP, workers=0),
    )
    out = pd.read_csv(result.output, dtype=str)
    assert sorted(out["applicant_id"]) == sorted(batch["applicant_id"].unique())
    assert result.rows_repeated_id == result.rows_quarantined == len(batch) - len(out)
    bad = pd.read_csv(result.quarantine, dtype={"record": str})
    first = {i: n + 2 for n, i in reversed(list(enumerate(batch["applicant_id"])))}
    expected = [
        f"applicant_id: duplicate id '{i}' (first on line {first[i]})"
        for i in batch["applicant_id"].iloc[bad["line"] - 2]
    ]
    assert bad["reason"].tolist() == expected
    assert bad["line"].is_monotonic_increasing


def _cli_error(args: list[str], capsys) -> str:
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    return err.strip()[len("error: ") :]


def _score_error(path: Path, tmp_path: Path, champion, capsys) -> str:
    return _cli_error(
        [
            "score",
            "--input",
            str(path),
            "--output",
            str(tmp_path / "pred.csv"),
            "--model",
            champion["model_uri"],
            "--contract",
            str(CONTRACT_PATH),
            "--quiet",
        ],
        capsys,
    )


def _validate_error(path: Path, capsys) -> str:
    return _cli_error(
        ["validate", "--input", str(path), "--contract", str(CONTRACT_PATH), "--mode", "score"],
        capsys,
    )


def _ingest_error(path: Path, tmp_path: Path) -> str:
    contract = settings.load_contract(CONTRACT_PATH)
    with pytest.raises(Lab2ProdError) as caught:
        ingest(single_file_catalog(path), contract, tmp_path / "lake")
    return str(caught.value)


def _after_path(message: str, path: Path) -> str:
    """Return the message after the file's name (ingest names the copy it landed in the raw zone)."""
    _, sep, tail = message.partition(f"{path.name}: ")
    assert sep, message
    return tail


HOSTILE = {
    "empty.csv": b"",
    "blank.csv": b"  \n\n",
    "header-only.csv": None,  # the credit header and nothing else
    "latin1.csv": "latin-1",  # a valid first row, then a byte that is not UTF-8 on line 3
    "semicolons.csv": "semicolons",
    "repeated-header.csv": b"applicant_id,Age,age\nA1,30,30\n",
    "empty.csv.gz": gzip.compress(b""),
    "damaged.csv.gz": gzip.compress(b"applicant_id,Age\n" * 100)[:30],
    "damaged.parquet": b"PAR1 not really parquet",
    "bad-bytes.jsonl": b'{"applicant_id": "A1"}\n{"applicant_id": "\xff"}\n',
}


def _hostile(name: str, batch_text: pd.DataFrame, folder: Path) -> Path:
    header = ",".join(batch_text.columns)
    first = ",".join(batch_text.iloc[0])
    content = HOSTILE[name]
    if content is None:
        content = (header + "\n").encode()
    elif content == "latin-1":
        content = (header + "\n" + first + "\n").encode() + first.replace(
            batch_text.iloc[0]["Home"], "r\xe9nt"
        ).encode("latin-1")
    elif content == "semicolons":
        content = (header + "\n" + first + "\n").replace(",", ";").encode()
    path = folder / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_file_gets_the_same_line_from_scoring_validate_and_ingest(
    name, champion, batch_text, tmp_path, capsys
):
    path = _hostile(name, batch_text, tmp_path)
    scored = _score_error(path, tmp_path, champion, capsys)
    assert scored == _validate_error(path, capsys)
    assert _after_path(scored, path) == _after_path(_ingest_error(path, tmp_path), path)
    assert not (tmp_path / "pred.csv").exists()


def test_a_folder_an_unreadable_file_and_an_empty_gzip_are_one_line_each(
    champion, batch_text, tmp_path, capsys
):
    folder = tmp_path / "batches"
    folder.mkdir()
    batch_text.head(5).to_csv(folder / "day-1.csv", index=False)
    assert _score_error(folder, tmp_path, champion, capsys) == (
        f"{folder}: is a folder, not a file: pass one file of it (for example {folder / 'day-1.csv'})"
    )
    assert _validate_error(folder, capsys).startswith(f"{folder}: is a folder, not a file")
    empty = tmp_path / "empty.csv.gz"
    empty.write_bytes(gzip.compress(b""))
    assert _score_error(empty, tmp_path, champion, capsys) == (
        f"{empty}: file is empty: export the table again with a header row and data"
    )
    damaged = tmp_path / "damaged.csv.gz"
    damaged.write_bytes(gzip.compress(b"a,b\n1,2\n" * 50)[:25])
    assert _score_error(damaged, tmp_path, champion, capsys).startswith(
        f"{damaged}: not a readable gzip file ("
    )
    if os.geteuid() != 0:  # root reads any file: the permission case only exists for other users
        locked = folder / "day-1.csv"
        locked.chmod(0)
        assert _score_error(locked, tmp_path, champion, capsys) == (
            f"{locked}: cannot be read (Permission denied): check its permissions"
        )
    odd = tmp_path / "batch.xml"
    odd.write_text("<rows/>")
    assert "unknown suffix '.xml': use .csv, .csv.gz, .jsonl, .parquet or .xlsx" in _score_error(
        odd, tmp_path, champion, capsys
    )


def test_a_contract_that_says_stop_stops_at_the_first_repeated_id(
    champion, ref, batch_text, tmp_path
):
    import dataclasses

    from lab2prod.errors import ContractError

    batch = batch_text.head(100).copy()
    batch.loc[80, "applicant_id"] = batch.loc[3, "applicant_id"]  # chunk 3 repeats a chunk-1 id
    src = tmp_path / "batch.csv"
    batch.to_csv(src, index=False, lineterminator="\n")
    strict = dataclasses.replace(champion["contract"], duplicate_ids="stop")
    with pytest.raises(
        ContractError,
        match=r"batch.csv: line 82: applicant_id: duplicate id '\w+' \(first on line 5\): fix the row",
    ):
        score_file(
            src, tmp_path / "pred.csv", ref, strict, options=ScoreOptions(chunk_rows=40, workers=0)
        )
    assert not (tmp_path / "pred.csv").exists()
