import numpy as np
import pandas as pd
import pytest

from lab2prod.data.contract import contract_from_dict
from lab2prod.modeling import features


@pytest.mark.readiness("data 7")
def test_model_frame_types_numbers_and_categories(contract):
    frame = pd.DataFrame(
        {
            "id": ["a", "b"],
            "age": pd.array([30, None], dtype="Int64"),
            "income": [1.5, np.nan],
            "home": ["owner", None],
            "y": ["good", "bad"],
        }
    )
    out = features.model_frame(frame, contract)
    assert list(out.columns) == ["age", "income", "home"]
    assert out["age"].dtype == "float64" and np.isnan(out["age"].iloc[1])
    assert out["home"].tolist()[0] == "owner" and pd.isna(out["home"].iloc[1])
    assert "id" not in out and "y" not in out


@pytest.mark.readiness("data 7")
def test_model_frame_turns_dates_into_numbers(contract_dict):
    contract_dict["columns"]["opened"] = {"type": "date"}
    contract = contract_from_dict(contract_dict)
    frame = pd.DataFrame(
        {
            "id": ["a"],
            "age": [30],
            "income": [1.0],
            "home": ["rent"],
            "y": ["good"],
            "opened": pd.to_datetime(["2024-03-15"]),
        }
    )
    out = features.model_frame(frame, contract)
    assert out.loc[0, ["opened__year", "opened__month", "opened__dayofweek"]].tolist() == [
        2024.0,
        3.0,
        4.0,
    ]
    assert "opened" not in out.columns
    assert "opened__year" in features.model_columns(contract)["numeric"]


@pytest.mark.readiness("data 7")
def test_model_frame_missing_feature_is_named(contract):
    with pytest.raises(KeyError, match="income"):
        features.model_frame(pd.DataFrame({"age": [1], "home": ["rent"]}), contract)


@pytest.mark.parametrize("bad_rows", [[], [1, 3]])
def test_model_frame_of_conditioned_arrays_is_the_model_frame_of_the_clean_frame(
    contract_dict, bad_rows
):
    from lab2prod.data.conditioning import condition

    contract_dict["columns"]["opened"] = {"type": "date"}
    contract_dict["max_quarantine_fraction"] = 1.0
    contract = contract_from_dict(contract_dict)
    text = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "age": ["30", "45", "52", "23", "60"],
            "income": ["100.5", None, "80", "120", "7"],
            "home": ["owner", "rent", None, "rent", "owner"],
            "opened": ["2024-03-15", None, "2023-01-02", "2022-12-31", "2021-06-30"],
        }
    )
    text.loc[bad_rows, "age"] = "old"
    conditioned = condition(text, contract, mode="score")
    assert len(conditioned.clean) == 5 - len(bad_rows)
    assert list(conditioned.columns) == list(conditioned.clean.columns)
    from_arrays = features.model_frame(conditioned.columns, contract)
    pd.testing.assert_frame_equal(from_arrays, features.model_frame(conditioned.clean, contract))
    assert from_arrays["home"].dtype == object and from_arrays.index.equals(
        pd.RangeIndex(len(from_arrays))
    )
    with pytest.raises(KeyError, match="income"):
        features.model_frame({"age": np.array([1.0]), "home": pd.array(["rent"])}, contract)


def test_target_vector_marks_the_positive_label(contract):
    frame = pd.DataFrame({"y": ["bad", "good", "bad"]})
    assert features.target_vector(frame, contract).tolist() == [1, 0, 1]


def test_model_frame_gives_scikit_learn_object_text_with_nan_for_missing(contract):
    # pandas 3 reads text as Arrow strings; the encoders get plain str objects and NaN, in row order
    home = pd.Series(["rent", None, "owner", "rent", None], dtype="str")
    frame = pd.DataFrame({"age": [1, 2, 3, 4, 5], "income": [1.0] * 5, "home": home})
    out = features.model_frame(frame, contract)["home"]
    assert out.dtype == object
    assert [v if isinstance(v, str) else "NaN" for v in out] == [
        "rent",
        "NaN",
        "owner",
        "rent",
        "NaN",
    ]
    assert all(type(v) is str for v in out.dropna()) and all(
        isinstance(v, float) for v in out[out.isna()]
    )
    empty = features.model_frame(frame.assign(home=pd.Series([None] * 5, dtype="str")), contract)[
        "home"
    ]
    assert empty.isna().all() and empty.dtype == object
    # text in object columns, or Arrow text in several chunks, gives the same cells
    for same in (home.astype(object), pd.concat([home[:2], home[2:]], ignore_index=True)):
        again = features.model_frame(frame.assign(home=same), contract)["home"]
        assert again.dtype == object and again.fillna("NaN").tolist() == out.fillna("NaN").tolist()


def test_multiclass_target_is_the_label_code_and_every_label_must_train(contract_dict):
    import numpy as np
    import pandas as pd

    from lab2prod.data.contract import contract_from_dict
    from lab2prod.modeling.features import check_classes, is_multiclass, target_vector

    spec = {**contract_dict, "target": {"name": "y", "labels": ["low", "mid", "high"]}}
    spec["columns"] = {
        **spec["columns"],
        "y": {"type": "category", "categories": ["low", "mid", "high"]},
    }
    three = contract_from_dict(spec)
    assert is_multiclass(three) and not is_multiclass(contract_from_dict(contract_dict))
    y = target_vector(pd.DataFrame({"y": ["high", "low", "mid", "high"]}), three)
    assert y.tolist() == [2, 0, 1, 2] and y.dtype == np.int64
    with pytest.raises(ValueError, match="row 1: label 'top' is not one of"):
        target_vector(pd.DataFrame({"y": ["low", "top"]}), three)
    check_classes(y, three)
    with pytest.raises(ValueError, match="label\\(s\\) 'mid' have no row in the training split"):
        check_classes(np.array([0, 2, 2]), three)
