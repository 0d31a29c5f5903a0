"""The model contract every skutag categoriser speaks (linear, transformer, fast, ensemble).

scikit-learn's: ``__init__`` only stores its keyword hyperparameters, unchanged, under their own names, so
:meth:`CategoryModel.get_params` reads them from the signature, :meth:`~CategoryModel.set_params` changes them and
:func:`clone` builds an unfitted copy; ``fit(texts, labels)`` validates them first (``_validate_params``) and learns
state in attributes ending in ``_``; ``predict`` returns one column per level, always a valid taxonomy path;
``predict_proba`` gives per-level probabilities; ``predict_topk`` the k best paths with scores. What a kind can do
beyond that is declared in class flags (``supports_neighbours``, ``fit_takes_valid``, ...), never probed for.
``save(dir)`` writes a directory atomically (JSON + safetensors, never pickle) with a ``meta.json`` model card
holding sha256 checksums that :meth:`CategoryModel.load` verifies.
"""

from __future__ import annotations

import copy
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from skutag.errors import ConfigError, InputError, MissingColumnError, ModelLoadError, NotFittedError
from skutag.log import get_logger
from skutag.models.card import open_artefact, read_meta, save_artefact

if TYPE_CHECKING:
    from skutag.taxonomy import Taxonomy
    from skutag.trainer.runner import LoopRunner

log = get_logger(__name__)

M = TypeVar("M", bound="CategoryModel")


@dataclass
class TopK:
    """The k best paths per row: ``paths[i][j]`` is a tuple of level names, ``scores[i, j]`` its probability.

    ``level_scores[i, l]`` (when set) is the probability of the best path's node at level ``l``.
    """

    paths: list[list[tuple[str, ...]]]
    scores: np.ndarray
    level_scores: np.ndarray | None = None


@dataclass
class HeldOutScores:
    """How a fitted model scored training rows that the fit scoring them had not seen: the probability of each row's
    best path and whether it was the true one. ``folds`` fits scored ``len(confidence)`` of the ``n_rows`` training
    rows (``folds`` > 1: cross-validation; 1: one held-out split). The train workflow turns them into the model
    card's precision-coverage table when no validation file is given (:attr:`CategoryModel.heldout_`)."""

    confidence: np.ndarray
    correct: np.ndarray
    folds: int
    n_rows: int
    #: what else the held-out rows were used for (early stopping, ...), for the card's description
    note: str = ""
    #: which training rows were scored (their indices, in the order of ``confidence``), when the fit records them
    rows: np.ndarray | None = None

    def subset(self, keep: np.ndarray, note: str = "") -> HeldOutScores:
        """The scores of the rows whose training-row index is marked in ``keep`` (a mask over the training rows):
        distillation keeps its labelled rows, leaving out the rows it labelled with the teacher's predictions."""
        if self.rows is None:
            raise ValueError("these held-out scores do not record which training rows they are")
        mine = np.asarray(keep, dtype=bool)[self.rows]
        return HeldOutScores(
            self.confidence[mine], self.correct[mine], self.folds, int(np.sum(keep)), note or self.note, self.rows[mine]
        )

    def describe(self) -> str:
        rows = len(self.confidence)
        if self.folds > 1 and rows >= self.n_rows:
            text = f"cross-validated on {rows:,} training rows, {self.folds} folds"
        elif self.folds > 1:
            text = f"cross-validated on {rows:,} of {self.n_rows:,} training rows, {self.folds} folds"
        else:
            text = f"held out {rows:,} of {self.n_rows:,} training rows"
        return f"{text} ({self.note})" if self.note else text


def level_columns(n_levels: int) -> list[str]:
    return [f"level_{i + 1}" for i in range(n_levels)]


class CategoryModel(ABC):
    """Abstract categoriser. Subclasses set ``kind``, declare their capabilities, implement the abstract methods,
    and take their hyperparameters as named keywords of ``__init__`` that it stores as given (no ``**kwargs``, no
    validation: that is ``_validate_params``, run by ``fit``)."""

    kind: ClassVar[str] = "base"
    #: other kinds whose saved directories this class also loads (the edge runtime reads transformer directories)
    also_loads: ClassVar[tuple[str, ...]] = ()

    # ---- declared capabilities: callers (the ensemble, the server) read these instead of probing for methods ----
    #: ``predict_path_proba(texts)`` (rows x paths) and ``path_names()``: the model can be blended in an ensemble.
    scores_paths: ClassVar[bool] = False
    #: :meth:`neighbour_features`: rows as the model sees them, for an ensemble's nearest-neighbour index.
    supports_neighbours: ClassVar[bool] = False
    #: the model mixes in the votes of its own nearest-neighbour index: :meth:`add_neighbours` grows it and
    #: :meth:`path_proba_and_features` can leave its votes out.
    has_neighbour_index: ClassVar[bool] = False
    #: ``fit(texts, labels, valid=(texts, labels))`` takes explicit validation rows (early stopping, tuning).
    fit_takes_valid: ClassVar[bool] = False
    #: ``fit(texts, labels, valid=(texts, labels))`` tunes on those rows, then trains the final model on them too (the
    #: ensemble: blend weights, then its refit members): ``skutag train --tune``. They are training rows of the result,
    #: described in :attr:`tuning_`.
    tunes_then_trains: ClassVar[bool] = False
    #: :meth:`predict_tags`: a {tag: score} dict per row beside the category.
    extracts_tags: ClassVar[bool] = False
    #: ``fit`` runs its training loop through :attr:`loop_runner` when one is set (``skutag train --ray``).
    trains_distributed: ClassVar[bool] = False

    #: Called with each training step's message (the CLI's status line). Not a hyperparameter: never saved or cloned.
    progress: Callable[[str], None] | None = None
    #: Where a :attr:`trains_distributed` kind's training loop runs (None: in this process). Not a hyperparameter.
    loop_runner: LoopRunner | None = None
    #: Set by ``fit`` in kinds that score training rows out of fold (cross-validation or their own held-out split):
    #: what the train workflow calibrates the auto-accept threshold on without a validation file. Not saved (the
    #: card keeps the table made of it); None: the fit scored no unseen rows, such a model is not calibrated.
    heldout_: HeldOutScores | None = None
    #: Set by ``fit`` in kinds that tune on rows (:attr:`tunes_then_trains`): which rows, what was tuned, what was
    #: refitted on them (JSON-ready; the train workflow copies it into the model card's ``tuning`` entry).
    tuning_: dict[str, Any] | None = None

    # learned state common to all models
    text_columns_: list[str]
    levels_: list[str]
    taxonomy_: Taxonomy
    card_: dict[str, Any]

    # ---- hyperparameters ------------------------------------------------------------------------
    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The hyperparameters: the keyword parameters of ``__init__``, sorted. The signature is their one list
        (scikit-learn's rule), so get_params, set_params, clone and the saved config cannot drift apart."""
        init = cls.__init__
        if init is object.__init__:
            return []
        names = []
        for p in inspect.signature(init).parameters.values():
            if p.name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ takes *{p.name}: every hyperparameter must be named")
            names.append(p.name)
        return sorted(names)

    @classmethod
    def check_param_names(cls, names: Iterable[str]) -> None:
        """ConfigError naming the valid hyperparameters when any of ``names`` is not one (a typo in --params)."""
        valid = cls._get_param_names()
        unknown = sorted(set(names) - set(valid))
        if unknown:
            raise ConfigError(
                f"unknown parameter(s) {', '.join(unknown)} for a {cls.kind!r} model; valid: {', '.join(valid)}"
            )

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters by name, as given to ``__init__`` or :meth:`set_params`."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> Self:
        """Change hyperparameters (an unknown name is a ConfigError; values are checked by the next ``fit``).
        Learned state is kept: refit for the new values to take effect in training."""
        self.check_param_names(params)
        for name, value in params.items():
            setattr(self, name, value)
        return self

    @abstractmethod
    def _validate_params(self) -> None:
        """Raise ConfigError for a hyperparameter value this kind cannot use. ``fit`` calls it before any work;
        ``__init__`` never does, so set_params and clone can build any model and the error comes where it bites."""

    @abstractmethod
    def fit(self, texts: pd.DataFrame, labels: pd.DataFrame) -> Self:
        """Learn from text columns (one per field) and label columns (level_1..level_n)."""

    @abstractmethod
    def predict_proba(self, texts: pd.DataFrame) -> list[pd.DataFrame]:
        """Per level, a rows x classes frame of probabilities (consistent with the predicted paths)."""

    @abstractmethod
    def predict_topk(self, texts: pd.DataFrame, k: int = 3) -> TopK:
        """The ``k`` best valid paths per row with their probabilities, best first."""

    def predict_scored(self, texts: pd.DataFrame, k: int = 3) -> TopK:
        """Top-k paths plus the per-level probability of the best path's nodes (one pass where possible)."""
        top = self.predict_topk(texts, k=k)
        proba = self.predict_proba(texts)
        scores = np.full((len(top.paths), len(self.levels_)), np.nan)
        for lv, frame in enumerate(proba):
            col = {c: j for j, c in enumerate(frame.columns)}
            values = frame.to_numpy()
            for i, paths in enumerate(top.paths):
                if lv < len(paths[0]) and paths[0][lv] in col:
                    scores[i, lv] = values[i, col[paths[0][lv]]]
        top.level_scores = scores
        return top

    def predict(self, texts: pd.DataFrame | pd.Series | list[str]) -> pd.DataFrame:
        """The best valid path per row: one column per level (None where the path is shorter)."""
        frame = self._texts(texts)
        top = self.predict_topk(frame, k=1)
        n = len(self.levels_)
        rows = [list(p[0]) + [None] * (n - len(p[0])) for p in top.paths]
        return pd.DataFrame(rows, columns=self.levels_, index=frame.index, dtype=object)

    def predict_one(self, product: str | Mapping[str, object], k: int = 1, levels: bool = False) -> TopK:
        """One product's ``k`` best paths, best first (``levels``: with the level scores of :meth:`predict_scored`):
        ``product`` is its title (a string, for the first text column) or its text fields by column name (a field
        missing or None is empty; columns the model does not use are ignored). The answer of :meth:`predict_topk`
        (or :meth:`predict_scored`) on a one-row frame; a kind may answer faster without pandas (the linear model).
        Best path: ``model.predict_one(title).paths[0][0]``, its probability ``.scores[0, 0]``."""
        frame = pd.DataFrame([self._one_values(product)], columns=self.text_columns_, dtype=object)
        return self.predict_scored(frame, k=k) if levels else self.predict_topk(frame, k=k)

    def _one_values(self, product: str | Mapping[str, object]) -> list[str]:
        """The text of each of :attr:`text_columns_` for :meth:`predict_one` (InputError naming what is wrong)."""
        self._check_fitted()
        if isinstance(product, str):
            return [product] + [""] * (len(self.text_columns_) - 1)
        if not isinstance(product, Mapping):
            raise InputError(
                f"a product is its title (str) or a mapping of text fields by column name, not {type(product).__name__}"
            )
        if not any(c in product for c in self.text_columns_):
            raise MissingColumnError(
                f"none of the model's text columns {self.text_columns_} is in the product (has {list(product)})",
                column=self.text_columns_[0],
            )
        out = []
        for c in self.text_columns_:
            value = product.get(c)
            if value is not None and not isinstance(value, str):
                raise InputError(f"text field is {type(value).__name__} {value!r}, not a string (or None)", column=c)
            out.append(value or "")
        return out

    # ---- capabilities: defined by the kinds that declare them ------------------------------------
    def neighbour_features(self, texts: pd.DataFrame | pd.Series | list[str]) -> np.ndarray | sp.csr_matrix:
        """Rows as this model sees them (TF-IDF vectors, embeddings): kinds with :attr:`supports_neighbours`."""
        raise self._lacks("supports_neighbours")

    def add_neighbours(self, texts: pd.DataFrame, labels: pd.DataFrame) -> int:
        """Add labelled rows to the model's own neighbour index; how many joined (:attr:`has_neighbour_index`)."""
        raise self._lacks("has_neighbour_index")

    def path_proba_and_features(
        self, texts: pd.DataFrame | pd.Series | list[str], *, neighbours: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Path probabilities and neighbour features from one pass; ``neighbours=False`` leaves the model's own
        index's votes out (:attr:`has_neighbour_index`)."""
        raise self._lacks("has_neighbour_index")

    def predict_tags(self, texts: pd.DataFrame) -> list[dict[str, float]]:
        """A {tag: score} dict per row (:attr:`extracts_tags`)."""
        raise self._lacks("extracts_tags")

    def _lacks(self, capability: str) -> NotImplementedError:
        return NotImplementedError(f"a {self.kind!r} model does not declare {capability}")

    # ---- helpers for subclasses ---------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "levels_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted; call fit() or load() first")

    def _texts(self, texts: pd.DataFrame | pd.Series | list[str]) -> pd.DataFrame:
        """Accept a frame holding the training text columns (a Series/list is taken as the first one)."""
        self._check_fitted()
        if not isinstance(texts, pd.DataFrame):
            texts = pd.DataFrame({self.text_columns_[0]: list(texts)})
        missing = [c for c in self.text_columns_ if c not in texts.columns]
        if missing == self.text_columns_:
            raise MissingColumnError(
                f"none of the model's text columns {self.text_columns_} is in the input (has {list(texts.columns)})",
                column=missing[0],
            )
        if missing:
            log.warning("text column(s) %s missing from input; treated as empty", missing)
            texts = texts.assign(**{c: "" for c in missing})
        return texts

    # ---- persistence ----------------------------------------------------------------------------
    @abstractmethod
    def _save_state(self, directory: Path) -> None:
        """Write the learned state into ``directory`` (exists, empty). JSON and safetensors/npz only."""

    @classmethod
    @abstractmethod
    def _load_state(cls, directory: Path, meta: dict[str, Any]) -> Self:
        """Rebuild a fitted model from ``directory``; may raise anything (wrapped into ModelLoadError)."""

    def save(self, directory: str | Path) -> Path:
        """Save atomically: a crash mid-save leaves any previous model at ``directory`` intact."""
        self._check_fitted()
        directory = save_artefact(
            directory,
            self.kind,
            self._save_state,
            card=getattr(self, "card_", {}),
            text_columns=list(self.text_columns_),
            levels=list(self.levels_),
        )
        log.info("saved %s model to %s", self.kind, directory)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        """Load a saved model of this kind (``skutag.models.load_model`` loads any kind).

        Raises ModelLoadError for a missing, foreign, truncated or corrupted directory. Reads through the
        saved link's current version folder, so a save during the load cannot mix two versions.
        """
        kind = cls.kind
        if cls.also_loads:
            found = read_meta(Path(directory)).get("kind")
            kind = found if found in cls.also_loads else kind
        directory, meta = open_artefact(directory, str(kind))
        try:
            model = cls._load_state(directory, meta)
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"{directory}: cannot load model state ({type(exc).__name__}: {exc})") from exc
        model.card_ = {k: v for k, v in meta.items() if k not in ("files",)}
        return model


def clone(model: M) -> M:
    """A new, unfitted model of the same kind with a deep copy of ``model``'s hyperparameters (scikit-learn's
    ``clone``): learned state, caches and the progress callback stay behind."""
    return type(model)(**copy.deepcopy(model.get_params()))
