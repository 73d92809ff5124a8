"""The labelled rows kept for retraining: stored by batch, listed with why each counts or not."""

from lab2prod.data.lake import Lake
from lab2prod.monitoring.labelled import describe_inventory, labelled_inventory, store_labelled
from lab2prod.monitoring.retrain import newest_window


def test_the_labelled_batches_are_listed_with_why_each_counts(credit_lake, tmp_path):
    contract, frame, _ = credit_lake
    lake = Lake.of(tmp_path, "lake")
    assert describe_inventory(labelled_inventory(lake, contract, 60), "here", True) == [
        "no labelled batch in here: monitor batches with --labels before retraining"
    ]
    for name, rows in (("old", 40), ("middle", 30), ("new", 50)):
        store_labelled(lake, name, frame.head(rows), contract)
    (lake.labelled() / "0-broken.csv").write_text("applicant_id,Status\na,good\n")
    found = labelled_inventory(lake, contract, 60)
    assert [(b.name.split("-")[-1], b.rows, b.counted) for b in found] == [
        ("broken.csv", 1, False),
        ("old.csv", 40, False),
        ("middle.csv", 30, True),
        ("new.csv", 50, True),
    ]
    assert found[0].why.startswith("lacks Seniority") and "older than the newest 60" in found[1].why
    assert found[2].why == "its newest 10 rows complete the newest 60"
    assert found[3].why == "in the newest 60 rows"
    lines = describe_inventory(found, "here", due=False)
    assert lines[0] == "4 labelled batch(es) in here:"
    assert lines[3].endswith(
        "-middle.csv: 30 rows, would count (its newest 10 rows complete the newest 60)"
    )
    window = newest_window([b.frame for b in found if b.counted], 60)
    assert len(window) == 60
