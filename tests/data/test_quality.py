"""Data quality: profile, dataset-level checks, and the HTML report."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from lab2prod.data.conditioning import condition
from lab2prod.data.quality import (
    check_normalized,
    data_quality_report,
    profile,
    quarantine_reasons,
    repeats,
)
from lab2prod.errors import ContractError


@pytest.fixture
def clean(toy_text, contract):
    return condition(toy_text, contract).clean


def test_profile_types_missing_and_ranges(clean, contract):
    table = profile(clean, contract).set_index("column")
    assert table.loc["age", ["role", "type", "min", "max", "median"]].tolist() == [
        "feature",
        "int",
        23.0,
        52.0,
        37.5,
    ]
    assert table.loc["income", "missing_share"] == 0.25
    assert table.loc["home", "categories"] == "rent (2), owner (1)"
    assert table.loc["y", "role"] == "target" and table.loc["id", "role"] == "id"


def test_check_normalized_facts_and_failures(clean, contract):
    assert check_normalized(clean, contract, 1, "toy") == {
        "rows": 4.0,
        "quarantined": 1.0,
        "quarantine_share": 0.2,
        "positive_share": 0.5,
    }
    with pytest.raises(
        ContractError, match="toy: 80.0% of rows were quarantined, above the contract's 50.0%"
    ):
        check_normalized(clean, contract, 16, "toy")
    with pytest.raises(
        ContractError, match="toy: 1 contract violation\\(s\\), first: column 'age' fails"
    ):
        check_normalized(
            clean.assign(age=clean["age"].where(clean.index > 0, 7)), contract, 0, "toy"
        )
    with pytest.raises(ContractError, match="target 'y' has a single class"):
        check_normalized(clean.assign(y="good"), contract, 0, "toy")


def test_quarantine_reasons_counts_each_reason_of_a_row():
    q = pd.DataFrame(
        {
            "source": ["s"] * 3,
            "line": [2, 3, 4],
            "record": ["", "", ""],
            "reason": [
                "age: 1 is below the minimum 18; home: 'x' is not one of a",
                "age: 2 is below the minimum 18",
                "duplicate row (same values as line 2)",
            ],
        }
    )
    assert quarantine_reasons(q).to_dict("list") == {
        "kind": ["age", "home", "duplicate row"],
        "count": [2, 1, 1],
        "example": [
            "age: 1 is below the minimum 18",
            "home: 'x' is not one of a",
            "duplicate row (same values as line 2)",
        ],
    }
    assert quarantine_reasons(q.iloc[0:0]).empty


def test_data_quality_report_is_one_html_file_with_plots(tmp_path, clean, contract):
    q = pd.DataFrame(
        {"source": ["s"], "line": [9], "reason": ["age: 'x' is not a number"], "record": ["e,x"]}
    )
    path = data_quality_report(
        clean,
        contract,
        q,
        tmp_path / "reports" / "data_quality.html",
        sha256="ab" * 32,
        warnings=["column 'color' dropped"],
    )
    html = path.read_text()
    assert "<h1>Data quality: toy</h1>" in html and "column &#39;color&#39; dropped" in html
    assert "<td>age</td><td>feature</td><td>int</td>" in html and "23 .. 52 (median 37.5)" in html
    assert '<td>age</td><td class="num">1</td>' in html  # quarantine by reason
    assert (
        html.count("data:image/png;base64,") == 5
    )  # 1 reasons plot + age, income, home, y (id is not plotted)


def test_repeats_kept_or_set_aside_are_counted_and_reported(toy_text, contract, tmp_path):
    twice = pd.concat([toy_text, toy_text.head(1).assign(_line=6)], ignore_index=True)
    kept = condition(twice, replace(contract, duplicates="keep"))
    # a kept exact repeat repeats its id too: that is no id conflict, and the check passes
    assert check_normalized(
        kept.clean, replace(contract, duplicates="keep"), kept.quarantine, "toy"
    )
    assert repeats(kept.clean, contract, kept.quarantine) == {
        "repeated_rows_kept": 1,
        "rows_grouped": 2,
        "repeated_rows_set_aside": 0,
        "repeated_rows_dropped": 0,
        "repeated_ids_kept": 0,
        "repeated_ids_set_aside": 0,
    }
    dropped = condition(twice, replace(contract, duplicates="drop"))
    assert repeats(dropped.clean, contract, dropped.quarantine)["repeated_rows_dropped"] == 1
    # dropped repeats are not errors: the share against the limit is 0
    facts = check_normalized(dropped.clean, contract, dropped.quarantine, "toy")
    assert (facts["quarantined"], facts["quarantine_share"]) == (0.0, 0.0)
    page = data_quality_report(
        kept.clean, replace(contract, duplicates="keep"), kept.quarantine, tmp_path / "dq.html"
    ).read_text()
    assert '<td class="num" id="repeated-rows-kept">1</td>' in page
    assert '<span class="num" id="rows-grouped">2</span>' in page  # the row and its copy
    assert "<code>duplicates: keep</code>" in page


def test_check_normalized_refuses_an_id_on_two_different_rows(clean, contract):
    clash = pd.concat([clean, clean.head(1).assign(age=31)], ignore_index=True)
    with pytest.raises(
        ContractError, match="toy: 1 row\\(s\\) repeat the id of a different row in column 'id'"
    ):
        check_normalized(clash, contract, 0, "toy")
    assert check_normalized(clash, replace(contract, duplicate_ids="keep"), 0, "toy")["rows"] == 5


def test_columns_not_used_as_features_are_named_with_why(tmp_path, write):
    from lab2prod.data.ingest import ingest, prepare
    from lab2prod.release.model_card import default_limitations

    rows = [f"r{i},{i},note {i * 7919 % 1000},{'ab'[i % 2]}" for i in range(40)]
    path = write("d.csv", "\n".join(["key,x,comment,y", *rows]) + "\n")
    catalog, contract = prepare(path, None, "d", target="y", task="classification", id_column="key")
    assert contract.left_out() == {
        "key": "the id column: it ties each prediction to its row",
        "comment": "free text (not numbers, dates, or at most 30 categories): "
        "declare it category or float in the contract to use it",
    }
    result = ingest(catalog, contract, tmp_path / "lake")
    assert "column 'comment' is not a feature: free text" in "\n".join(result.warnings)
    page = data_quality_report(
        condition(pd.read_csv(path, dtype=str), contract).clean,
        contract,
        pd.DataFrame(columns=["source", "line", "reason", "record"]),
        tmp_path / "dq.html",
    ).read_text()
    assert "<h2>Not used as features</h2>" in page and "<td>comment</td><td>free text" in page
    facts = {"evaluation": {"rows_test": 8}, "data": {"contract": "d.yaml"}}
    assert any(
        line.startswith("Not used as features: key (the id column") and "comment (free text" in line
        for line in default_limitations(contract, facts)
    )
