"""Two path models in turn: a fast one answers every product, and the products it is unsure of go to a slow, more
accurate one.

Most of a catalogue is easy: the linear model is right on the products it is sure of, and the ensemble earns its
cost on the rest. The fast model's top path probability (calibrated) decides: under ``threshold`` the row is
deferred to the slow model, whose whole answer (paths and probabilities) replaces the fast one's. On MWPD
validation the linear model defers 15% of the titles at 0.6 and the cascade keeps all but 0.4 weighted F1 points of
the ensemble at several times its speed (``docs/benchmarks.md``). :func:`skutag.workflows.cascade.build_cascade`
joins two fitted models and can choose the threshold on labelled rows (``skutag cascade``); ``fit`` trains both
members (``skutag train --model cascade``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from skutag.errors import ConfigError
from skutag.log import get_logger
from skutag.models.base import CategoryModel, TopK
from skutag.models.paths import PathModel, encode_labels
from skutag.models.registry import create_model, load_model

log = get_logger(__name__)

CONFIG_FILE = "cascade.json"
#: the linear model answers, the ensemble (linear + MiniLM + neighbour votes) takes what it is unsure of
DEFAULT_MEMBERS: list[dict[str, Any]] = [
    {"model": "linear", "params": {}},
    {"model": "ensemble", "params": {}},
]
#: Rows the fast model gives less than this probability go to the slow one. 0.6 on MWPD: the linear model defers
#: 15% of validation, and its calibrated top-path probability is about its accuracy there.
DEFAULT_THRESHOLD = 0.6


def _check_threshold(threshold: object) -> None:
    if not isinstance(threshold, int | float) or not 0.0 <= float(threshold) <= 1.0:
        raise ConfigError(f"threshold must be a probability in [0, 1], not {threshold!r}")


class CascadeModel(PathModel):
    """``members``: the fast model, then the slow one (``{"model": kind, "params": {...}}`` each; None: linear, then
    ensemble). ``threshold``: the fast model's top path probability under which a row is deferred (0: never, above
    1: always)."""

    kind = "cascade"

    def __init__(self, members: list[dict[str, Any]] | None = None, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.members = members
        self.threshold = threshold

    def _validate_params(self) -> None:
        _check_threshold(self.threshold)
        specs = self._member_specs()
        if len(specs) != 2:
            raise ConfigError(f"a cascade has two members (the fast model, then the slow one), not {len(specs)}")
        for spec in specs:
            if not isinstance(spec, dict) or "model" not in spec or not isinstance(spec.get("params", {}), dict):
                raise ConfigError(f"each cascade member is {{'model': kind, 'params': {{...}}}}, not {spec!r}")
            create_model(str(spec["model"]), **dict(spec.get("params", {})))._validate_params()

    def _member_specs(self) -> list[dict[str, Any]]:
        return list(DEFAULT_MEMBERS if self.members is None else self.members)

    # ---- building ---------------------------------------------------------------------------------
    @classmethod
    def from_members(cls, fast: CategoryModel, slow: CategoryModel, threshold: float = DEFAULT_THRESHOLD) -> Self:
        """A cascade of two fitted models (they must predict the same number of levels)."""
        model = cls(
            members=[{"model": fast.kind, "params": {}}, {"model": slow.kind, "params": {}}], threshold=threshold
        )
        _check_threshold(threshold)
        model._attach(fast, slow)
        return model

    def _attach(self, fast: CategoryModel, slow: CategoryModel) -> None:
        if len(fast.levels_) != len(slow.levels_):
            raise ConfigError(
                f"the fast model predicts {len(fast.levels_)} level(s) and the slow one {len(slow.levels_)}: a cascade "
                "needs models of the same taxonomy levels"
            )
        self.models_ = [fast, slow]
        self.member_index_ = self._join(self.models_)

    def fit(self, texts: pd.DataFrame, labels: pd.DataFrame) -> Self:
        """Fit both members on every row (each with its own defaults for held-out rows and calibration)."""
        self._validate_params()
        if len(texts) != len(labels):
            raise ConfigError(f"texts has {len(texts)} rows but labels has {len(labels)}")
        encode_labels(labels)  # validates the labels before minutes of fitting
        models = []
        for role, spec in zip(("fast", "slow"), self._member_specs(), strict=True):
            if self.progress is not None:
                self.progress(f"cascade: fitting the {role} model ({spec['model']})")
            m = create_model(str(spec["model"]), **dict(spec.get("params", {})))
            m.progress = self.progress
            models.append(m.fit(texts, labels))
        self._attach(*models)
        return self

    # ---- predicting -------------------------------------------------------------------------------
    @property
    def fast_(self) -> CategoryModel:
        return self.models_[0]

    @property
    def slow_(self) -> CategoryModel:
        return self.models_[1]

    def deferred(self, fast_proba: np.ndarray) -> np.ndarray:
        """Which rows of the fast model's path probabilities go to the slow model."""
        if len(fast_proba) == 0 or fast_proba.shape[1] == 0:
            return np.ones(len(fast_proba), dtype=bool)
        return np.asarray(fast_proba.max(axis=1) < float(self.threshold))

    def predict_path_proba(self, texts: pd.DataFrame | pd.Series | list[str]) -> np.ndarray:
        frame = self._texts(texts)
        out = np.zeros((len(frame), len(self.paths_)))
        if not len(frame):
            return out
        fast = self.fast_.predict_path_proba(frame)  # type: ignore[attr-defined]
        out[:, self.member_index_[0]] = fast
        slow_rows = np.flatnonzero(self.deferred(fast))
        if len(slow_rows):
            out[slow_rows] = 0.0
            slow = self.slow_.predict_path_proba(frame.iloc[slow_rows])  # type: ignore[attr-defined]
            out[np.ix_(slow_rows, self.member_index_[1])] = slow
        return out

    def predict_one(self, product: str | Mapping[str, object], k: int = 1, levels: bool = False) -> TopK:
        """The fast model's answer when it is sure enough, else the slow model's (each through its own one-title
        path: the linear model answers without pandas)."""
        self._check_fitted()
        top = self.fast_.predict_one(product, k=k, levels=levels)
        if top.scores.size and float(top.scores[0, 0]) >= float(self.threshold):
            return top
        return self.slow_.predict_one(product, k=k, levels=levels)

    # ---- persistence ------------------------------------------------------------------------------
    def _save_state(self, directory: Path) -> None:
        config = {"params": self.get_params(), "roles": ["fast", "slow"]}
        (directory / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False, indent=1), "utf-8")
        for i, m in enumerate(self.models_):
            m.save(directory / f"member_{i}")

    @classmethod
    def _load_state(cls, directory: Path, meta: dict[str, Any]) -> Self:
        config = json.loads((directory / CONFIG_FILE).read_text("utf-8"))
        model = cls(**config["params"])
        model._attach(load_model(directory / "member_0"), load_model(directory / "member_1"))
        return model
