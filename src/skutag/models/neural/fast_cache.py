"""On-disk cache of frozen-encoder embeddings, keyed by encoder identity, max length and the exact texts."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from skutag.fsutil import atomic_path
from skutag.log import get_logger

log = get_logger(__name__)


def default_cache_dir() -> Path:
    """``$SKUTAG_CACHE/embeddings`` or ``~/.cache/skutag/embeddings``."""
    root = os.environ.get("SKUTAG_CACHE") or Path.home() / ".cache" / "skutag"
    return Path(root) / "embeddings"


def encoder_fingerprint(source: str) -> str:
    """The encoder path plus size and mtime of its weight files (cheap, changes when the weights change)."""
    parts = [source]
    path = Path(source)
    if path.is_dir():
        for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{int(st.st_mtime)}")
    return "|".join(parts)


def cache_key(fingerprint: str, max_length: int, texts: Sequence[str]) -> str:
    h = hashlib.sha256(f"{fingerprint}\x00{max_length}\x00".encode())
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:32]


def cached_embeddings(directory: Path | None, key: str, compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
    """(embeddings, hit): read ``directory/<key>.npy`` or compute and store it (atomically, no pickle)."""
    if directory is None:
        return compute(), False
    path = Path(directory) / f"{key}.npy"
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False), True
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable embedding cache %s (%s)", path, exc)
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.save(fh, value, allow_pickle=False)
    return value, False
