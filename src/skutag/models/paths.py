"""Hierarchy-consistent decoding shared by every path model (linear, neural, ensemble).

Every path seen in training (root to leaf) is scored by the sum of its nodes' per-level log-probabilities
(so a child is only as likely as its parent allows: the equivalent of masking children of unlikely
parents), times a path temperature fitted on held-out rows; the softmax over those scores is the path
distribution. ``predict`` is its argmax (always a valid path), ``predict_proba`` its per-level marginals,
``predict_topk`` its k best paths. A model only supplies the path distribution (:meth:`PathModel.predict_path_proba`,
or chunk by chunk through :meth:`PathModel.map_path_proba`); the decoding is here, once.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, logsumexp

from skutag.errors import ConfigError, EmptyInputError
from skutag.models.base import CategoryModel, HeldOutScores, TopK, level_columns
from skutag.taxonomy import Taxonomy, clean_path

T = TypeVar("T")

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


def fit_temperature(scores: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None) -> float:
    """The t > 0 minimising the negative log-likelihood of softmax(scores * t) for the target columns (weighted by
    ``weight`` when given: a row standing for one of several soft targets of a product counts for its share).

    Rows with target -1 (a path or class the model has not seen) are left out; 1.0 when fewer than
    :data:`MIN_TEMPERATURE_ROWS` remain. One fit for the levels and paths of every model and for the quality
    checks, so their calibrations cannot drift apart."""
    ok = target >= 0
    if ok.sum() < MIN_TEMPERATURE_ROWS:
        return 1.0
    s, t = scores[ok], target[ok]
    w = None if weight is None else np.asarray(weight, dtype=np.float64)[ok]
    if w is not None and w.sum() <= 0:
        return 1.0
    rows = np.arange(len(t))

    def nll(log_t: float) -> float:
        z = s * np.exp(log_t)
        return float(np.average(logsumexp(z, axis=1) - z[rows, t], weights=w))

    res = minimize_scalar(nll, bounds=LOG_TEMPERATURE_BOUNDS, method="bounded")
    return float(np.exp(res.x))


def holdout_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices) for fitting temperatures, early stopping or blend weights; no hold-out
    when it would be under 20 rows."""
    n_hold = round(n * fraction)
    order = np.random.default_rng(seed).permutation(n)
    if n_hold < 20 or n - n_hold < 20:
        return np.sort(order), np.zeros(0, dtype=np.int64)
    return np.sort(order[n_hold:]), np.sort(order[:n_hold])


def heldout_scores(
    prob: np.ndarray, y: np.ndarray, paths: np.ndarray, n_rows: int, note: str = "", rows: np.ndarray | None = None
) -> HeldOutScores:
    """:class:`HeldOutScores` of one held-out split of ``n_rows`` training rows: ``prob`` its rows x paths
    probabilities, ``y`` its class targets, ``rows`` their indices among the training rows."""
    best = prob.argmax(axis=1)
    confidence = prob[np.arange(len(prob)), best]
    return HeldOutScores(confidence, best == path_targets(y, paths), 1, n_rows, note, rows)


def path_targets(y: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """Index in ``paths`` of each row's true path (-1 when unseen)."""
    lookup = {tuple(p): i for i, p in enumerate(paths.tolist())}
    return np.array([lookup.get(tuple(r), -1) for r in y.tolist()], dtype=np.int64)


@dataclass
class JointPaths:
    """The union of several fitted path models' path tables (an ensemble's, a cascade's): ``member_index[m][j]`` is
    the joint index of member ``m``'s path ``j``."""

    names: list[tuple[str, ...]]
    classes: list[list[str]]
    paths: np.ndarray
    member_index: list[np.ndarray]
    text_columns: list[str]

    @property
    def taxonomy(self) -> Taxonomy:
        return Taxonomy.from_paths(self.names)


def joint_paths(models: list[CategoryModel]) -> JointPaths:
    """Join the path tables of ``models`` (each must score paths), in the order first seen; text columns likewise."""
    for m in models:
        if not m.scores_paths:
            raise ConfigError(f"model kind {m.kind!r} cannot be combined (no path probabilities)")
    union: dict[tuple[str, ...], int] = {}
    for m in models:
        for p in m.path_names():  # type: ignore[attr-defined]
            union.setdefault(p, len(union))
    n_levels = max(len(m.levels_) for m in models)
    names = list(union)
    padded = [p + ("",) * (n_levels - len(p)) for p in names]
    classes = [sorted({p[lv] for p in padded}) for lv in range(n_levels)]
    index = [{c: i for i, c in enumerate(cl)} for cl in classes]
    paths = np.array([[index[lv][p[lv]] for lv in range(n_levels)] for p in padded], dtype=np.int32)
    member_index = [np.array([union[p] for p in m.path_names()]) for m in models]  # type: ignore[attr-defined]
    cols: list[str] = []
    for m in models:
        cols.extend(c for c in m.text_columns_ if c not in cols)
    return JointPaths(names, classes, paths.reshape(len(padded), n_levels), member_index, cols)


#: Per chunk: path indices (rows x k, best first), their probabilities, and the best path's level scores.
TopRows = tuple[np.ndarray, np.ndarray, np.ndarray | None]


class PathModel(CategoryModel):
    """A categoriser that scores whole taxonomy paths. Subclasses implement :meth:`predict_path_proba`
    and set ``classes_`` (per level) and ``paths_`` (paths x levels class indices); a subclass that scores rows
    cheaply chunk by chunk also overrides :meth:`map_path_proba`."""

    scores_paths = True

    classes_: list[list[str]]
    paths_: np.ndarray
    taxonomy_: Taxonomy
    #: models that decode with a temperature (the neural kinds) set it; :meth:`path_table_config` saves it
    path_temperature_: float

    @abstractmethod
    def predict_path_proba(self, texts: pd.DataFrame | pd.Series | list[str]) -> np.ndarray:
        """P(path) per row over :attr:`paths_` (rows x paths)."""

    def map_path_proba(self, frame: pd.DataFrame, fn: Callable[[np.ndarray], T]) -> list[T]:
        """``fn`` of the path probabilities of consecutive row chunks of ``frame`` (checked text columns), in
        row order. One chunk here; a model may override it to bound memory (chunk x paths instead of rows x
        paths) or run chunks on threads. Every decoding from texts goes through it."""
        return [fn(self.predict_path_proba(frame))]

    def _join(self, models: list[CategoryModel]) -> list[np.ndarray]:
        """Take the joint path table of ``models`` (:func:`joint_paths`) as this model's; each member's path
        indices in it, for aligning their distributions."""
        joint = joint_paths(models)
        self.classes_, self.paths_, self.taxonomy_ = joint.classes, joint.paths, joint.taxonomy
        self.levels_ = level_columns(len(joint.classes))
        self.text_columns_ = joint.text_columns
        return joint.member_index

    def _set_labels(self, enc: EncodedLabels) -> None:
        self.taxonomy_ = enc.taxonomy
        self.classes_ = enc.classes
        self.paths_ = enc.paths
        self.levels_ = level_columns(len(enc.classes))

    def path_table_config(self) -> dict[str, Any]:
        """The learned path table as JSON: text columns, levels, classes, paths, temperature, taxonomy."""
        return {
            "text_columns": self.text_columns_,
            "levels": self.levels_,
            "classes": self.classes_,
            "paths": self.paths_.tolist(),
            "path_temperature": float(self.path_temperature_),
            "taxonomy": self.taxonomy_.to_dict(),
        }

    def set_path_table(self, config: dict[str, Any]) -> None:
        """Restore what :meth:`path_table_config` wrote."""
        self.text_columns_ = [str(c) for c in config["text_columns"]]
        self.levels_ = [str(c) for c in config["levels"]]
        self.classes_ = [[str(c) for c in level] for level in config["classes"]]
        self.paths_ = np.asarray(config["paths"], dtype=np.int32).reshape(-1, len(self.classes_))
        self.path_temperature_ = float(config["path_temperature"])
        self.taxonomy_ = Taxonomy.from_dict(config["taxonomy"])

    def path_ids(self, labels: pd.DataFrame) -> np.ndarray:
        """Index in :attr:`paths_` of each labelled row's path (-1 for a path this model has not seen)."""
        lookup = {p: i for i, p in enumerate(self.path_names())}
        return np.array([lookup.get(clean_path(r), -1) for r in labels.itertuples(index=False, name=None)], np.int64)

    # ---- the path table, built once per fitted table ---------------------------------------------------------
    def path_names(self) -> list[tuple[str, ...]]:
        """Each path of :attr:`paths_` as a tuple of names (trailing empty levels dropped)."""
        return list(self._path_lookup()[0])

    def _path_lookup(self) -> tuple[list[tuple[str, ...]], np.ndarray]:
        """Path names and the paths x levels table of names (None below a path's depth)."""
        return self._per_table("lookup", self._build_lookup)

    def _build_lookup(self) -> tuple[list[tuple[str, ...]], np.ndarray]:
        names = [clean_path([self.classes_[lv][c] for lv, c in enumerate(row)]) for row in self.paths_.tolist()]
        table = np.full((len(names), len(self.classes_)), None, dtype=object)
        for j, path in enumerate(names):
            table[j, : len(path)] = path
        return names, table

    def _prefix_ids(self) -> list[np.ndarray]:
        """Per level, an id per path identifying its prefix down to that level."""
        return self._per_table("prefix", self._build_prefix_ids)

    def _build_prefix_ids(self) -> list[np.ndarray]:
        out = []
        for lv in range(len(self.classes_)):
            keys = [tuple(row[: lv + 1]) for row in self.paths_.tolist()]
            lookup = {key: i for i, key in enumerate(dict.fromkeys(keys))}
            out.append(np.array([lookup[key] for key in keys]))
        return out

    def _per_table(self, name: str, build: Callable[[], T]) -> T:
        """``build()``, computed once per fitted path table (a new ``paths_`` rebuilds it): a batch-1 call spent
        40% of its time rebuilding names and prefixes."""
        self._check_fitted()
        cache: dict[str, tuple[np.ndarray, Any]] = self.__dict__.setdefault("_path_cache", {})
        hit = cache.get(name)
        if hit is None or hit[0] is not self.paths_:
            hit = cache[name] = (self.paths_, build())
        value: T = hit[1]
        return value

    # ---- decoding ----------------------------------------------------------------------------------------------
    def predict(self, texts: pd.DataFrame | pd.Series | list[str]) -> pd.DataFrame:
        """The best valid path per row (a table lookup of each row's most probable path)."""
        frame = self._texts(texts)
        best = self.map_path_proba(frame, lambda prob: prob.argmax(axis=1)) if len(frame) else []
        return self._path_frame(np.concatenate(best) if best else np.zeros(0, np.int64), frame.index)

    def predict_from_proba(self, prob: np.ndarray, index: pd.Index | None = None) -> pd.DataFrame:
        """Best path per row of a rows x paths probability matrix, as a level_1..level_n frame."""
        return self._path_frame(prob.argmax(axis=1), index)

    def _path_frame(self, best: np.ndarray, index: pd.Index | None) -> pd.DataFrame:
        table = self._path_lookup()[1]
        return pd.DataFrame(table[best], columns=self.levels_, index=index, dtype=object)

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
        return self._topk_texts(texts, k, with_levels=False)

    def predict_scored(self, texts: pd.DataFrame, k: int = 3) -> TopK:
        return self._topk_texts(texts, k, with_levels=True)

    def topk_from_proba(self, prob: np.ndarray, k: int, with_levels: bool = False) -> TopK:
        """The k best paths of a rows x paths probability matrix (optionally with best-path level scores)."""
        k = max(1, min(k, len(self.paths_)))
        prefix = self._prefix_ids() if with_levels else None
        return self._topk([_top_rows(prob, k, prefix)] if len(prob) else [], k, with_levels)

    def _topk_texts(self, texts: pd.DataFrame | pd.Series | list[str], k: int, with_levels: bool) -> TopK:
        frame = self._texts(texts)
        k = max(1, min(k, len(self.paths_)))
        prefix = self._prefix_ids() if with_levels else None
        parts = self.map_path_proba(frame, lambda prob: _top_rows(prob, k, prefix)) if len(frame) else []
        return self._topk(parts, k, with_levels)

    def _topk(self, parts: list[TopRows], k: int, with_levels: bool) -> TopK:
        """One :class:`TopK` from the top rows of consecutive chunks; level scores are NaN below a path's depth."""
        n_levels = len(self.levels_)
        if not parts:
            return TopK([], np.zeros((0, k)), np.zeros((0, n_levels)) if with_levels else None)
        idx = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        names = self.path_names()
        level_scores = None
        if with_levels:
            level_scores = np.concatenate([p[2] for p in parts if p[2] is not None])
            depth = np.array([len(names[j]) for j in idx[:, 0]])
            level_scores[np.arange(n_levels)[None, :] >= depth[:, None]] = np.nan
        return TopK([[names[j] for j in row] for row in idx.tolist()], scores, level_scores)


def _top_rows(prob: np.ndarray, k: int, prefix: list[np.ndarray] | None) -> TopRows:
    """The ``k`` most probable paths per row of ``prob`` (rows x paths), best first (the first on ties, as
    ``argmax``, so top-1 is ``predict``). With ``prefix`` (:meth:`PathModel._prefix_ids`), also the probability of
    the best path's node at each level: the mass of the paths sharing its prefix down to that level."""
    if k == 1:
        idx = prob.argmax(axis=1)[:, None]
    elif k < prob.shape[1]:
        idx = np.argpartition(-prob, k - 1, axis=1)[:, :k]
    else:
        idx = np.tile(np.arange(prob.shape[1]), (len(prob), 1))
    part = np.take_along_axis(prob, idx, axis=1)
    order = np.argsort(-part, axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, axis=1)
    levels = None
    if prefix is not None:
        best = idx[:, 0]
        levels = np.stack([(prob * (pid[None, :] == pid[best][:, None])).sum(axis=1) for pid in prefix], axis=1)
    return idx, np.take_along_axis(part, order, axis=1), levels


def decode_paths(level_logits: list[np.ndarray], paths: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Path probabilities (rows x paths) from raw per-level logits."""
    logp = [log_softmax(lg.astype(np.float64), axis=1) for lg in level_logits]
    return np.exp(log_softmax(path_log_scores(logp, paths) * temperature, axis=1))
