"""Dense retrieval: a frozen sentence encoder (the packaged all-MiniLM-L6-v2 by default), cosine between the
mean-pooled, normalised embeddings of products and of each leaf's texts.

The leaves are encoded once per taxonomy and encoder: their embeddings are cached on disk where the fast model
keeps its own (``$SKUTAG_CACHE/embeddings``), under a key made of the encoder's fingerprint (path, weight files'
sizes and times), the maximum length and the exact node texts, which follow from the taxonomy file's content.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from skutag.log import get_logger
from skutag.models.neural.encoder import (
    check_vocabulary,
    embed,
    load_encoder,
    load_tokenizer,
    resolve_encoder,
    tokenize,
)
from skutag.models.neural.fast_cache import cache_key, cached_embeddings, default_cache_dir, encoder_fingerprint
from skutag.trainer.device import resolve_device

log = get_logger(__name__)

#: Share of [UNK] tokens in the products above which the encoder is refused (its vocabulary lacks the script).
UNK_LIMIT = 0.3


class DenseIndex:
    """Embeds texts with ``encoder`` (None: the packaged MiniLM); ``cache_dir`` None disables the node cache."""

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
        self.batch_size = batch_size
        self.device = resolve_device(device, num_threads)
        self.cache_dir = default_cache_dir() if cache_dir == "default" else (Path(cache_dir) if cache_dir else None)
        self.tokenizer: Any = load_tokenizer(encoder)
        self.model: Any = load_encoder(encoder).eval()
        self.fingerprint = encoder_fingerprint(resolve_encoder(encoder))

    def embed(self, texts: Sequence[str], check: bool = False) -> np.ndarray:
        """(texts x dim) normalised embeddings; ``check`` refuses texts the vocabulary cannot read."""
        ids = tokenize(self.tokenizer, texts, self.max_length)
        if check and ids:
            check_vocabulary(self.tokenizer, ids, UNK_LIMIT, "product texts")
        return embed(self.model, ids, self.device, self.batch_size, int(self.tokenizer.pad_token_id or 0))

    def embed_nodes(self, texts: Sequence[str]) -> np.ndarray:
        """Like :meth:`embed`, through the on-disk cache (the taxonomy's texts are encoded once)."""
        key = "taxonomy-" + cache_key(self.fingerprint, self.max_length, texts)
        values, hit = cached_embeddings(self.cache_dir, key, lambda: self.embed(texts))
        log.info("taxonomy embeddings: %d texts (%s)", len(texts), "cached" if hit else "encoded")
        return values
