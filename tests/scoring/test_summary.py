"""The batch page's links: the monitoring verdict and the executed notebooks, where the Lake keeps them."""

from __future__ import annotations

import json

from lab2prod.data.lake import Lake
from lab2prod.scoring.summary import batch_links, summary_path_for


def test_the_batch_page_links_what_the_lake_keeps_relative_to_the_page(tmp_path):
    lake = Lake.of(tmp_path, "lake", "built", "pages")
    page = lake.score_page("b1")
    tasks = ["score", "monitor", "score_summary"]
    # nothing monitored yet, no notebook page: only the page's own task, whose HTML comes last
    assert batch_links(page, lake, "b1", tasks) == {
        "monitoring": None,
        "notebooks": [("score_summary", "notebooks/score_summary-b1.html")],
    }
    status = {"status": "alert", "batch_id": "b1", "retrain": True, "alerts": ["drift"]}
    lake.monitoring_status().parent.mkdir(parents=True)
    lake.monitoring_status().write_text(json.dumps(status))
    lake.notebook_page("monitor-b1").parent.mkdir(parents=True)
    lake.notebook_page("monitor-b1").write_text("")
    links = batch_links(page, lake, "b1", tasks)
    assert links["monitoring"] == {
        "status": "alert",
        "batch_id": "b1",
        "this_batch": True,
        "retrain": True,
        "alerts": ["drift"],
        "href": "monitoring.html",
    }
    assert links["notebooks"] == [
        ("monitor", "notebooks/monitor-b1.html"),
        ("score_summary", "notebooks/score_summary-b1.html"),
    ]
    # another batch's page says the verdict is not about it
    assert (
        batch_links(lake.score_page("b2"), lake, "b2", tasks)["monitoring"]["this_batch"] is False
    )


def test_a_scored_files_facts_lie_beside_it(tmp_path):
    assert summary_path_for(tmp_path / "preds.csv") == tmp_path / "preds.summary.json"
