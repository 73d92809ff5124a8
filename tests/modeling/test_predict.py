import numpy as np
import pandas as pd

from lab2prod.modeling.estimators import build_estimator
from lab2prod.modeling.predict import predict


def test_predict_returns_positive_probability_or_value():
    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
    clf = build_estimator("logistic_regression", "classification", ["a"], []).fit(
        x, [0, 0, 0, 1, 1, 1]
    )
    p = predict(clf, x, "classification")
    assert p.shape == (6,) and np.all((p >= 0) & (p <= 1)) and p[-1] > p[0]
    np.testing.assert_allclose(p, clf.predict_proba(x)[:, 1])
    reg = build_estimator("ridge", "regression", ["a"], []).fit(x, [0.0, 2, 4, 6, 8, 10])
    assert predict(reg, x, "regression").dtype == np.float64
