"""SeenIds (the ids a batch has scored, across chunks) and the pool's default size."""

import numpy as np
import pandas as pd
import pytest

from lab2prod.scoring.chunk import SeenIds
from lab2prod.scoring.score import default_workers


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
