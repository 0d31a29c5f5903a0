"""A character-level linear-chain CRF attribute tagger: BIO labels over characters, trained with crfsuite,
predicted in numpy.

It needs no vocabulary, so it serves catalogues an English sub-word encoder cannot read (Chinese, Japanese;
any script, as a cheap fallback). Same interface as
:class:`skutag.models.neural.extractor.AttributeExtractor`: ``fit(texts, spans)`` with character spans
``(attribute, start, end)``, ``predict_spans`` with a probability per span, ``extract`` the best value per
attribute. After training, the weights are exported from crfsuite into a feature-string vocabulary (JSON) and
two matrices (safetensors): the saved model holds no pickle and no crfsuite binary, and prediction runs
without crfsuite.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from safetensors.numpy import load_file, save_file

from skutag.errors import ConfigError, ModelLoadError, NotFittedError
from skutag.extraction.bio import OUTSIDE, Span, best_values, check_span_data, label_names, token_labels
from skutag.log import get_logger
from skutag.models.card import open_artefact, save_artefact
from skutag.models.crf.decoding import marginals, viterbi
from skutag.models.crf.features import count_words, featurise

log = get_logger(__name__)

CONFIG_FILE = "crf.json"
WEIGHTS_FILE = "crf.safetensors"
BATCH = 256  # sentences decoded together (padded to the batch's longest; sorted by length first)


def _crfsuite() -> Any:
    try:
        import pycrfsuite
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "training the CRF tagger needs python-crfsuite, which is not installed: pip install 'skutag[zh]'",
            name="pycrfsuite",
        ) from exc
    return pycrfsuite


class CharCRFTagger:
    """BIO tagger over characters. Keyword hyperparameters only, kept as given (see :meth:`get_params`).

    ``c1``/``c2``: L1/L2 penalties of crfsuite's L-BFGS; ``max_iterations``: its iteration cap; ``window``:
    neighbouring characters on each side; ``bigrams``: character-pair features; ``words``: jieba word
    features; ``word_min_count``: a word is a feature of its own only when it occurs this often in training
    (rarer words would be memorised, not learned); ``progress``: an optional callable given status lines.
    """

    kind = "crf-extractor"

    def __init__(
        self,
        *,
        c1: float = 0.05,
        c2: float = 0.01,
        max_iterations: int = 150,
        window: int = 2,
        bigrams: bool = True,
        words: bool = True,
        word_min_count: int = 2,
        progress: Callable[[str], Any] | None = None,
    ) -> None:
        self.c1 = c1
        self.c2 = c2
        self.max_iterations = max_iterations
        self.window = window
        self.bigrams = bigrams
        self.words = words
        self.word_min_count = word_min_count
        self.progress = progress

    def get_params(self) -> dict[str, Any]:
        return {
            "c1": self.c1,
            "c2": self.c2,
            "max_iterations": self.max_iterations,
            "window": self.window,
            "bigrams": self.bigrams,
            "words": self.words,
            "word_min_count": self.word_min_count,
        }

    def _check_params(self) -> None:
        if not (float(self.c1) >= 0 and float(self.c2) >= 0):
            raise ConfigError(f"c1 and c2 must be >= 0, got {self.c1}, {self.c2}")
        if int(self.max_iterations) < 1 or int(self.window) < 0 or int(self.word_min_count) < 1:
            raise ConfigError("max_iterations and word_min_count must be >= 1 and window >= 0")

    def _check_fitted(self) -> None:
        if not hasattr(self, "labels_"):
            raise NotFittedError("this CharCRFTagger is not fitted; call fit() or load() first")

    def _features(self, text: str, vocabulary: set[str] | None = None) -> list[list[str]]:
        return featurise(
            text, window=int(self.window), bigrams=bool(self.bigrams), words=bool(self.words), vocabulary=vocabulary
        )

    # ---- fitting ----------------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[Span]],
        groups: Sequence[str] | None = None,
        schema: dict[str, list[str]] | None = None,
    ) -> Self:
        """Learn to tag ``spans`` (character offsets, end exclusive) in ``texts``; ``groups`` with ``schema``
        {group: attributes} restrict what :meth:`extract` returns per row (default: attributes seen per group)."""
        self._check_params()
        attributes, schema = check_span_data(texts, spans, groups, schema)
        labels = label_names(attributes)
        index = {n: i for i, n in enumerate(labels)}
        pycrfsuite = _crfsuite()
        t0, cpu0 = time.perf_counter(), time.process_time()
        vocabulary = None
        if self.words:
            counts = count_words(texts)
            vocabulary = {w for w, n in counts.items() if n >= int(self.word_min_count)}
        trainer = pycrfsuite.Trainer(verbose=False)
        trainer.set_params(
            {
                "c1": float(self.c1),
                "c2": float(self.c2),
                "max_iterations": int(self.max_iterations),
                "feature.possible_transitions": True,
            }
        )
        n_used = 0
        for text, row in zip(texts, spans, strict=True):
            text = str(text)
            if not text:
                continue
            y = token_labels([(i, i + 1) for i in range(len(text))], row, index)
            trainer.append(self._features(text, vocabulary), [labels[k] for k in y])
            n_used += 1
        if self.progress is not None:
            self.progress(f"training CRF tagger on {n_used:,} texts ({len(labels)} labels)")
        with tempfile.TemporaryDirectory(prefix="skutag-crf-") as tmp:
            path = str(Path(tmp) / "model.crfsuite")
            trainer.train(path)
            self.crfsuite_model_ = Path(path).read_bytes()  # kept in memory for checks; never saved
            tagger = pycrfsuite.Tagger()
            tagger.open(path)
            info = tagger.info()
            tagger.close()
        last = trainer.logparser.last_iteration or {}
        self.history_ = [
            {"iterations": len(trainer.logparser.iterations), "loss": last.get("loss"), "time_s": last.get("time")}
        ]
        self.labels_ = labels
        self.schema_ = {str(k): sorted(v) for k, v in (schema or {}).items()}
        crf_order = sorted(info.labels, key=lambda name: int(info.labels[name]))
        self._set_weights(crf_order, info.state_features, info.transitions)
        self.train_time_s_ = time.perf_counter() - t0
        self.train_cpu_s_ = time.process_time() - cpu0
        log.info(
            "CRF tagger: %d texts, %d attributes, %d weighted features, %.1f s",
            n_used,
            len(attributes),
            len(self.attributes_),
            self.train_time_s_,
        )
        return self

    def _set_weights(
        self, crf_labels: list[str], state: dict[tuple[str, str], float], transitions: dict[tuple[str, str], float]
    ) -> None:
        """Dense matrices over the labels crfsuite knows, in crfsuite's order (``known_``: indices into
        ``labels_``), so that ties break as in crfsuite's tagger; a schema attribute never seen in training
        gets no column."""
        index = {name: i for i, name in enumerate(self.labels_)}
        self.known_ = [index[name] for name in crf_labels]
        col = {self.labels_[i]: j for j, i in enumerate(self.known_)}
        self.attributes_ = sorted({a for a, _ in state})
        row = {a: i for i, a in enumerate(self.attributes_)}
        w = np.zeros((len(self.attributes_), len(self.known_)))
        for (a, lab), v in state.items():
            w[row[a], col[lab]] = v
        t = np.zeros((len(self.known_), len(self.known_)))
        for (a, b), v in transitions.items():
            t[col[a], col[b]] = v
        self.state_weights_, self.transitions_ = w, t
        self._index = row

    # ---- prediction -------------------------------------------------------------------------------
    def _emissions(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Padded state scores (B, T, L_known) and lengths for non-empty ``texts``."""
        rows: list[int] = []
        cols: list[int] = []
        lengths = np.array([len(t) for t in texts], dtype=np.int64)
        steps = int(lengths.max())
        for b, text in enumerate(texts):
            for i, feats in enumerate(self._features(text)):
                for f in feats:
                    k = self._index.get(f)
                    if k is not None:
                        rows.append(b * steps + i)
                        cols.append(k)
        x = sp.csr_matrix(
            (np.ones(len(rows)), (rows, cols)), shape=(len(texts) * steps, len(self.attributes_)), dtype=np.float64
        )
        scores = np.asarray(x @ self.state_weights_)
        return scores.reshape(len(texts), steps, len(self.known_)), lengths

    def _decode(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per text: Viterbi label ids (into ``labels_``) and the marginal probability of each chosen label."""
        self._check_fitted()
        out: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0, np.int64), np.zeros(0))] * len(texts)
        known = np.asarray(self.known_, dtype=np.int64)
        order = [i for i in sorted(range(len(texts)), key=lambda i: len(texts[i])) if texts[i]]
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            em, lengths = self._emissions([texts[i] for i in idx])
            path = viterbi(em, self.transitions_, lengths)
            probs = marginals(em, self.transitions_, lengths)
            chosen = np.take_along_axis(probs, path[:, :, None], axis=2)[:, :, 0]
            for j, i in enumerate(idx):
                n = int(lengths[j])
                out[i] = (known[path[j, :n]], chosen[j, :n])
        return out

    def predict_labels(self, texts: Sequence[str]) -> list[list[str]]:
        """The BIO label of every character (Viterbi path)."""
        return [[self.labels_[k] for k in ids] for ids, _ in self._decode([str(t) for t in texts])]

    def predict_spans(self, texts: Sequence[str]) -> list[list[tuple[str, int, int, float]]]:
        """Scored spans ``(attribute, start, end, score)`` per text; the score is the mean marginal
        probability of the span's labels (how sure the model is of exactly this span)."""
        out = []
        for ids, probs in self._decode([str(t) for t in texts]):
            spans: list[tuple[str, int, int, float]] = []
            cur: str | None = None
            start = 0
            for i, k in enumerate([*ids.tolist(), 0]):  # label 0 is O: closes the last span
                name = self.labels_[k]
                kind, attr = (name[:1], name[2:]) if name != OUTSIDE else ("O", "")
                if cur is not None and kind == "I" and attr == cur:
                    continue
                if cur is not None:
                    spans.append((cur, start, i, float(np.mean(probs[start:i]))))
                cur, start = (attr, i) if kind in ("B", "I") else (None, i)
            out.append(spans)
        return out

    def extract(self, texts: Sequence[str], groups: Sequence[str] | None = None) -> list[dict[str, str]]:
        """The best-scoring value per attribute for each text (only the group's attributes when known)."""
        return best_values(texts, self.predict_spans(texts), self.schema_, groups)

    def crfsuite_labels(self, texts: Sequence[str]) -> list[list[str]]:
        """crfsuite's own tagger on the model just trained (a check of the numpy decoding; fit() only)."""
        if not hasattr(self, "crfsuite_model_"):
            raise NotFittedError("crfsuite's model is kept in memory after fit() only, not after load()")
        tagger = _crfsuite().Tagger()
        tagger.open_inmemory(self.crfsuite_model_)
        try:
            return [list(tagger.tag(self._features(str(t)))) if t else [] for t in texts]
        finally:
            tagger.close()

    # ---- persistence ------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """JSON (parameters, labels, schema, feature vocabulary) + safetensors (weights); no pickle."""
        self._check_fitted()

        def write_state(tmp: Path) -> None:
            config = {
                "params": self.get_params(),
                "labels": self.labels_,
                "known": self.known_,
                "schema": self.schema_,
                "attributes": self.attributes_,
                "history": getattr(self, "history_", []),
            }
            (tmp / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False), "utf-8")
            save_file(
                {"state": np.ascontiguousarray(self.state_weights_), "transitions": self.transitions_},
                str(tmp / WEIGHTS_FILE),
            )

        return save_artefact(directory, self.kind, write_state)

    @classmethod
    def load(cls, directory: str | Path) -> CharCRFTagger:
        directory, _ = open_artefact(directory, cls.kind)
        try:
            config = json.loads((directory / CONFIG_FILE).read_text("utf-8"))
            model = cls(**config["params"])
            model.labels_ = [str(x) for x in config["labels"]]
            model.known_ = [int(i) for i in config["known"]]
            model.schema_ = {str(k): [str(a) for a in v] for k, v in config["schema"].items()}
            model.attributes_ = [str(a) for a in config["attributes"]]
            model.history_ = config.get("history", [])
            tensors = load_file(str(directory / WEIGHTS_FILE))
            w, t = tensors["state"].astype(np.float64), tensors["transitions"].astype(np.float64)
            n = len(model.known_)
            if w.shape != (len(model.attributes_), n) or t.shape != (n, n):
                raise ValueError(f"weight shapes {w.shape}, {t.shape} do not match the vocabulary and labels")
            if not all(0 <= i < len(model.labels_) for i in model.known_) or not (
                np.isfinite(w).all() and np.isfinite(t).all()
            ):
                raise ValueError("label indices out of range or non-finite weights")
        except Exception as exc:
            raise ModelLoadError(f"{directory}: cannot load CRF tagger ({type(exc).__name__}: {exc})") from exc
        model.state_weights_, model.transitions_ = w, t
        model._index = {a: i for i, a in enumerate(model.attributes_)}
        return model
