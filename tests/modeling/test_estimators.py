import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from lab2prod.errors import ConfigError
from lab2prod.modeling import estimators


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    n = 120
    x = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "c": rng.choice(np.array(["p", "q", "r"], dtype=object), n),
        }
    )
    y_class = (x["a"] + rng.normal(scale=0.5, size=n) > 0).astype(int).to_numpy()
    y_reg = (2 * x["a"] + rng.normal(scale=0.1, size=n)).to_numpy()
    return x, y_class, y_reg


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.readiness("infra 2")
def test_every_family_fits_and_declares_exactly_its_skops_types(xy, task):
    x, y_class, y_reg = xy
    for family in estimators.FAMILIES[task]:
        model = estimators.build_estimator(
            family, task, ["a", "b"], ["c"], params={}, random_state=0
        )
        model.fit(x, y_class if task == "classification" else y_reg)
        untrusted = set(sio.get_untrusted_types(data=sio.dumps(model)))
        assert untrusted == set(estimators.trusted_types(family)), family
        loaded = sio.loads(sio.dumps(model), trusted=estimators.trusted_types(family))
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_unknown_category_at_scoring_time_is_ignored_not_fatal(xy):
    x, y, _ = xy
    model = estimators.build_estimator(
        "logistic_regression", "classification", ["a", "b"], ["c"]
    ).fit(x, y)
    novel = x.head(3).assign(c="never-seen")
    assert model.predict_proba(novel).shape == (3, 2)


@pytest.mark.readiness("infra 1")
def test_same_seed_same_model(xy):
    x, y, _ = xy
    a = estimators.build_estimator(
        "random_forest", "classification", ["a", "b"], ["c"], {"n_estimators": 10}, 3
    ).fit(x, y)
    b = estimators.build_estimator(
        "random_forest", "classification", ["a", "b"], ["c"], {"n_estimators": 10}, 3
    ).fit(x, y)
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))


@pytest.mark.readiness("infra 2")
def test_unknown_family_and_bad_params_are_one_line_errors():
    with pytest.raises(
        ConfigError, match="model family 'xgb' is not known for task 'classification'"
    ):
        estimators.build_estimator("xgb", "classification", ["a"], [])
    with pytest.raises(ConfigError, match="bad parameter"):
        estimators.build_estimator("ridge", "regression", ["a"], [], params={"depth": 3})
    with pytest.raises(ConfigError, match="no feature columns"):
        estimators.build_estimator("ridge", "regression", [], [])


def test_linear_family_serves_both_tasks(xy):
    x, y_class, y_reg = xy
    clf = estimators.build_estimator("linear", "classification", ["a", "b"], ["c"])
    reg = estimators.build_estimator("linear", "regression", ["a", "b"], ["c"])
    assert type(clf.named_steps["model"]).__name__ == "LogisticRegression"
    assert type(reg.named_steps["model"]).__name__ == "Ridge"
    assert clf.fit(x, y_class).predict_proba(x).shape == (len(x), 2)
    assert reg.fit(x, y_reg).predict(x).shape == (len(x),)
