"""Distillation (SetFit's ``DistillationTrainer``, here for path models): a fitted teacher of any kind teaches an
unfitted student of a fast kind its path distribution, on labelled rows and on product text without labels.

The trainer imports the models, never the reverse. The teacher is any path model (``predict_path_proba`` over its
:meth:`~skutag.models.paths.PathModel.path_names`); it scores each product of the transfer set once (an augmented
copy takes its source product's scores, see :mod:`skutag.models.distill.transfer`). Rows without a label count only
where the teacher's confidence (its best path's probability) reaches ``min_confidence``.

**The student's path table** is the teacher's: each row's targets are teacher paths (a labelled row also has its own
path; one outside the teacher's table joins the student's with teacher probability 0). Teacher paths that are no
row's target are left out and the teacher's distribution is renormalised over the rest (a path no row points to
cannot be learnt from these rows); :attr:`Distiller.stats_` records the mass left out.

Students:

- **transformer** (any encoder; ``encoder_layers`` keeps 2-3 of MiniLM's 6 for a shallow one): fine-tuned by
  :class:`~skutag.trainer.distill.DistillationTrainer`: ``alpha · T² · KL(teacher_T || student_T) + (1 - alpha) ·
  hard-label loss`` on labelled rows, the KL term alone on the others.
- **linear**: an SVM learns targets, not distributions, so the soft targets become weighted rows: each row stands
  for the ``soft_paths`` most probable teacher paths at temperature ``T``, each weighing its tempered probability
  (times ``alpha`` on a labelled row, whose true path weighs ``1 - alpha``); targets under
  :data:`MIN_TARGET_WEIGHT` are dropped. ``soft_paths=1`` is pseudo-labelling weighted by the teacher's confidence.
  The linear model's calibration holds out a product with its copies and weighs each target row by its weight.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from skutag.errors import ConfigError
from skutag.log import get_logger
from skutag.models.base import CategoryModel
from skutag.models.distill.transfer import AUGMENTED, LABELLED, UNLABELLED, TransferRows, augment
from skutag.models.paths import PathModel
from skutag.taxonomy import clean_path

log = get_logger(__name__)

#: the kinds a teacher can be distilled into
STUDENTS = ("linear", "transformer")
#: the temperature each student kind learns at unless told: Hinton's 2 for the transformer's KL term; 1 for the linear
#: student, whose rows weigh the teacher's tempered confidence (MWPD, 2,500 labelled + 7,512 unlabelled offers: 1 gave
#: 0.766 / 0.505 weighted / macro F1, 2 gave 0.758 / 0.495)
DEFAULT_TEMPERATURE = {"linear": 1.0, "transformer": 2.0}
#: a linear student's target rows weighing less than this are dropped (a teacher's faint alternatives)
MIN_TARGET_WEIGHT = 0.05
#: what the student's held-out scores (the card's calibration without a validation file) are made of
HELD_OUT_NOTE = "labelled rows only: rows whose targets are the teacher's left out"


@dataclass
class DistillSettings:
    """How a student learns its teacher: ``temperature`` softens both distributions (None: the student kind's
    :data:`DEFAULT_TEMPERATURE`); ``alpha`` is the teacher's share of a labelled row's loss (the true label has the
    rest); rows without a label count where the teacher's best path has at least ``min_confidence``; ``augment``
    copies of each row, each a field swap with probability ``swap`` (when the product has another field) or else
    token dropout at rate ``dropout``; a linear student learns each row's ``soft_paths`` best teacher paths; ``seed``
    drives the augmentation."""

    temperature: float | None = None
    alpha: float = 0.5
    min_confidence: float = 0.5
    augment: int = 0
    dropout: float = 0.3
    swap: float = 0.5
    soft_paths: int = 1
    seed: int = 0

    def check(self) -> None:
        if self.temperature is not None and not self.temperature > 0:
            raise ConfigError(f"temperature must be > 0, not {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1], not {self.alpha}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"min_confidence must be in [0, 1], not {self.min_confidence}")
        if self.augment < 0:
            raise ConfigError(f"augment must be >= 0, not {self.augment}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), not {self.dropout}")
        if not 0.0 <= self.swap <= 1.0:
            raise ConfigError(f"swap must be in [0, 1], not {self.swap}")
        if self.soft_paths < 1:
            raise ConfigError(f"soft_paths must be >= 1, not {self.soft_paths}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Distiller:
    """Fit ``student`` (an unfitted linear or transformer model) on ``teacher``'s path distribution.

    ``fit(rows)`` takes :class:`~skutag.models.distill.transfer.TransferRows` (built from the labelled and unlabelled
    rows; augmented here per the settings) and returns the fitted student; :attr:`stats_` says what it learnt from
    (rows by origin, kept and left out, the teacher's agreement with the labels, the mass left out of the table)."""

    def __init__(
        self,
        teacher: CategoryModel,
        student: CategoryModel,
        settings: DistillSettings | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if not teacher.scores_paths or not isinstance(teacher, PathModel):
            raise ConfigError(f"a {teacher.kind!r} model cannot teach: it gives no path probabilities")
        if student.kind not in STUDENTS:
            raise ConfigError(f"unknown student {student.kind!r}; choose from {', '.join(STUDENTS)}")
        self.teacher: PathModel = teacher
        self.student = student
        settings = settings or DistillSettings()
        if settings.temperature is None:
            settings = replace(settings, temperature=DEFAULT_TEMPERATURE[student.kind])
        #: the settings with the temperature resolved (what the card records)
        self.settings = settings
        self.progress = progress
        self.stats_: dict[str, Any] = {}

    def _say(self, message: str) -> None:
        log.info(message)
        if self.progress is not None:
            self.progress(message)

    # ---- the transfer set and the teacher's view of it -------------------------------------------------------------
    def teacher_proba(self, rows: TransferRows) -> np.ndarray:
        """The teacher's path probabilities of each source product of ``rows`` (rows x teacher paths; index: group)."""
        sources = np.flatnonzero(rows.origin != AUGMENTED)
        if not np.array_equal(rows.group[sources], np.arange(len(sources))):
            raise ConfigError("the transfer rows' sources must come first, numbered 0..n-1 (TransferRows.build)")
        frame = rows.teacher.iloc[sources]
        self._say(f"teacher ({self.teacher.kind}) scoring {len(frame):,} products")
        probs: np.ndarray = self.teacher.predict_path_proba(frame)
        return probs

    def select(self, rows: TransferRows, probs: np.ndarray) -> np.ndarray:
        """Positions of the rows the student learns from: labelled rows and their copies, and rows whose product's
        teacher confidence reaches ``min_confidence``."""
        confidence = probs.max(axis=1)[rows.group]
        return np.flatnonzero(rows.labelled | (confidence >= self.settings.min_confidence))

    # ---- fitting ---------------------------------------------------------------------------------------------------
    def fit(self, rows: TransferRows, valid: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> CategoryModel:
        """Augment ``rows``, let the teacher score them, keep the confident ones, fit the student. ``valid`` (texts,
        labels) is passed to a student that stops early on validation rows (the transformer)."""
        cfg = self.settings
        cfg.check()
        t0 = time.perf_counter()
        probs = self.teacher_proba(rows)
        if cfg.augment:
            rows = augment(rows, cfg.augment, cfg.seed, cfg.dropout, cfg.swap)
            self._say(f"{rows.counts()[AUGMENTED]:,} augmented rows (token dropout, field swap)")
        kept = self.select(rows, probs)
        before = rows.counts()
        rows = rows.take(kept)
        after = rows.counts()
        names = [tuple(p) for p in self.teacher.path_names()]
        n_levels = max(len(self.teacher.levels_), rows.labels.shape[1])
        self.stats_ = {
            "teacher_paths": len(names),
            "rows": {o: {"in": before[o], "kept": after[o]} for o in (LABELLED, UNLABELLED, AUGMENTED)},
            "teacher_agreement": _agreement(rows, probs, names),
            "teacher_confidence_unlabelled": _mean(probs.max(axis=1)[rows.group[rows.origin == UNLABELLED]]),
        }
        self._say(
            f"distilling into a {self.student.kind} student: {len(rows):,} rows "
            f"({after[LABELLED]:,} labelled, {after[UNLABELLED]:,} unlabelled, {after[AUGMENTED]:,} augmented)"
        )
        if self.student.kind == "linear":
            self._fit_linear(rows, probs, names, n_levels)
        else:
            self._fit_transformer(rows, probs, names, n_levels, valid)
        self.stats_["seconds"] = round(time.perf_counter() - t0, 3)
        return self.student

    def _fit_linear(self, rows: TransferRows, probs: np.ndarray, names: list[tuple[str, ...]], n_levels: int) -> None:
        cfg = self.settings
        soft = soften(probs, float(cfg.temperature or 1.0))
        k = min(cfg.soft_paths, soft.shape[1])
        top = np.argsort(-soft, axis=1, kind="stable")[:, :k]
        true = [_padded(clean_path(r), n_levels) for r in rows.labels.itertuples(index=False, name=None)]
        padded = [_padded(p, n_levels) for p in names]
        entries: list[int] = []
        targets: list[tuple[str, ...]] = []
        weights: list[float] = []
        is_label: list[bool] = []
        for i in range(len(rows)):
            src = int(rows.group[i])
            share = cfg.alpha if rows.labelled[i] else 1.0
            mine: dict[tuple[str, ...], float] = {}
            if rows.labelled[i] and cfg.alpha < 1.0:
                mine[true[i]] = 1.0 - cfg.alpha
            for j in top[src]:
                w = share * float(soft[src, j])
                if w >= MIN_TARGET_WEIGHT:
                    mine[padded[j]] = mine.get(padded[j], 0.0) + w
            for path, w in mine.items():
                entries.append(i)
                targets.append(path)
                weights.append(w)
                is_label.append(bool(rows.labelled[i]) and rows.origin[i] == LABELLED and path == true[i])
        idx = np.asarray(entries, dtype=np.int64)
        texts = rows.student.iloc[idx].reset_index(drop=True)
        labels = pd.DataFrame(targets, columns=[f"level_{i + 1}" for i in range(n_levels)], dtype=object)
        self.stats_["target_rows"] = len(idx)
        self.stats_["soft_paths"] = k
        self.student.fit(  # type: ignore[call-arg]
            texts, labels, sample_weight=np.asarray(weights), groups=rows.group[idx]
        )
        held = self.student.heldout_
        if held is not None and held.rows is not None:
            # the card's calibration: the labelled products' own rows (true path), not the teacher's targets
            self.student.heldout_ = held.subset(np.asarray(is_label), note=HELD_OUT_NOTE)

    def _fit_transformer(
        self,
        rows: TransferRows,
        probs: np.ndarray,
        names: list[tuple[str, ...]],
        n_levels: int,
        valid: tuple[pd.DataFrame, pd.DataFrame] | None,
    ) -> None:
        from skutag.trainer.distill import DistillationTrainer

        cfg = self.settings
        best = probs.argmax(axis=1)
        true = [_padded(clean_path(r), n_levels) for r in rows.labels.itertuples(index=False, name=None)]
        padded = [_padded(p, n_levels) for p in names]
        targets = [true[i] if rows.labelled[i] else padded[best[rows.group[i]]] for i in range(len(rows))]
        labels = pd.DataFrame(targets, columns=[f"level_{i + 1}" for i in range(n_levels)], dtype=object)
        student = self.student
        stats = self.stats_
        built: list[DistillationTrainer] = []

        def make_trainer(*args: Any, **kwargs: Any) -> DistillationTrainer:
            # built inside fit, once the student's path table is set: the teacher's columns are mapped onto it
            table = {_padded(p, n_levels): j for j, p in enumerate(student.path_names())}  # type: ignore[attr-defined]
            teacher = np.zeros((len(probs), len(table)), dtype=np.float32)
            cols = [(i, table[p]) for i, p in enumerate(padded) if p in table]
            src, dst = (np.array(c, dtype=np.int64) for c in zip(*cols, strict=True))
            teacher[:, dst] = probs[:, src]
            mass = teacher.sum(axis=1)
            stats["teacher_mass_left_out"] = round(float(1.0 - mass.mean()), 6)
            per_row = teacher[rows.group]
            empty = per_row.sum(axis=1) <= 1e-9  # a labelled row the teacher gives no mass inside the table
            per_row[empty, [table[targets[i]] for i in np.flatnonzero(empty)]] = 1.0
            per_row /= per_row.sum(axis=1, keepdims=True)
            trainer = DistillationTrainer(
                *args,
                **kwargs,
                teacher=per_row,
                labelled=rows.labelled,
                paths=student.paths_,  # type: ignore[attr-defined]
                temperature=float(cfg.temperature or 1.0),
                alpha=cfg.alpha,
            )
            built.append(trainer)
            return trainer

        student.fit(rows.student, labels, valid, trainer=make_trainer)  # type: ignore[call-arg]
        if built:
            parts = built[-1].parts
            stats["loss"] = {
                "kl_per_row": round(parts["kl"] / max(1.0, parts["rows"]), 6),
                "hard_per_labelled_row": round(parts["hard"] / max(1.0, parts["labelled_rows"]), 6),
            }
        held = student.heldout_
        if held is not None and held.rows is not None:
            mine = rows.labelled & (rows.origin == LABELLED)
            student.heldout_ = held.subset(mine, note=HELD_OUT_NOTE)


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise ``p^(1/T)`` renormalised: a distribution at temperature ``T`` (zeros stay zero)."""
    with np.errstate(divide="ignore"):
        logp = np.log(np.asarray(probs, dtype=np.float64)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    out = np.exp(logp)
    out /= out.sum(axis=1, keepdims=True)
    return out


def _padded(path: tuple[str, ...], n: int) -> tuple[str, ...]:
    return tuple(path) + ("",) * (n - len(path))


def _mean(values: np.ndarray) -> float | None:
    return round(float(np.mean(values)), 6) if len(values) else None


def _agreement(rows: TransferRows, probs: np.ndarray, names: list[tuple[str, ...]]) -> float | None:
    """Share of the labelled products whose true path is the teacher's best one."""
    mine = np.flatnonzero(rows.labelled & (rows.origin == LABELLED))
    if not len(mine):
        return None
    best = probs.argmax(axis=1)
    hits = [clean_path(tuple(rows.labels.iloc[i])) == tuple(names[best[rows.group[i]]]) for i in mine]
    return round(float(np.mean(hits)), 6)
