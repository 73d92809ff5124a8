"""Streaming scoring against a real registered model in a temporary MLflow store."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lab2prod.cli import main
from lab2prod.data.conditioning import read_normalized
from lab2prod.errors import ContractError, RegistryError, SourceError
from lab2prod.modeling.estimators import load_model_dir
from lab2prod.modeling.features import model_frame
from lab2prod.modeling.predict import predict
from lab2prod.scoring.score import (
    LINEAGE_COLUMNS,
    ScoreOptions,
    load_model,
    quarantine_path_for,
    score_file,
)

STAMP = "2026-01-01T00:00:00Z"
CONTRACT_PATH = Path(__file__).resolve().parents[2] / "data/contracts/credit.yaml"


@pytest.fixture(scope="module")
def ref(champion):
    return load_model(champion["model_uri"])


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False, lineterminator="\n")
    return path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_scores_every_row_with_lineage(champion, ref, batch_text, tmp_path):
    src = _write_csv(batch_text, tmp_path / "batch.csv")
    result = score_file(
        src,
        tmp_path / "out" / "pred.csv",
        ref,
        champion["contract"],
        # in this process: test_every_way_of_sharing_the_work_... covers the pool
        options=ScoreOptions(chunk_rows=64, scored_at=STAMP, workers=0),
    )
    out = pd.read_csv(result.output, dtype={"model_version": str})
    assert list(out.columns) == ["applicant_id", "probability", "label", *LINEAGE_COLUMNS]
    assert result.rows_in == result.rows_scored == len(out) == 300 and result.rows_quarantined == 0
    assert out["applicant_id"].tolist() == batch_text["applicant_id"].tolist()
    # the same model on the same rows read the training way
    typed = read_normalized(champion["normalized"], champion["contract"]).head(300)
    expected = predict(ref.model, model_frame(typed, champion["contract"]), "classification")
    np.testing.assert_allclose(out["probability"].to_numpy(), expected, rtol=1e-12)
    assert (out["label"] == np.where(expected >= 0.5, "bad", "good")).all()
    assert set(out["model_name"]) == {"credit-risk"} and set(out["model_version"]) == {
        champion["version"]
    }
    assert set(out["run_id"]) == {champion["run_id"]} and set(out["scored_at"]) == {STAMP}
    import hashlib

    assert set(out["input_sha256"]) == {hashlib.sha256(src.read_bytes()).hexdigest()}
    assert pd.read_csv(result.quarantine).empty


def test_chunk_size_and_format_do_not_change_predictions(champion, ref, batch_text, tmp_path):
    src = _write_csv(batch_text, tmp_path / "batch.csv")
    # in this process: the same bytes in or out of it is test_every_way_of_sharing_the_work_...
    small = score_file(
        src,
        tmp_path / "a.csv",
        ref,
        champion["contract"],
        options=ScoreOptions(chunk_rows=40, scored_at=STAMP, workers=0),
    )
    large = score_file(
        src,
        tmp_path / "c.csv",
        ref,
        champion["contract"],
        options=ScoreOptions(chunk_rows=10_000, scored_at=STAMP),
    )
    a, b = pd.read_csv(small.output), pd.read_csv(large.output)
    assert a.drop(columns="probability").equals(b.drop(columns="probability"))
    # BLAS sums in blocks that depend on the chunk's size: the last bits may differ, nothing more
    np.testing.assert_allclose(a["probability"], b["probability"], rtol=1e-12)
    batch_text.to_parquet(tmp_path / "batch.parquet", index=False)
    parquet = score_file(
        tmp_path / "batch.parquet",
        tmp_path / "d.parquet",
        ref,
        champion["contract"],
        options=ScoreOptions(chunk_rows=40, scored_at=STAMP, workers=0),
    )
    from_parquet = pq.read_table(parquet.output).to_pandas()
    from_csv = pd.read_csv(small.output)
    np.testing.assert_array_equal(
        from_parquet["probability"].to_numpy(), from_csv["probability"].to_numpy()
    )
    assert from_parquet["applicant_id"].tolist() == from_csv["applicant_id"].tolist()


@pytest.mark.readiness("monitor 2")
def test_hostile_rows_are_quarantined_with_line_and_reason(champion, ref, batch_text, tmp_path):
    rows = batch_text.copy()
    rows.loc[4, "Age"] = "forty"  # line 6: a word in a numeric column
    rows.loc[9, "Home"] = "castle"  # line 11: not a known category
    text = _write_csv(rows, tmp_path / "raw.csv").read_text().splitlines()
    text.insert(20, "")  # a blank line (line 21) is skipped, not counted
    text.insert(30, "A99999,1,rent")  # line 31: a truncated row
    src = tmp_path / "hostile.csv"
    src.write_text("\n".join(text) + "\n")
    result = score_file(
        src,
        tmp_path / "pred.csv",
        ref,
        champion["contract"],
        options=ScoreOptions(chunk_rows=64, scored_at=STAMP, workers=0),
    )
    quarantine = pd.read_csv(result.quarantine).sort_values("line")
    assert quarantine["line"].tolist() == [6, 11, 31]
    assert "Age: 'forty' is not a number" in quarantine["reason"].iloc[0]
    assert "Home: 'castle' is not one of ignore, other, owner" in quarantine["reason"].iloc[1]
    assert quarantine["reason"].iloc[2] == "truncated: expected 14 fields, found 3"
    scored = pd.read_csv(result.output)
    assert result.rows_quarantined == 3 and result.rows_scored == len(scored) == 298
    assert rows.loc[4, "applicant_id"] not in set(scored["applicant_id"])
    # lines after the blank and the ragged line keep their physical numbers
    later = rows.copy()
    later.loc[200, "Seniority"] = "many"  # data row 201 -> line 202, +1 blank, +1 ragged = line 204
    text = _write_csv(later, tmp_path / "raw2.csv").read_text().splitlines()
    text.insert(20, "")
    text.insert(30, "A99999,1,rent")
    src.write_text("\n".join(text) + "\n")
    again = score_file(
        src,
        tmp_path / "pred2.csv",
        ref,
        champion["contract"],
        options=ScoreOptions(chunk_rows=64, scored_at=STAMP, workers=0),
    )
    lines = pd.read_csv(again.quarantine)["line"].tolist()
    assert 204 in lines and src.read_text().splitlines()[203].split(",")[1] == "many"


def test_unusable_input_leaves_no_output(champion, ref, batch_text, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    src = _write_csv(batch_text.drop(columns=["Age"]), tmp_path / "no_age.csv")
    with pytest.raises(ContractError, match=r"no_age.csv: missing column 'Age'"):
        score_file(
            src,
            out_dir / "pred.csv",
            ref,
            champion["contract"],
            options=ScoreOptions(scored_at=STAMP),
        )
    assert _leftovers(out_dir) == []
    bad = batch_text.copy()
    bad.loc[: len(bad) // 4, "Income"] = "n/a?"
    src = _write_csv(bad, tmp_path / "mostly_bad.csv")
    with pytest.raises(
        ContractError, match=r"mostly_bad.csv: 76 of 300 rows \(25.3%\) break the contract.*Income"
    ):
        score_file(
            src,
            out_dir / "pred.csv",
            ref,
            champion["contract"],
            options=ScoreOptions(chunk_rows=50, scored_at=STAMP),
        )
    assert _leftovers(out_dir) == []
    with pytest.raises(SourceError, match=r"missing.csv: file not found"):
        score_file(tmp_path / "missing.csv", out_dir / "pred.csv", ref, champion["contract"])
    with pytest.raises(SourceError, match=r"unknown output suffix '.xlsx'"):
        score_file(tmp_path / "no_age.csv", out_dir / "pred.xlsx", ref, champion["contract"])
    (tmp_path / "latin1.csv").write_bytes(
        (",".join(batch_text.columns) + "\n" + ",".join(batch_text.iloc[0]) + "\n").encode()
        + ",".join(
            [
                "Z1",
                "1",
                "rent",
                "60",
                "30",
                "married",
                "fixed",
                "73",
                "129",
                "800",
                "846",
                "no",
                "0",
                "0",
            ]
        )
        .replace("rent", "r\xe9nt")
        .encode("latin-1")
        + b"\n"
    )
    with pytest.raises(
        SourceError, match=r"latin1.csv: line 3: byte 0xe9 is not valid utf-8: re-export as UTF-8"
    ):
        score_file(tmp_path / "latin1.csv", out_dir / "pred.csv", ref, champion["contract"])
    assert _leftovers(out_dir) == []


def test_unknown_model_is_a_registry_error(champion, batch_text, tmp_path):
    src = _write_csv(batch_text, tmp_path / "batch.csv")
    with pytest.raises(RegistryError, match=r"cannot load model models:/nobody@champion"):
        score_file(src, tmp_path / "pred.csv", "models:/nobody@champion", champion["contract"])
    assert not (tmp_path / "pred.csv").exists()


def test_cli_scores_and_reports_quarantine(champion, batch_text, tmp_path, capsys):
    rows = batch_text.copy()
    rows.loc[2, "Expenses"] = "lots"
    src = _write_csv(rows, tmp_path / "batch.csv")
    out = tmp_path / "pred.parquet"
    code = main(
        [
            "score",
            "--input",
            str(src),
            "--output",
            str(out),
            "--model",
            champion["model_uri"],
            "--contract",
            str(CONTRACT_PATH),
            "--chunk-rows",
            "100",
            "--scored-at",
            STAMP,
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "300 rows in, 299 scored" in captured.out and "1 quarantined" in captured.out
    assert pq.read_table(out).num_rows == 299
    quarantine = pd.read_csv(quarantine_path_for(out))
    assert quarantine["line"].tolist() == [4]
    assert quarantine["reason"].iloc[0].startswith("Expenses: 'lots' is not a number")


def test_cli_exit_2_on_unusable_input(champion, batch_text, tmp_path, capsys):
    src = tmp_path / "empty.csv"
    src.write_text(",".join(batch_text.columns) + "\n")
    out = tmp_path / "pred.csv"
    code = main(
        [
            "score",
            "--input",
            str(src),
            "--output",
            str(out),
            "--model",
            champion["model_uri"],
            "--contract",
            str(CONTRACT_PATH),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert (
        err.startswith("error: ")
        and "empty.csv: has a header but no data rows: check the export" in err
        and len(err.strip().splitlines()) == 1
    )
    assert _leftovers(tmp_path) == ["empty.csv"]


def test_a_model_uri_is_loaded_and_scores_like_a_loaded_model(
    champion, ref, batch_text, tmp_path, monkeypatch
):
    src = _write_csv(batch_text, tmp_path / "batch.csv")
    own = tmp_path / "tmp"  # this test's temporary folder: others' runs share the system's
    own.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(own))
    by_uri = score_file(
        src,
        tmp_path / "a.csv",
        champion["model_uri"],
        champion["contract"],
        options=ScoreOptions(scored_at=STAMP, tracking_uri=champion["tracking_uri"]),
    )
    by_ref = score_file(
        src, tmp_path / "b.csv", ref, champion["contract"], options=ScoreOptions(scored_at=STAMP)
    )
    assert by_uri.output.read_bytes() == by_ref.output.read_bytes()
    assert (by_uri.model_name, by_uri.model_version, by_uri.run_id, by_uri.threshold) == (
        "credit-risk",
        champion["version"],
        champion["run_id"],
        0.5,
    )
    assert list(own.iterdir()) == []  # the model copies were made here, and removed


def _model_folder(champion, tmp_path: Path) -> Path:
    from lab2prod import model_edge

    return Path(
        model_edge.fetch_model(champion["model_uri"], tmp_path / "model", champion["tracking_uri"])[
            "path"
        ]
    )


def test_a_model_cannot_widen_the_skops_allow_list(champion, tmp_path):
    folder = _model_folder(champion, tmp_path)
    assert load_model_dir(folder).predict_proba  # as registered, it loads
    mlmodel = folder / "MLmodel"
    text = mlmodel.read_text()
    indent = re.search(r"\n( *)- numpy.dtype", text).group(1)
    mlmodel.write_text(text.replace("- numpy.dtype", f"- numpy.dtype\n{indent}- builtins.eval"))
    with pytest.raises(
        RegistryError, match=r"asks to trust builtins.eval, which no lab2prod estimator needs"
    ):
        load_model_dir(folder)


def test_a_pickled_model_is_refused(champion, tmp_path):
    # a pyfunc whose model is a cloudpickled object, not the skops pipeline artifact
    folder = _model_folder(champion, tmp_path)
    mlmodel = folder / "MLmodel"
    mlmodel.write_text(mlmodel.read_text().replace("pipeline:", "python_model.pkl:"))
    with pytest.raises(
        RegistryError,
        match=r"neither lab2prod's model \(a skops 'pipeline' artifact\) nor a scikit-learn model "
        r"saved with skops \(format None\)",
    ):
        load_model_dir(folder)


# here and in a pool of two: the ids are checked here, in order, wherever a chunk was scored
# (the pool starts worker processes that import the model's libraries: integration)
@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.integration)])
def test_an_id_repeated_in_a_later_chunk_is_quarantined(
    champion, ref, batch_text, tmp_path, workers
):
    batch = batch_text.head(100).copy()
    first_id = batch["applicant_id"].iloc[3]
    batch.loc[batch.index[70], "applicant_id"] = (
        first_id  # chunk 2 of 40-row chunks repeats a chunk-1 id
    )
    batch.loc[batch.index[90], "applicant_id"] = first_id  # and chunk 3 again
    src = _write_csv(batch, tmp_path / "batch.csv")
    result = score_file(
        src,
        tmp_path / "pred.csv",
        ref,
        champion["contract"],
        options=ScoreOptions(chunk_rows=40, scored_at=STAMP, workers=workers),
    )
    out = pd.read_csv(result.output, dtype=str)
    assert (
        out["applicant_id"].tolist().count(first_id) == 1 and len(out) == 98 == result.rows_scored
    )
    bad = pd.read_csv(result.quarantine, dtype={"line": int})
    assert bad["line"].tolist() == [72, 92] and result.rows_quarantined == 2
    assert (
        bad["reason"].tolist() == [f"applicant_id: duplicate id '{first_id}' (first on line 5)"] * 2
    )
    assert bad["record"].iloc[0].startswith(f"{first_id},")


def test_a_semicolon_file_needs_and_takes_its_delimiter(
    champion, ref, batch_text, tmp_path, capsys
):
    src = tmp_path / "batch.csv"
    batch_text.head(50).to_csv(src, index=False, sep=";", lineterminator="\n")
    with pytest.raises(
        SourceError, match=r"header reads as one column but contains ';': set the delimiter to ';'"
    ):
        score_file(src, tmp_path / "a.csv", ref, champion["contract"])
    assert not (tmp_path / "a.csv").exists()
    semicolon = score_file(
        src,
        tmp_path / "b.csv",
        ref,
        champion["contract"],
        options=ScoreOptions(scored_at=STAMP),
        delimiter=";",
    )
    comma = score_file(
        _write_csv(batch_text.head(50), tmp_path / "c.csv"),
        tmp_path / "c-out.csv",
        ref,
        champion["contract"],
        options=ScoreOptions(scored_at=STAMP),
    )
    assert semicolon.rows_scored == 50
    assert (
        pd.read_csv(semicolon.output)
        .drop(columns="input_sha256")
        .equals(pd.read_csv(comma.output).drop(columns="input_sha256"))
    )
    code = main(
        [
            "score",
            "--input",
            str(src),
            "--output",
            str(tmp_path / "d.csv"),
            "--model",
            champion["model_uri"],
            "--contract",
            str(CONTRACT_PATH),
            "--delimiter",
            ";",
            "--quiet",
        ]
    )
    assert code == 0 and len(pd.read_csv(tmp_path / "d.csv")) == 50


def test_csv_chunks_read_like_the_whole_file(tmp_path):
    from lab2prod.data import sources

    lines = ["id,a,b", "r1,1,x", "r2,2,y", "", "r3,3", "r4,4,z,extra", "r5,5,w", "r6,6,v"]
    src = tmp_path / "crlf.csv"
    src.write_bytes("\r\n".join(lines).encode())  # Windows line ends, none after the last row
    pieces = list(sources.iter_csv(src, "crlf", chunk_rows=2))
    whole = sources.read_csv(src, "crlf")
    assert (
        [i for p in pieces for i in p.rows["_line"]] == whole.rows["_line"].tolist() == [2, 3, 7, 8]
    )
    assert [i for p in pieces for i in p.rows["id"]] == whole.rows["id"].tolist()
    ragged = sorted((r["line"], r["reason"]) for p in pieces for r in p.rejected)
    assert (
        ragged
        == sorted((r["line"], r["reason"]) for r in whole.rejected)
        == [
            (5, "truncated: expected 3 fields, found 2"),
            (6, "too many fields: expected 3 fields, found 4"),
        ]
    )


@pytest.mark.integration  # a pool of worker processes, and the model fetched from the store by its URI
def test_every_way_of_sharing_the_work_writes_the_same_bytes(champion, ref, batch_text, tmp_path):
    # 30 pieces of 10 rows: some are predicted by the predictor process, some by this one
    src = _write_csv(batch_text, tmp_path / "batch.csv")
    outputs = [
        score_file(
            src,
            tmp_path / f"in-{workers}.csv",
            ref,
            champion["contract"],
            options=ScoreOptions(chunk_rows=10, scored_at=STAMP, workers=workers),
        ).output.read_bytes()
        for workers in (0, 2)  # none, and a pool (one worker takes the same path as two)
    ]
    by_uri = score_file(
        src,
        tmp_path / "by-uri.csv",
        champion["model_uri"],
        champion["contract"],
        # workers=0: the model found by its URI; the pools are the three runs above
        options=ScoreOptions(
            chunk_rows=10, scored_at=STAMP, workers=0, tracking_uri=champion["tracking_uri"]
        ),
    )
    assert outputs[0] == outputs[1] == by_uri.output.read_bytes()
    assert len(pd.read_csv(by_uri.output)) == len(batch_text)


def test_the_progress_lines_say_each_count_once(champion, ref, batch_text, tmp_path, monkeypatch):
    import itertools

    from lab2prod.scoring import score

    clock = itertools.count(
        0.0, 2.0
    )  # every reading of the clock two seconds later: a report per chunk
    monkeypatch.setattr(score.time, "perf_counter", lambda: next(clock))
    src = _write_csv(batch_text, tmp_path / "batch.csv")
    lines = []
    for chunk_rows in (1000, 100):  # one chunk: one line, not the same line twice; three: one each
        lines.append([])
        score_file(
            src,
            tmp_path / f"out-{chunk_rows}" / "pred.csv",
            ref,
            champion["contract"],
            options=ScoreOptions(chunk_rows=chunk_rows, scored_at=STAMP, workers=0),
            progress=lambda rows, bad, seconds, seen=lines[-1]: seen.append(rows),
        )
    assert lines == [[300], [100, 200, 300]]
