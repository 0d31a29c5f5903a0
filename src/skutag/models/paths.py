"""Hierarchy-consistent decoding shared by the neural models and the ensemble.

Every path seen in training (root to leaf) is scored by the sum of its nodes' per-level log-probabilities
(so a child is only as likely as its parent allows: the equivalent of masking children of unlikely
parents), times a path temperature fitted on held-out rows; the softmax over those scores is the path
distribution. ``predict`` is its argmax (always a valid path), ``predict_proba`` its per-level marginals,
``predict_topk`` its k best paths.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, logsumexp

from skutag.errors import ConfigError, EmptyInputError
from skutag.models.base import CategoryModel, TopK, level_columns
from skutag.taxonomy import Taxonomy, clean_path

#: Bounds of log(temperature), one set for every fit. Linear SVM margins sit near +-1, so a level's temperature is
#: well above 1 (MWPD: 6.7 to 7.6); the linear model always searched up to e^4 = 55 and keeps doing so (its figures do
#: not move). Path scores are log-probabilities, their temperature near 1 (MWPD linear: 0.44), inside either range.
LOG_TEMPERATURE_BOUNDS = (-4.0, 4.0)
#: Fewer usable rows than this leave the temperature at 1: a scalar fitted on a handful of rows is noise. The linear
#: model calibrates on at least 20 held-out rows and the label-issue check on at least 50, so this only guards a path
#: fit whose held-out rows mostly have paths the model has not seen.
MIN_TEMPERATURE_ROWS = 10


@dataclass
class EncodedLabels:
    """Label paths as integer classes per level, the distinct training paths and the taxonomy."""

    taxonomy: Taxonomy
    classes: list[list[str]]
    paths: np.ndarray
    y: np.ndarray


def encode_labels(labels: pd.DataFrame) -> EncodedLabels:
    """level_1..level_n frame -> classes per level ('' for missing deeper levels), path table and targets."""
    if len(labels) == 0:
        raise EmptyInputError("no training rows")
    n_levels = labels.shape[1]
    paths = [clean_path(p) for p in labels.itertuples(index=False, name=None)]
    if any(len(p) == 0 for p in paths):
        raise ConfigError("some rows have no level-1 label; drop or reject them before fitting")
    padded = [p + ("",) * (n_levels - len(p)) for p in paths]
    classes = [sorted({p[lv] for p in padded}) for lv in range(n_levels)]
    index = [{c: i for i, c in enumerate(cl)} for cl in classes]
    path_list = sorted(set(padded))
    table = np.array([[index[lv][p[lv]] for lv in range(n_levels)] for p in path_list], dtype=np.int32)
    y = np.array([[index[lv][p[lv]] for lv in range(n_levels)] for p in padded], dtype=np.int64)
    return EncodedLabels(
        Taxonomy.from_paths(paths), classes, table.reshape(len(path_list), n_levels), y.reshape(-1, n_levels)
    )


def path_log_scores(level_logp: list[np.ndarray], paths: np.ndarray) -> np.ndarray:
    """rows x paths: sum over levels of the log-probability of each path's node."""
    total = np.zeros((level_logp[0].shape[0], len(paths)), dtype=np.float64)
    for lv, lp in enumerate(level_logp):
        total += lp[:, paths[:, lv]]
    return total


def fit_temperature(scores: np.ndarray, target: np.ndarray) -> float:
    """The t > 0 minimising the negative log-likelihood of softmax(scores * t) for the target columns.

    Rows with target -1 (a path or class the model has not seen) are left out; 1.0 when fewer than
    :data:`MIN_TEMPERATURE_ROWS` remain. One fit for the levels and paths of every model and for the quality
    checks, so their calibrations cannot drift apart."""
    ok = target >= 0
    if ok.sum() < MIN_TEMPERATURE_ROWS:
        return 1.0
    s, t = scores[ok], target[ok]
    rows = np.arange(len(t))

    def nll(log_t: float) -> float:
        z = s * np.exp(log_t)
        return float(np.mean(logsumexp(z, axis=1) - z[rows, t]))

    res = minimize_scalar(nll, bounds=LOG_TEMPERATURE_BOUNDS, method="bounded")
    return float(np.exp(res.x))


def path_targets(y: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """Index in ``paths`` of each row's true path (-1 when unseen)."""
    lookup = {tuple(p): i for i, p in enumerate(paths.tolist())}
    return np.array([lookup.get(tuple(r), -1) for r in y.tolist()], dtype=np.int64)


class PathModel(CategoryModel):
    """A categoriser that scores whole taxonomy paths. Subclasses implement :meth:`predict_path_proba`
    and set ``classes_`` (per level) and ``paths_`` (paths x levels class indices)."""

    classes_: list[list[str]]
    paths_: np.ndarray
    taxonomy_: Taxonomy

    @abstractmethod
    def predict_path_proba(self, texts: pd.DataFrame | pd.Series | list[str]) -> np.ndarray:
        """P(path) per row over :attr:`paths_` (rows x paths)."""

    def _set_labels(self, enc: EncodedLabels) -> None:
        self.taxonomy_ = enc.taxonomy
        self.classes_ = enc.classes
        self.paths_ = enc.paths
        self.levels_ = level_columns(len(enc.classes))

    def path_ids(self, labels: pd.DataFrame) -> np.ndarray:
        """Index in :attr:`paths_` of each labelled row's path (-1 for a path this model has not seen)."""
        lookup = {p: i for i, p in enumerate(self.path_names())}
        return np.array([lookup.get(clean_path(r), -1) for r in labels.itertuples(index=False, name=None)], np.int64)

    def path_names(self) -> list[tuple[str, ...]]:
        """Each path of :attr:`paths_` as a tuple of names (trailing empty levels dropped)."""
        self._check_fitted()
        return [clean_path([self.classes_[lv][c] for lv, c in enumerate(row)]) for row in self.paths_.tolist()]

    def predict_proba(self, texts: pd.DataFrame | pd.Series | list[str]) -> list[pd.DataFrame]:
        frame = self._texts(texts)
        return self.marginals(self.predict_path_proba(frame), frame.index)

    def marginals(self, probs: np.ndarray, index: pd.Index | None = None) -> list[pd.DataFrame]:
        """Per-level probabilities from path probabilities."""
        out = []
        for lv, classes in enumerate(self.classes_):
            onehot = np.zeros((len(self.paths_), len(classes)))
            onehot[np.arange(len(self.paths_)), self.paths_[:, lv]] = 1.0
            out.append(pd.DataFrame(probs @ onehot, columns=classes, index=index))
        return out

    def predict_topk(self, texts: pd.DataFrame | pd.Series | list[str], k: int = 3) -> TopK:
        return self.topk_from_proba(self.predict_path_proba(self._texts(texts)), k, with_levels=False)

    def predict_scored(self, texts: pd.DataFrame, k: int = 3) -> TopK:
        return self.topk_from_proba(self.predict_path_proba(self._texts(texts)), k, with_levels=True)

    def topk_from_proba(self, prob: np.ndarray, k: int, with_levels: bool = False) -> TopK:
        """The k best paths of a rows x paths probability matrix (optionally with best-path level scores)."""
        k = max(1, min(k, len(self.paths_)))
        n_levels = len(self.levels_)
        if len(prob) == 0:
            return TopK([], np.zeros((0, k)), np.zeros((0, n_levels)) if with_levels else None)
        if k < prob.shape[1]:
            idx = np.argpartition(-prob, k - 1, axis=1)[:, :k]
        else:
            idx = np.tile(np.arange(prob.shape[1]), (len(prob), 1))
        part = np.take_along_axis(prob, idx, axis=1)
        order = np.argsort(-part, axis=1, kind="stable")
        idx = np.take_along_axis(idx, order, axis=1)
        scores = np.take_along_axis(part, order, axis=1)
        names = self.path_names()
        level_scores = None
        if with_levels:
            best = idx[:, 0]
            cols = []
            for lv in range(n_levels):
                keys = [tuple(r[: lv + 1]) for r in self.paths_.tolist()]
                lookup = {key: i for i, key in enumerate(dict.fromkeys(keys))}
                pid = np.array([lookup[key] for key in keys])
                cols.append((prob * (pid[None, :] == pid[best][:, None])).sum(axis=1))
            level_scores = np.stack(cols, axis=1)
            depth = np.array([len(names[j]) for j in best])
            level_scores[np.arange(n_levels)[None, :] >= depth[:, None]] = np.nan
        return TopK([[names[j] for j in row] for row in idx.tolist()], scores, level_scores)

    def predict_from_proba(self, prob: np.ndarray, index: pd.Index | None = None) -> pd.DataFrame:
        """Best path per row as a level_1..level_n frame."""
        top = self.topk_from_proba(prob, 1)
        n = len(self.levels_)
        rows = [list(p[0]) + [None] * (n - len(p[0])) for p in top.paths]
        return pd.DataFrame(rows, columns=self.levels_, index=index, dtype=object)


def decode_paths(level_logits: list[np.ndarray], paths: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Path probabilities (rows x paths) from raw per-level logits."""
    logp = [log_softmax(lg.astype(np.float64), axis=1) for lg in level_logits]
    return np.exp(log_softmax(path_log_scores(logp, paths) * temperature, axis=1))
