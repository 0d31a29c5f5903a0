"""The linear categoriser: per-field hashed word + char n-gram TF-IDF, one linear SVM per level with
temperature-calibrated probabilities, and hierarchy-consistent decoding over the paths seen in training.

Decoding is :class:`~skutag.models.paths.PathModel`'s: every path seen in training is scored by the sum of its
nodes' calibrated log-probabilities, times a path temperature fitted on held-out rows. This module supplies that
distribution chunk by chunk (bounded memory, chunks on threads).
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from safetensors.numpy import load_file, save_file
from scipy.special import log_softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from skutag.errors import ConfigError, EmptyInputError
from skutag.log import get_logger
from skutag.models.base import HeldOutScores, TopK
from skutag.models.linear.decoding import path_proba
from skutag.models.linear.features import MultiFieldVectorizer, NgramConfig
from skutag.models.linear.one_row import add_row_product, field_features
from skutag.models.linear.sgd_solver import CLASS_WEIGHT_POWER, fit_ovr_sgd
from skutag.models.linear.sparse_kernels import add_sparse_product
from skutag.models.paths import PathModel, encode_labels, fit_temperature, path_log_scores, path_targets
from skutag.taxonomy import Taxonomy

log = get_logger(__name__)

CONFIG_FILE = "config.json"
ARRAYS_FILE = "arrays.safetensors"
TAXONOMY_FILE = "taxonomy.json"
_CHUNK = 4096

#: At most this many n-gram buckets per field (the most frequent): bounds the coefficient matrix (features x classes)
#: on big catalogues. MWPD's 10K titles have 145K; 1M resampled titles 958K.
MAX_FEATURES = 1 << 19
SOLVERS = ("auto", "liblinear", "sgd")
#: The sgd solver's default epochs give about this many row steps (at least 2, at most 15 epochs).
SGD_STEPS = 1_000_000
#: The first text column is the title: word 1-2 grams and char 2-5 grams, full weight (min_df 2 costs macro F1).
TITLE_FIELD = NgramConfig(word=(1, 2), char=(2, 5), min_df=1, weight=1.0, max_features=MAX_FEATURES)
#: Other short fields (shop category, brand): same n-grams, half weight.
SHORT_FIELD = NgramConfig(word=(1, 2), char=(2, 5), min_df=2, weight=0.5, max_features=MAX_FEATURES)
#: Long fields (descriptions): words of the first 300 characters only, low weight.
LONG_FIELD = NgramConfig(word=(1, 2), char=None, min_df=2, max_chars=300, weight=0.3, max_features=MAX_FEATURES)
LONG_MEDIAN_CHARS = 100
#: URL fields: words of the URL (path segments, shop names), half weight; char n-grams of URLs cost much.
URL_FIELD = NgramConfig(word=(1, 2), char=None, min_df=2, weight=0.5, max_features=MAX_FEATURES)


class LinearModel(PathModel):
    """TF-IDF + linear SVM per level, calibrated, decoded as whole taxonomy paths.

    Hyperparameters: ``C`` (SVM regularisation), ``class_weight`` (None; 'balanced': a class's rows weigh
    n / (classes x its count); 'sqrt': the square root of that, a milder push towards rare classes), ``fields`` (column
    -> :class:`NgramConfig` dict; columns not named get an automatic config), ``calibration_fraction``: the share
    of rows each calibration fit holds out (0 disables calibration), ``calibration_max_rows`` the most rows scored
    out of fold, ``n_jobs`` threads, ``random_state``. Temperatures are fitted on rows scored by fits without them:
    cross-validation (0.2: five folds, each fitted without its fifth) until ``calibration_max_rows`` rows are
    scored, so a small catalogue calibrates on every row; then the SVMs are fitted on all rows. The out-of-fold
    probabilities are :attr:`heldout_`, from which training without a validation file takes its auto-accept
    threshold. Above ``refit_max_rows`` rows one held-out share is scored and its fit is the model (with the defaults
    the held-out rows are then under 10% of the data): training fits once.

    ``solver``: 'liblinear' (exact one-vs-rest squared-hinge SVMs, cost classes x rows x passes), 'sgd'
    (averaged SGD on the same loss for all classes at once, :mod:`skutag.models.linear.sgd_solver`: cost linear in
    rows, with its own regularisation ``sgd_C`` and ``sgd_epochs``, None = about a million row steps, 2 to 15
    epochs), or 'auto': liblinear up to ``sgd_min_rows`` rows, sgd above. On MWPD both give the same F1
    (within 0.1 weighted, 0.5 macro points at 10K real and 100K resampled titles).
    """

    kind = "linear"
    scores_paths = True
    supports_neighbours = True

    def __init__(
        self,
        C: float = 0.5,
        class_weight: str | None = None,
        fields: dict[str, dict[str, Any]] | None = None,
        calibration_fraction: float = 0.2,
        calibration_max_rows: int = 20_000,
        refit_max_rows: int = 200_000,
        max_iter: int = 1000,
        solver: str = "auto",
        sgd_min_rows: int = 50_000,
        sgd_C: float = 2.0,
        sgd_epochs: int | None = None,
        n_jobs: int = 2,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.fields = fields
        self.calibration_fraction = calibration_fraction
        self.calibration_max_rows = calibration_max_rows
        self.refit_max_rows = refit_max_rows
        self.max_iter = max_iter
        self.solver = solver
        self.sgd_min_rows = sgd_min_rows
        self.sgd_C = sgd_C
        self.sgd_epochs = sgd_epochs
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _validate_params(self) -> None:
        if self.class_weight is not None and self.class_weight not in CLASS_WEIGHT_POWER:
            raise ConfigError(
                f"class_weight must be None or one of {sorted(CLASS_WEIGHT_POWER)}, not {self.class_weight!r}"
            )
        if self.solver not in SOLVERS:
            raise ConfigError(f"solver must be one of {', '.join(SOLVERS)}, not {self.solver!r}")

    # ---- fitting --------------------------------------------------------------------------------
    def _field_configs(self, texts: pd.DataFrame) -> dict[str, NgramConfig]:
        given = self.fields or {}
        out: dict[str, NgramConfig] = {}
        for i, col in enumerate(texts.columns):
            if col in given:
                out[str(col)] = NgramConfig.from_dict(given[col])
            elif i == 0:
                out[str(col)] = TITLE_FIELD
            elif _looks_like_urls(texts[col]):
                out[str(col)] = URL_FIELD
            else:
                lengths = texts[col].map(lambda v: len(v) if isinstance(v, str) else 0)
                long = float(lengths.median()) > LONG_MEDIAN_CHARS if len(lengths) else False
                out[str(col)] = LONG_FIELD if long else SHORT_FIELD
        return out

    def _step(self, message: str) -> None:
        log.info(message)
        if self.progress is not None:
            self.progress(message)

    def fit(
        self,
        texts: pd.DataFrame,
        labels: pd.DataFrame,
        *,
        sample_weight: np.ndarray | None = None,
        groups: np.ndarray | None = None,
    ) -> Self:
        """Fit on text columns and level labels. ``sample_weight`` (one non-negative number per row) scales each
        row's loss in every SVM (distillation weighs a row by its teacher's confidence); ``groups`` (an integer per
        row) keeps rows of one group in one calibration fold, so a row is never scored by a fit trained on a copy
        of it (an augmented title)."""
        self._validate_params()
        if len(texts) != len(labels):
            raise ConfigError(f"texts has {len(texts)} rows but labels has {len(labels)}")
        weight = _row_array(sample_weight, len(texts), "sample_weight", np.float64)
        group = _row_array(groups, len(texts), "groups", np.int64)
        if weight is not None and (not np.isfinite(weight).all() or (weight < 0).any()):
            raise ConfigError("sample_weight must be finite and non-negative")
        if len(texts) == 0:
            raise EmptyInputError("no training rows")
        if texts.shape[1] == 0 or labels.shape[1] == 0:
            raise ConfigError("need at least one text column and one label column")
        n_levels = labels.shape[1]
        enc = encode_labels(labels)
        self._set_labels(enc)
        self.text_columns_ = [str(c) for c in texts.columns]
        y = enc.y

        self._step(f"vectorising {len(texts):,} rows ({', '.join(self.text_columns_)})")
        self.vectorizer_ = MultiFieldVectorizer(self._field_configs(texts))
        cols = {c: texts[c].tolist() for c in self.text_columns_}
        x = self.vectorizer_.fit_transform(cols)

        self.level_temperature_ = np.ones(n_levels, dtype=np.float64)
        self.path_temperature_ = 1.0
        self.heldout_ = None
        n_classes = [len(c) for c in self.classes_]
        folds = self.calibration_folds(len(texts), group)
        # big catalogues: the fit without the held-out rows is the model (one fit instead of two)
        one_fit = len(folds) == 1 and len(texts) > self.refit_max_rows
        if folds:
            n_held = sum(len(f) for f in folds)
            how = f"{len(folds)} fold(s) of {len(folds[0]):,} rows" if len(folds) > 1 else "one held-out share"
            self._step(f"calibrating on {n_held:,} rows scored out of fold ({how})")
        keeps = [np.setdiff1d(np.arange(len(texts)), hold) for hold in folds]
        rows = len(keeps[0]) if one_fit else len(texts)
        self.solver_ = self.solver_for(len(texts))
        self._step(
            f"fitting {n_levels} level classifier(s) on {rows:,} rows x {x.shape[1]:,} features ({self.solver_})"
        )
        # the final fit and the first fold's share one thread pool; later folds run one at a time and only their
        # held-out scores are kept (at most two coefficient matrices in memory, as without cross-validation)
        jobs: list[np.ndarray | None] = [keeps[0]] if one_fit else [None, *keeps[:1]]
        fitted = self._fit_levels_many(x, y, jobs, n_classes, weight)
        self.coef_, self.intercept_ = fitted[0]
        if folds:
            held = [self._fold_scores(x, y, folds[0], keeps[0], *fitted[-1], weight)]
            del fitted
            for hold, keep in zip(folds[1:], keeps[1:], strict=True):
                self._step(f"calibration fold {len(held) + 1} of {len(folds)}")
                coef, b = self._fit_levels_many(x, y, [keep], n_classes, weight)[0]
                held.append(self._fold_scores(x, y, hold, keep, coef, b, weight))
            self._calibrate(held, len(texts), np.concatenate(folds))
        return self

    def calibration_folds(self, n_rows: int, groups: np.ndarray | None = None) -> list[np.ndarray]:
        """The held-out rows of each calibration fit (none: no calibration).

        Up to ``refit_max_rows`` rows: cross-validation in folds of ``calibration_fraction`` of the rows (0.2: five
        folds), each fitted without its fold and scoring it, until ``calibration_max_rows`` rows are scored (a
        small catalogue: every row, its rare classes in every fold's training rows but one). Above: one held-out
        share of ``calibration_fraction`` (at most ``calibration_max_rows`` rows), whose fit is the model.
        With ``groups`` (an integer per row) the rows of a group are held out together: the shuffled order keeps
        them side by side and each fold ends where a group does."""
        if self.calibration_fraction <= 0:
            return []
        rng = np.random.default_rng(self.random_state)
        order = rng.permutation(n_rows)
        ends = np.arange(1, n_rows + 1)  # a fold may end after any row
        if groups is not None and n_rows:
            _, group = np.unique(groups, return_inverse=True)
            rank = rng.permutation(int(group.max()) + 1)
            order = order[np.argsort(rank[group[order]], kind="stable")]
            ordered = group[order]
            ends = np.append(np.flatnonzero(ordered[1:] != ordered[:-1]) + 1, n_rows)

        def end_after(i: int) -> int:  # the first fold boundary at or after row i of the order
            return int(ends[min(int(np.searchsorted(ends, i)), len(ends) - 1)])

        if n_rows > self.refit_max_rows:
            n_hold = end_after(min(round(n_rows * self.calibration_fraction), self.calibration_max_rows))
            return [np.sort(order[:n_hold])] if n_hold >= 20 and n_rows - n_hold >= 20 else []
        size = -(-n_rows // max(2, round(1 / self.calibration_fraction)))
        n_held = end_after(min(n_rows, self.calibration_max_rows))
        if n_held < 20 or n_rows - size < 20:
            return []
        cuts = sorted({0, *(end_after(i) for i in range(size, n_held, size)), n_held})
        return [np.sort(order[a:b]) for a, b in itertools.pairwise(cuts) if b > a]

    def solver_for(self, n_rows: int) -> str:
        """The solver a fit on ``n_rows`` rows uses: 'auto' looks at the rows of the first fit (without the
        held-out calibration rows above ``refit_max_rows``)."""
        if self.solver != "auto":
            return self.solver
        n_hold = min(round(n_rows * self.calibration_fraction), self.calibration_max_rows)
        calibrated = self.calibration_fraction > 0 and n_hold >= 20 and n_rows - n_hold >= 20
        rows = n_rows - n_hold if calibrated and n_rows > self.refit_max_rows else n_rows
        return "sgd" if rows > self.sgd_min_rows else "liblinear"

    def _fit_levels_many(
        self,
        x_all: sp.csr_matrix,
        y_all: np.ndarray,
        job_rows: Sequence[np.ndarray | None],
        n_classes: Sequence[int],
        weight: np.ndarray | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each job (its rows of ``x_all``, None: all), one linear SVM per level (rows weighted by ``weight``
        when given); all fits share one thread pool (the sgd solver fits every level at once and reads the rows in
        place).

        A level with more than its threads' share of the work (classes x rows) is fitted in ranges of classes
        (one-vs-rest problems are independent), so the threads finish together. Coefficients of a job are
        stacked as features x sum(classes) (float16-rounded, as stored)."""
        Task = tuple[int, int, int, int]  # job, level, first class, end class

        def one(task: Task) -> tuple[np.ndarray, np.ndarray]:
            j, level, lo, hi = task
            x, y, w = jobs[j]
            return _fit_svm(
                x, y[:, level], n_classes[level], self.C, self.class_weight, self.max_iter, self.random_state, lo, hi, w
            )

        if self.solver_ == "sgd":
            return [_rounded(*self._fit_sgd(x_all, y_all, rows, n_classes, weight)) for rows in job_rows]
        jobs = [
            (x_all, y_all, weight)
            if rows is None
            else (x_all[rows], y_all[rows], None if weight is None else weight[rows])
            for rows in job_rows
        ]
        threads = max(1, self.n_jobs)
        work = {(j, lv): n_classes[lv] * jobs[j][0].shape[0] for j in range(len(jobs)) for lv in range(len(n_classes))}
        share = sum(work.values()) / threads
        tasks: list[Task] = []
        for (j, lv), w in work.items():
            parts = min(threads, n_classes[lv], max(1, int(np.ceil(w / share - 1e-9))))
            bounds = np.linspace(0, n_classes[lv], parts + 1).round().astype(int)
            tasks.extend((j, lv, int(a), int(b)) for a, b in itertools.pairwise(bounds))
        # biggest first (classes x rows): better packing of the threads
        tasks.sort(key=lambda t: -(t[3] - t[2]) * jobs[t[0]][0].shape[0])
        with ThreadPoolExecutor(max(1, min(threads, len(tasks)))) as pool:
            done = dict(zip(tasks, pool.map(one, tasks), strict=True))
        out = []
        for j in range(len(jobs)):
            fitted = [done[t] for t in sorted(t for t in tasks if t[0] == j)]  # level, then class order
            out.append(_rounded(np.concatenate([f[0] for f in fitted], axis=1), np.concatenate([f[1] for f in fitted])))
        return out

    def _fit_sgd(
        self,
        x: sp.csr_matrix,
        y: np.ndarray,
        rows: np.ndarray | None,
        n_classes: Sequence[int],
        weight: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        n = x.shape[0] if rows is None else len(rows)
        epochs = self.sgd_epochs or int(np.clip(np.ceil(SGD_STEPS / max(1, n)), 2, 15))
        self._step(f"averaged SGD, {epochs} epoch(s) over {n:,} rows")
        return fit_ovr_sgd(
            x,
            y,
            list(n_classes),
            self.sgd_C,
            rows=rows,
            epochs=epochs,
            class_weight=self.class_weight,
            n_jobs=self.n_jobs,
            seed=self.random_state,
            sample_weight=weight,
        )

    def _fold_scores(
        self,
        x: sp.csr_matrix,
        y: np.ndarray,
        hold: np.ndarray,
        keep: np.ndarray,
        coef: np.ndarray,
        b: np.ndarray,
        weight: np.ndarray | None = None,
    ) -> _FoldScores:
        """Raw scores of a fold's held-out rows by the fit without them, and their targets: per level, -1 where
        the fit had no row of the true class (an SVM that never saw a class cannot score it: such rows would drag
        the temperature towards 0, the small-catalogue underconfidence); for paths, -1 where it had no row of the
        true path; ``path`` keeps every true path (what counts as right); the rows' weights in the temperature
        fits (their sample weights)."""
        scores = np.asarray(x[hold] @ coef, dtype=np.float64) + b
        levels = y[hold].copy()
        for lv in range(y.shape[1]):
            seen = np.zeros(len(self.classes_[lv]), dtype=bool)
            seen[y[keep, lv]] = True
            levels[~seen[levels[:, lv]], lv] = -1
        path = path_targets(y[hold], self.paths_)
        seen_paths = np.zeros(len(self.paths_), dtype=bool)
        seen_paths[path_targets(y[keep], self.paths_)] = True
        w = np.ones(len(hold)) if weight is None else weight[hold]
        return _FoldScores(scores, levels, np.where(seen_paths[path], path, -1), path, w)

    def _calibrate(self, folds: list[_FoldScores], n_rows: int, rows: np.ndarray) -> None:
        """Fit a temperature per level, then one for path scores, on rows scored out of fold; the path probability
        of each row's best path then is :attr:`heldout_` (the card's threshold table, made by the train workflow)."""
        scores = np.concatenate([f.scores for f in folds])
        levels = np.concatenate([f.levels for f in folds])
        weight = np.concatenate([f.weight for f in folds])
        n_classes = [len(c) for c in self.classes_]
        offsets = np.cumsum([0, *n_classes])
        logps = []
        for lv in range(len(n_classes)):
            d = scores[:, offsets[lv] : offsets[lv + 1]]
            self.level_temperature_[lv] = fit_temperature(d, levels[:, lv], weight)
            logps.append(log_softmax(d * self.level_temperature_[lv], axis=1))
        del scores
        path_scores = path_log_scores(logps, self.paths_)
        self.path_temperature_ = fit_temperature(path_scores, np.concatenate([f.seen_path for f in folds]), weight)
        prob = log_softmax(path_scores * self.path_temperature_, axis=1)
        best = prob.argmax(axis=1)
        self.heldout_ = HeldOutScores(
            confidence=np.exp(prob[np.arange(len(prob)), best]),
            correct=best == np.concatenate([f.path for f in folds]),
            folds=len(folds) if len(folds) > 1 else 1,
            n_rows=n_rows,
            rows=rows,
        )
        log.info(
            "temperatures: levels %s, path %.3f (%s)",
            np.round(self.level_temperature_, 3).tolist(),
            self.path_temperature_,
            self.heldout_.describe(),
        )

    # ---- prediction -----------------------------------------------------------------------------
    def _chunk_scores(self, texts: pd.DataFrame) -> np.ndarray:
        """Raw SVM scores of a chunk, all levels side by side (rows x sum(classes), float32)."""
        cols = {c: texts[c].tolist() for c in self.text_columns_}
        scores = np.zeros((len(texts), self.coef_.shape[1]), dtype=np.float32)
        triples = self.vectorizer_.transform_triples(cols)
        if triples:
            rows, feats, values = (np.concatenate([t[i] for t in triples]) for i in range(3))
            add_sparse_product(scores, rows, feats, values, self.coef_)
        scores += self.intercept_
        return scores

    def _chunk_path_proba(self, texts: pd.DataFrame) -> np.ndarray:
        """P(path) for each row of a chunk: rows x paths."""
        return self._scores_path_proba(self._chunk_scores(texts))

    def _scores_path_proba(self, scores: np.ndarray) -> np.ndarray:
        """P(path) (rows x paths) from raw SVM scores (rows x all classes, float32): compiled, one pass per row."""
        offsets = self._per_table("offsets", lambda: np.cumsum([0, *[len(c) for c in self.classes_]], dtype=np.int64))
        return path_proba(scores, offsets, self.level_temperature_, self.paths_, self.path_temperature_)

    def predict_one(self, product: str | Mapping[str, object], k: int = 1, levels: bool = False) -> TopK:
        """One product's ``k`` best paths without pandas: its fields' n-grams hashed, looked up and summed into the
        class scores in one compiled pass (:mod:`skutag.models.linear.one_row`), then the batch path's decoding.
        The same answer as :meth:`predict_topk` (``levels``: :meth:`predict_scored`) on a one-row frame, bit for
        bit, at 13x its calls per second (MWPD titles: 0.87x fastText's ``predict(str)``, docs/benchmarks.md)."""
        texts = self._one_values(product)
        values = dict(zip(self.text_columns_, texts, strict=True))
        parts = []
        offset = 0
        for name, vec in self.vectorizer_.vectorizers.items():
            cols, data = field_features(vec, values[name])
            parts.append((cols + offset if offset else cols, data))
            offset += vec.n_features
        cols, data = parts[0] if len(parts) == 1 else (np.concatenate(p) for p in zip(*parts, strict=True))
        scores = np.zeros((1, self.coef_.shape[1]), dtype=np.float32)
        add_row_product(scores[0], cols, data, self.coef_)
        scores += self.intercept_
        prob = self._scores_path_proba(scores)
        if k == 1 and not levels:  # what topk_from_proba gives for k=1, without its sorting steps
            best = int(prob[0].argmax())
            return TopK([[self._path_lookup()[0][best]]], prob[:, best : best + 1].copy())
        return self.topk_from_proba(prob, k, with_levels=levels)

    def decision_function(self, texts: pd.DataFrame | pd.Series | list[str]) -> list[pd.DataFrame]:
        """Raw per-level SVM scores (rows x classes), before calibration and path decoding."""
        frame = self._texts(texts)
        offsets = np.cumsum([0, *[len(c) for c in self.classes_]])

        parts = self._map_chunks(frame, self._chunk_scores) if len(frame) else [np.zeros((0, self.coef_.shape[1]))]
        scores = np.concatenate(parts)
        return [
            pd.DataFrame(scores[:, offsets[lv] : offsets[lv + 1]], columns=classes, index=frame.index)
            for lv, classes in enumerate(self.classes_)
        ]

    def neighbour_features(self, texts: pd.DataFrame | pd.Series | list[str]) -> sp.csr_matrix:
        """Rows as this model sees them (TF-IDF over its text columns), for nearest-neighbour search."""
        self._check_fitted()
        frame = self._texts(texts)
        return self.vectorizer_.transform({c: frame[c].tolist() for c in self.text_columns_})

    def _map_chunks(self, texts: pd.DataFrame, fn: Callable[[pd.DataFrame], Any]) -> list[Any]:
        # at most _CHUNK rows a chunk, and a multiple of n_jobs chunks of equal size (threads finish together)
        jobs = max(1, self.n_jobs)
        n_chunks = -(-len(texts) // _CHUNK)
        n_chunks = -(-n_chunks // jobs) * jobs if len(texts) >= 2 * jobs * 256 else n_chunks
        size = max(1, -(-len(texts) // max(1, n_chunks)))
        chunks = [texts.iloc[i : i + size] for i in range(0, len(texts), size)]
        if len(chunks) <= 1 or self.n_jobs <= 1:
            return [fn(c) for c in chunks]
        with ThreadPoolExecutor(self.n_jobs) as pool:
            return list(pool.map(fn, chunks))

    def map_path_proba(self, frame: pd.DataFrame, fn: Callable[[np.ndarray], Any]) -> list[Any]:
        """``fn`` of each chunk's path probabilities: memory stays chunk x paths, chunks run on ``n_jobs`` threads."""
        return self._map_chunks(frame, lambda chunk: fn(self._chunk_path_proba(chunk)))

    def predict_path_proba(self, texts: pd.DataFrame | pd.Series | list[str]) -> np.ndarray:
        """P(path) per row over :attr:`paths_` (rows x paths)."""
        frame = self._texts(texts)
        if len(frame) == 0:
            return np.zeros((0, len(self.paths_)))
        return np.concatenate(self.map_path_proba(frame, lambda prob: prob))

    # ---- persistence ----------------------------------------------------------------------------
    def _save_state(self, directory: Path) -> None:
        config = {
            "params": {k: v for k, v in self.get_params().items()},
            "text_columns": self.text_columns_,
            "levels": self.levels_,
            "classes": self.classes_,
            "fields": self.vectorizer_.config_list(),
            "level_temperature": self.level_temperature_.tolist(),
            "path_temperature": float(self.path_temperature_),
            "solver": self.solver_,
        }
        (directory / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False, indent=1), "utf-8")
        (directory / TAXONOMY_FILE).write_text(json.dumps(self.taxonomy_.to_dict(), ensure_ascii=False), "utf-8")
        arrays = {
            "coef": self.coef_.astype(np.float16),
            "intercept": self.intercept_,
            "paths": self.paths_,
            **self.vectorizer_.state_arrays(),
        }
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(directory / ARRAYS_FILE))

    @classmethod
    def _load_state(cls, directory: Path, meta: dict[str, Any]) -> Self:
        config = json.loads((directory / CONFIG_FILE).read_text("utf-8"))
        arrays = load_file(str(directory / ARRAYS_FILE))
        params = dict(config["params"])
        model = cls(**params)
        model.text_columns_ = [str(c) for c in config["text_columns"]]
        model.levels_ = [str(c) for c in config["levels"]]
        model.classes_ = [[str(c) for c in level] for level in config["classes"]]
        model.vectorizer_ = MultiFieldVectorizer.from_state(config["fields"], arrays)
        model.level_temperature_ = np.asarray(config["level_temperature"], dtype=np.float64)
        model.path_temperature_ = float(config["path_temperature"])
        model.solver_ = str(config.get("solver", "liblinear"))
        model.coef_ = np.ascontiguousarray(arrays["coef"], dtype=np.float32)
        model.intercept_ = np.asarray(arrays["intercept"], dtype=np.float32)
        model.paths_ = np.asarray(arrays["paths"], dtype=np.int32)
        model.taxonomy_ = Taxonomy.from_dict(json.loads((directory / TAXONOMY_FILE).read_text("utf-8")))
        n_out = sum(len(c) for c in model.classes_)
        if model.coef_.shape != (model.vectorizer_.n_features, n_out) or model.intercept_.shape != (n_out,):
            raise ValueError(f"coefficient shape {model.coef_.shape} does not match the vocabulary and classes")
        if model.paths_.ndim != 2 or model.paths_.shape[1] != len(model.classes_):
            raise ValueError("path table does not match the levels")
        for lv, classes in enumerate(model.classes_):
            if len(model.paths_) and (model.paths_[:, lv].max() >= len(classes) or model.paths_[:, lv].min() < 0):
                raise ValueError(f"path table refers to a class missing at level {lv + 1}")
        return model


@dataclass
class _FoldScores:
    """A calibration fold's held-out rows: raw scores (rows x all classes), level targets and path targets (-1:
    unseen by the fold's fit), the true path ids and the rows' weights."""

    scores: np.ndarray
    levels: np.ndarray
    seen_path: np.ndarray
    path: np.ndarray
    weight: np.ndarray


def _rounded(coef: np.ndarray, intercept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients as stored (float16, half the size), rounded here so a loaded model predicts identically."""
    return np.ascontiguousarray(coef.astype(np.float16).astype(np.float32)), intercept.astype(np.float32)


def _row_array(values: np.ndarray | None, n: int, name: str, dtype: type) -> np.ndarray | None:
    """``values`` as a 1-d array of ``n`` numbers (None stays None); a ConfigError for another shape."""
    if values is None:
        return None
    out: np.ndarray = np.asarray(values, dtype=dtype)
    if out.shape != (n,):
        raise ConfigError(f"{name} has shape {out.shape}; expected one value per row ({n})")
    return out


def _looks_like_urls(values: pd.Series) -> bool:
    sample = [v for v in values.head(200).tolist() if isinstance(v, str) and v.strip()]
    return bool(sample) and sum(v.strip().startswith(("http://", "https://", "www.")) for v in sample) > len(sample) / 2


def _fit_svm(
    x: sp.csr_matrix,
    y: np.ndarray,
    n_classes: int,
    c: float,
    class_weight: str | None,
    max_iter: int,
    seed: int,
    lo: int = 0,
    hi: int | None = None,
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (features x classes ``lo:hi``) and intercepts of the one-vs-rest linear SVMs of those
    classes (all by default), rows weighted by ``sample_weight``; absent classes get a large negative intercept so
    they are never chosen.

    For a range, rows of other classes become one "rest" class: each class's problem (it against every other
    row) is the same as in the full fit; class weights are computed over all classes."""
    hi = n_classes if hi is None else hi
    present, counts = np.unique(y, return_counts=True)
    coef = np.zeros((x.shape[1], hi - lo), dtype=np.float32)
    intercept = np.full(hi - lo, -10.0, dtype=np.float32)
    if len(present) == 1:
        if lo <= present[0] < hi:
            intercept[present[0] - lo] = 10.0
        return coef, intercept
    inside = (present >= lo) & (present < hi)
    if not inside.any():
        return coef, intercept
    weights: str | dict[int, float] | None = class_weight
    y_fit = y
    ranged = not inside.all()
    if ranged:  # a range of classes: the others are the rest
        y_fit = np.where((y >= lo) & (y < hi), y, -1)
    if class_weight is not None and (ranged or class_weight != "balanced"):  # else sklearn's own 'balanced'
        full = (len(y) / (len(present) * counts.astype(np.float64))) ** CLASS_WEIGHT_POWER[class_weight]
        weights = {int(k): float(w) for k, w in zip(present[inside], full[inside], strict=True)}
        if ranged:
            weights[-1] = 1.0
    svm = LinearSVC(C=c, class_weight=weights, max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        svm.fit(x, y_fit, sample_weight=sample_weight)
    w = svm.coef_.astype(np.float32)
    b = svm.intercept_.astype(np.float32)
    if len(svm.classes_) == 2:
        w = np.vstack([-w[0], w[0]])
        b = np.array([-b[0], b[0]], dtype=np.float32)
    mine = svm.classes_ >= 0
    coef[:, svm.classes_[mine] - lo] = w[mine].T
    intercept[svm.classes_[mine] - lo] = b[mine]
    return coef, intercept
