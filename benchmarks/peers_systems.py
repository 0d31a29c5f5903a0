"""The systems compared in the peer benchmarks, behind one small interface.

Each system fits on a frame of text columns and a frame of label levels (coarsest first), turns text rows
into its own natural input (untimed: a list of strings for the peers, the frame itself for skutag), predicts
one label per level, and saves itself the way it naturally does (skutag: JSON + safetensors; fastText:
``.bin``; scikit-learn heads: joblib, acceptable for a benchmark peer only, never for a skutag model).

Peers see the text columns joined into one string (``field_texts(..., "all")``: non-empty values joined by
`` | ``), so a 3-field setting is the same information for every system.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from skutag.models.registry import load_model

SPACE = "\u2423"  # stands for a space inside fastText labels
PATH_SEP = "|"
_NON_WORD = re.compile(r"[^\w]+")

if TYPE_CHECKING:
    from skutag.models.base import CategoryModel


class System(Protocol):
    """What the benchmark needs from a system."""

    def fit(self, x: pd.DataFrame, y: pd.DataFrame, valid: tuple[pd.DataFrame, pd.DataFrame] | None) -> None: ...

    def inputs(self, x: pd.DataFrame) -> Any: ...

    def predict(self, inputs: Any) -> pd.DataFrame: ...

    def save(self, directory: Path) -> None: ...

    def load(self, directory: Path) -> None: ...


def joined_texts(x: pd.DataFrame) -> list[str]:
    """One string per row: the non-empty text columns joined by `` | `` (the title alone for one column)."""
    from skutag.models.neural.encoder import field_texts

    return field_texts(x, "all")


def dir_size_mb(directory: Path) -> float:
    """Bytes of every file under ``directory``, in MB."""
    return sum(p.stat().st_size for p in Path(directory).rglob("*") if p.is_file()) / 1e6


class SkutagLinear:
    """skutag's LinearModel: TF-IDF per field + calibrated linear SVMs, hierarchy-consistent paths."""

    def __init__(self, n_jobs: int = 2) -> None:
        self.n_jobs = n_jobs

    def fit(self, x: pd.DataFrame, y: pd.DataFrame, valid: tuple[pd.DataFrame, pd.DataFrame] | None) -> None:
        from skutag.models.linear.model import LinearModel

        self.levels = list(y.columns)
        self.model: CategoryModel = LinearModel(n_jobs=self.n_jobs).fit(x, y)

    def inputs(self, x: pd.DataFrame) -> pd.DataFrame:
        return x.reset_index(drop=True)

    def predict(self, inputs: pd.DataFrame) -> pd.DataFrame:
        return self.model.predict(inputs).set_axis(self.levels, axis=1)

    def save(self, directory: Path) -> None:
        self.model.save(directory)

    def load(self, directory: Path) -> None:

        self.model = load_model(directory)
        self.levels = [f"level_{i + 1}" for i in range(len(self.model.levels_))]


class SklearnSvc:
    """The README baseline: TF-IDF word 1-2 + char_wb 2-5 n-grams, one LinearSVC (C=0.5) per level."""

    def fit(self, x: pd.DataFrame, y: pd.DataFrame, valid: tuple[pd.DataFrame, pd.DataFrame] | None) -> None:
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        texts = joined_texts(x)
        self.word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
        xm = sp.hstack([self.word.fit_transform(texts), self.char.fit_transform(texts)]).tocsr()
        self.models = {str(lv): LinearSVC(C=0.5).fit(xm, y[lv].astype(str)) for lv in y.columns}

    def inputs(self, x: pd.DataFrame) -> list[str]:
        return joined_texts(x)

    def predict(self, inputs: list[str]) -> pd.DataFrame:
        import scipy.sparse as sp

        xm = sp.hstack([self.word.transform(inputs), self.char.transform(inputs)]).tocsr()
        return pd.DataFrame({lv: m.predict(xm) for lv, m in self.models.items()})

    def save(self, directory: Path) -> None:
        import joblib

        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump({"word": self.word, "char": self.char, "models": self.models}, directory / "model.joblib")

    def load(self, directory: Path) -> None:
        import joblib

        state = joblib.load(directory / "model.joblib")
        self.word, self.char, self.models = state["word"], state["char"], state["models"]


def fasttext_text(text: str) -> str:
    """Lower case, punctuation to spaces (fastText splits on whitespace only; URLs become words)."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


class FastTextPeer:
    """fastText supervised, one flat model over whole label paths (so predictions are always valid paths).

    ``autotune_s`` > 0 runs fastText's autotune against the validation rows for that many seconds (the search
    is part of the training time); otherwise the hand-set parameters (25 epochs, word bigrams, subwords 3-5).
    """

    HAND_SET: ClassVar[dict[str, Any]] = {"epoch": 25, "wordNgrams": 2, "minn": 3, "maxn": 5, "lr": 0.5}

    def __init__(self, autotune_s: int = 0, threads: int = 2, **params: Any) -> None:
        self.autotune_s = autotune_s
        self.threads = threads
        # with autotune, parameters given here stay fixed during the search (bucket and dim bound its memory)
        self.fixed = dict(params)
        self.params = params or dict(self.HAND_SET)

    def _write(self, path: str, x: pd.DataFrame, y: pd.DataFrame) -> None:
        labels = y.astype(str).agg(PATH_SEP.join, axis=1).str.replace(" ", SPACE)
        with open(path, "w", encoding="utf-8") as fh:
            for label, text in zip(labels, self.inputs(x), strict=True):
                fh.write(f"__label__{label} {text}\n")

    def fit(self, x: pd.DataFrame, y: pd.DataFrame, valid: tuple[pd.DataFrame, pd.DataFrame] | None) -> None:
        import fasttext

        self.levels = [str(c) for c in y.columns]
        with tempfile.TemporaryDirectory() as tmp:
            train_path = os.path.join(tmp, "train.txt")
            self._write(train_path, x, y)
            kwargs: dict[str, Any] = {"thread": self.threads, "verbose": 0}
            if self.autotune_s > 0:
                if valid is None:
                    raise ValueError("fastText autotune needs validation rows")
                valid_path = os.path.join(tmp, "valid.txt")
                self._write(valid_path, *valid)
                kwargs |= {"autotuneValidationFile": valid_path, "autotuneDuration": self.autotune_s, **self.fixed}
            else:
                kwargs |= self.params
            self.model = fasttext.train_supervised(train_path, **kwargs)
        self.chosen = {k: getattr(self.model, k) for k in ("epoch", "lr", "dim", "wordNgrams", "minn", "maxn")}

    def inputs(self, x: pd.DataFrame) -> list[str]:
        return [fasttext_text(t) for t in joined_texts(x)]

    def predict(self, inputs: list[str]) -> pd.DataFrame:
        labels, _ = self.model.predict(inputs, k=1)
        empty = PATH_SEP.join([""] * len(self.levels))  # fastText predicts nothing for an empty text
        paths = [lab[0].removeprefix("__label__") if len(lab) else empty for lab in labels]
        parts = [p.replace(SPACE, " ").split(PATH_SEP) for p in paths]
        return pd.DataFrame(parts, columns=self.levels)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_model(str(directory / "model.bin"))

    def load(self, directory: Path) -> None:
        import fasttext

        self.model = fasttext.load_model(str(directory / "model.bin"))
        self.levels = [f"level_{i + 1}" for i in range(len(self.model.get_labels()[0].split(PATH_SEP)))]


class SetFitStyle:
    """A frozen sentence encoder (bundled all-MiniLM-L6-v2, mean pooled, normalised) + one scikit-learn
    LogisticRegression per level: the SetFit recipe without its contrastive fine-tuning step."""

    def __init__(self, encoder: str | None = None, max_length: int = 64, threads: int = 0, c: float = 10.0) -> None:
        self.encoder_name = encoder
        self.max_length = max_length
        self.threads = threads or torch_threads()
        self.c = c
        self.chosen = {"torch_threads": self.threads, "C": c, "max_length": max_length}

    def _embed(self, texts: list[str]) -> np.ndarray:
        import torch

        from skutag.models.neural.encoder import embed, tokenize

        torch.set_num_threads(1 if len(texts) < 8 else self.threads)  # the usual small-batch setting
        ids = tokenize(self.tokenizer, texts, self.max_length)
        pad = int(self.tokenizer.pad_token_id or 0)
        return embed(self.encoder, ids, torch.device("cpu"), batch_size=64, pad_id=pad)

    def fit(self, x: pd.DataFrame, y: pd.DataFrame, valid: tuple[pd.DataFrame, pd.DataFrame] | None) -> None:
        from sklearn.linear_model import LogisticRegression

        from skutag.models.neural.encoder import load_encoder, load_tokenizer

        self.tokenizer = load_tokenizer(self.encoder_name)
        self.encoder = load_encoder(self.encoder_name).eval()
        emb = self._embed(joined_texts(x))
        self.heads = {
            str(lv): LogisticRegression(C=self.c, max_iter=1000).fit(emb, y[lv].astype(str)) for lv in y.columns
        }

    def inputs(self, x: pd.DataFrame) -> list[str]:
        return joined_texts(x)

    def predict(self, inputs: list[str]) -> pd.DataFrame:
        emb = self._embed(inputs)
        return pd.DataFrame({lv: m.predict(emb) for lv, m in self.heads.items()})

    def save(self, directory: Path) -> None:
        import joblib

        directory.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(directory / "encoder")
        self.tokenizer.save_pretrained(directory / "encoder")
        joblib.dump(self.heads, directory / "heads.joblib")

    def load(self, directory: Path) -> None:
        import joblib

        from skutag.models.neural.encoder import load_encoder, load_tokenizer

        self.tokenizer = load_tokenizer(str(directory / "encoder"))
        self.encoder = load_encoder(str(directory / "encoder")).eval()
        self.heads = joblib.load(directory / "heads.joblib")


def torch_threads() -> int:
    """2 threads (the target machine's cores), 1 when the machine is already busier than its core count:
    PyTorch's spinning worker threads slow down up to tenfold when they have to share cores."""
    cores = os.cpu_count() or 1
    return 1 if os.getloadavg()[0] > cores else min(2, cores)


def make_system(kind: str, options: dict[str, Any] | None = None) -> System:
    """A fresh system by kind: ``skutag-linear``, ``sklearn-svc``, ``fasttext``, ``setfit``."""
    opts = dict(options or {})
    factories: dict[str, Any] = {
        "skutag-linear": SkutagLinear,
        "sklearn-svc": SklearnSvc,
        "fasttext": FastTextPeer,
        "setfit": SetFitStyle,
    }
    if kind not in factories:
        raise ValueError(f"unknown system {kind!r}; known: {', '.join(factories)}")
    return factories[kind](**opts)
