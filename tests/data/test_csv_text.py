"""The CSV text Arrow renders is byte for byte what pandas' to_csv writes."""

from __future__ import annotations

import pandas as pd


def test_csv_bytes_are_what_pandas_writes():
    import numpy as np

    from lab2prod.data.csv_text import csv_bytes

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

    from lab2prod.data import csv_text
    from lab2prod.data.csv_text import csv_bytes
    from lab2prod.data.lake import atomic_write_csv

    monkeypatch.setattr(csv_text, "THREADED_ROWS", 1_000)  # the threaded path on a small frame
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
