"""Factories of unfitted scikit-learn pipelines: preprocessing inside the model, so scoring cannot skew."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from lab2prod import settings
from lab2prod.errors import ConfigError, RegistryError

FAMILIES: dict[str, dict[str, Any]] = {
    "classification": {
        "linear": LogisticRegression,  # the linear family of either task: one grid serves both
        "logistic_regression": LogisticRegression,
        "hist_gradient_boosting": HistGradientBoostingClassifier,
        "random_forest": RandomForestClassifier,
    },
    "regression": {
        "linear": Ridge,
        "ridge": Ridge,
        "hist_gradient_boosting": HistGradientBoostingRegressor,
        "random_forest": RandomForestRegressor,
    },
}

# Exactly the types skops must be told to trust for each family, beyond its
# defaults; a test compares them with skops.io.get_untrusted_types on fitted
# models of both tasks, so the list cannot silently drift. Never pickle.
_COMMON_TRUSTED = ["numpy.dtype"]
SKOPS_TRUSTED_TYPES: dict[str, list[str]] = {
    "linear": [],
    "logistic_regression": [],
    "ridge": [],
    "hist_gradient_boosting": ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"],
    "random_forest": ["sklearn.tree._tree.Tree"],
}

_SEEDED = {"logistic_regression", "hist_gradient_boosting", "random_forest"}
_LINEAR = {"linear", "logistic_regression", "ridge"}


def build_estimator(
    family: str,
    task: str,
    numeric: list[str],
    categorical: list[str],
    params: dict[str, Any] | None = None,
    random_state: int = 42,
) -> Pipeline:
    """Return an unfitted Pipeline (impute, scale or one-hot encode, then the model) for `family` and `task`."""
    try:
        model_cls = FAMILIES[task][family]
    except KeyError:
        known = ", ".join(FAMILIES.get(task, {})) or "none"
        raise ConfigError(
            f"model family {family!r} is not known for task {task!r}; use one of: {known}"
        ) from None
    params = dict(params or {})
    if family in _SEEDED or (family == "linear" and task == "classification"):
        params.setdefault("random_state", random_state)
    if model_cls is LogisticRegression:
        params.setdefault("max_iter", 1000)
    try:
        model = model_cls(**params)
    except TypeError as exc:
        raise ConfigError(f"model family {family!r}: bad parameter ({exc})") from None
    scale = family in _LINEAR
    numeric_steps = [("impute", SimpleImputer(strategy="median", add_indicator=True))]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    transformers = []
    if numeric:
        transformers.append(("numeric", Pipeline(numeric_steps), list(numeric)))
    if categorical:
        transformers.append(
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", min_frequency=5, sparse_output=False),
                list(categorical),
            )
        )
    if not transformers:
        raise ConfigError("no feature columns: the contract must declare at least one feature")
    pre = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    return Pipeline([("preprocess", pre), ("model", model)])


def trusted_types(family: str) -> list[str]:
    """Return the skops types to trust when saving or loading a model of `family`."""
    if family not in SKOPS_TRUSTED_TYPES:
        raise ConfigError(f"no skops trusted types declared for family {family!r}")
    return _COMMON_TRUSTED + SKOPS_TRUSTED_TYPES[family]


def all_trusted_types() -> list[str]:
    """Return every skops type some family of lab2prod trusts: the most a model being loaded may ask for."""
    return sorted(set(_COMMON_TRUSTED).union(*SKOPS_TRUSTED_TYPES.values()))


def warm_up_loading() -> None:
    """Import what `load_model_dir` needs (skops imports every scikit-learn estimator: seconds)."""
    import skops.io  # noqa: F401


def load_model_dir(folder: Path) -> Any:
    """Load the sklearn model of a local MLflow model folder (its MLmodel and skops file), never by pickle.

    Two layouts: the `python_function` model lab2prod logs (`serving.model`: the skops file is its
    `pipeline` artifact, the types to trust in its config) and a plain `sklearn` flavor saved with
    skops. The types to trust are those the folder lists, and only if lab2prod's own estimators
    need them: a model cannot widen the allow-list.
    """

    meta = settings.read_yaml(folder / "MLmodel")
    flavors = meta.get("flavors") or {}
    pyfunc = flavors.get("python_function") or {}
    artifact = (pyfunc.get("artifacts") or {}).get("pipeline") or {}
    if artifact.get("path"):
        trusted = list((pyfunc.get("config") or {}).get("skops_trusted_types") or [])
        return load_skops(folder / artifact["path"], trusted, folder / "MLmodel")
    flavor = flavors.get("sklearn") or {}
    if flavor.get("serialization_format") != "skops" or not flavor.get("pickled_model"):
        raise RegistryError(
            f"{folder / 'MLmodel'}: neither lab2prod's model (a skops 'pipeline' artifact) nor a "
            f"scikit-learn model saved with skops (format {flavor.get('serialization_format')!r}): "
            "log it with lab2prod's training pipeline"
        )
    trusted = list(flavor.get("skops_trusted_types") or [])
    return load_skops(folder / flavor["pickled_model"], trusted, folder / "MLmodel")


def load_skops(path: Path, trusted: list[str], listed_in: Path | None = None) -> Any:
    """Load a skops file trusting `trusted` types, refused when one is beyond lab2prod's allow-list.

    `listed_in` names the file that asked for the types, in the error.
    """
    import skops.io

    unknown = sorted(set(trusted) - set(all_trusted_types()))
    if unknown:
        raise RegistryError(
            f"{listed_in or path}: asks to trust {', '.join(unknown)}, which no lab2prod "
            f"estimator needs: refusing to load it"
        )
    try:
        return skops.io.load(path, trusted=list(trusted))
    except (OSError, ValueError, TypeError) as exc:
        raise RegistryError(
            f"{path.parent}: the model file cannot be loaded ({exc}): re-register the model"
        ) from None
