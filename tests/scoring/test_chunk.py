"""SeenIds (the ids a batch has met, across chunks), a batch scored in chunks of any size, the pool's default size."""

import numpy as np
import pandas as pd
import pytest

from lab2prod.scoring.chunk import SeenIds
from lab2prod.scoring.score import ScoreOptions, default_workers, load_model, score_file

STAMP = "2026-01-01T00:00:00Z"


def _hashes(ids):
    return pd.util.hash_array(np.asarray(ids, dtype=object), categorize=False)


def test_seen_ids_give_the_line_of_the_first_occurrence_across_many_runs():
    seen = SeenIds()
    seen.MERGED = 8  # runs stop merging past 8 ids: a lookup must search every run
    for start in range(0, 40, 5):  # eight chunks of five new ids, lines 2, 3, ...
        ids = [f"id{i}" for i in range(start, start + 5)]
        assert (seen.first_lines(_hashes(ids)) == -1).all()
        seen.add(_hashes(ids), np.arange(start + 2, start + 7))
    assert len(seen.runs) > 2
    assert all(len(h) <= 8 for h, _ in seen.runs[1:])
    found = seen.first_lines(_hashes(["id39", "new", "id0", "id17", "id17"]))
    assert found.tolist() == [41, -1, 2, 19, 19]


def test_seen_ids_without_runs_find_nothing():
    assert SeenIds().first_lines(_hashes(["a", "b"])).tolist() == [-1, -1]


@pytest.mark.parametrize(("cores", "workers"), [(1, 0), (2, 0), (3, 2), (4, 3), (64, 3)])
def test_the_pool_starts_only_beyond_two_cores(cores, workers):
    assert default_workers(cores) == workers


def test_the_same_file_scores_the_same_whatever_the_chunk_size(champion, batch_text, tmp_path):
    """A repeat of an id whose first row was quarantined (a bad value) is a repeat in any chunk."""
    batch = batch_text.head(100).copy()
    ids = batch["applicant_id"].copy()
    batch.loc[3, "Age"] = "abc"  # line 5: the first of its id, quarantined for its value
    batch.loc[[45, 46], "applicant_id"] = ids[
        3
    ]  # a later chunk repeats it, line 48 with a bad value
    batch.loc[46, "Age"] = "abc"
    batch.loc[20, "applicant_id"] = ids[10]  # a repeat inside a 40-row chunk
    batch.loc[80, "applicant_id"] = ids[50]  # a repeat in the next chunk, itself with a bad value
    batch.loc[80, "Seniority"] = "-"
    batch.loc[[30, 90], "applicant_id"] = ""  # no id: quarantined, never a repeat
    src = tmp_path / "damaged.csv"
    batch.to_csv(src, index=False, lineterminator="\n")
    ref, outcomes = load_model(champion["model_uri"]), []
    for chunk_rows in (1, 7, 40, 10_000):
        result = score_file(
            src,
            tmp_path / f"out-{chunk_rows}" / "pred.csv",
            ref,
            champion["contract"],
            options=ScoreOptions(chunk_rows=chunk_rows, scored_at=STAMP, workers=0),
        )
        counts = (result.rows_scored, result.rows_quarantined, result.rows_repeated_id)
        # the text of every column; the probabilities as numbers: the model's arithmetic on 1 row
        # or 100 may differ in the last bit
        out = pd.read_csv(result.output, dtype=str).astype({"probability": "float64"})
        bad = pd.read_csv(result.quarantine, dtype={"line": int, "record": str})
        bad = bad.sort_values("line", kind="stable").reset_index(drop=True)
        outcomes.append((chunk_rows, counts, out, bad))
    _, counts, out, bad = outcomes[-1]  # one chunk: the rule as the module states it
    assert counts == (93, 7, 4)
    assert bad["source"].eq("damaged").all()
    assert bad.set_index("line")["reason"].loc[[5, 22, 47, 48, 82]].tolist() == [
        "Age: 'abc' is not a number",
        f"applicant_id: duplicate id '{ids[10]}' (first on line 12)",
        f"applicant_id: duplicate id '{ids[3]}' (first on line 5)",
        f"applicant_id: duplicate id '{ids[3]}' (first on line 5)",
        f"applicant_id: duplicate id '{ids[50]}' (first on line 52)",
    ]
    for chunk_rows, other_counts, other_out, other_bad in outcomes[:-1]:
        assert other_counts == counts, chunk_rows
        pd.testing.assert_frame_equal(
            other_out, out, rtol=1e-12, obj=f"predictions, {chunk_rows} rows a chunk"
        )
        pd.testing.assert_frame_equal(other_bad, bad, obj=f"quarantine, {chunk_rows} rows a chunk")
