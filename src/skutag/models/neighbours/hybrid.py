"""Hybrid nearest-neighbour votes for the ensemble: training rows as each member sees them (the linear model's
TF-IDF vector, a neural model's embedding), similarity = a weighted mean of the members' cosines.

Dense embeddings find paraphrases, TF-IDF finds shared part numbers, brands and rare words; neighbours by the
mean of both are better than by either (MWPD validation, title only, 10 neighbours: fine-tuned MiniLM cosine
0.880 / 0.722 weighted / macro F1, TF-IDF cosine 0.798 / 0.617, their mean 0.891 / 0.745;
``benchmarks/explore_hybrid_neighbours.py``). The ensemble blends these votes with its members.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp

from skutag.errors import ModelLoadError
from skutag.models.neighbours.knn import normalise_rows, votes_by_similarity

FILE = "neighbours.npz"
Features: TypeAlias = np.ndarray | sp.csr_matrix


def unit_rows(x: Features) -> Features:
    """Rows scaled to unit L2 norm: dense as float32, sparse as float32 CSR."""
    if sp.issparse(x):
        csr = sp.csr_matrix(x, dtype=np.float32)
        norms = np.sqrt(np.asarray(csr.multiply(csr).sum(axis=1)).ravel())
        return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ csr, dtype=np.float32)
    return normalise_rows(np.asarray(x))


def part_weights(lexical: list[bool], lexical_weight: float | None) -> np.ndarray:
    """Weights of the feature spaces in the similarity (summing to 1): the lexical (sparse) spaces share
    ``lexical_weight`` and the dense ones the rest; equal per space when None or when only one kind is present."""
    n_lex = sum(lexical)
    if lexical_weight is None or n_lex in (0, len(lexical)):
        return np.full(len(lexical), 1.0 / len(lexical))
    if not 0.0 <= lexical_weight <= 1.0:
        raise ValueError(f"lexical_weight must be in [0, 1], not {lexical_weight}")
    dense = (1.0 - lexical_weight) / (len(lexical) - n_lex)
    return np.array([lexical_weight / n_lex if lex else dense for lex in lexical])


#: characters of a row's text kept for showing it as a neighbour (explanations); longer titles are cut
TEXT_CHARS = 200


class HybridIndex:
    """Labelled rows in several feature spaces (one unit-row matrix per space) and their path ids; the similarity
    of two rows is the ``weights``-weighted sum of their cosines in each space (default: the mean).

    For explanations it may also keep each row's text (``texts``: its title, cut to :data:`TEXT_CHARS`) and how
    many leading rows are training products (``products``; the rows after them are the paths' own labels; None:
    unknown, every row counts as a product)."""

    def __init__(
        self,
        parts: list[Features],
        paths: np.ndarray,
        k: int = 10,
        temperature: float = 0.05,
        weights: np.ndarray | list[float] | None = None,
        *,
        texts: list[str] | None = None,
        products: int | None = None,
    ) -> None:
        if not parts or any(p.shape[0] != len(paths) for p in parts):
            raise ValueError("every feature part needs one row per labelled path")
        if texts is not None and len(texts) != len(paths):
            raise ValueError(f"{len(texts)} texts for {len(paths)} rows")
        if products is not None and not 0 <= products <= len(paths):
            raise ValueError(f"products must be in [0, {len(paths)}], not {products}")
        w = np.full(len(parts), 1.0 / len(parts)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(parts),) or (w < 0).any() or not np.isclose(w.sum(), 1.0):
            raise ValueError(f"need {len(parts)} non-negative part weights summing to 1, not {weights}")
        self.parts = [unit_rows(p) for p in parts]
        self.paths = np.asarray(paths, dtype=np.int32)
        self.k = k
        self.temperature = temperature
        self.weights = w
        #: the kept texts as UTF-8 bytes and offsets (a million titles stay one buffer, decoded one at a time)
        self._texts: tuple[bytes, np.ndarray] | None = None
        if texts is not None:
            encoded = [str(t)[:TEXT_CHARS].encode("utf-8") for t in texts]
            self._texts = (b"".join(encoded), np.cumsum([0, *map(len, encoded)]).astype(np.int64))
        self.products = products
        #: the parts transposed for the query products, made on first use (transposing the TF-IDF part on every
        #: call was most of a one-row query)
        self._tables: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def is_product(self, row: int) -> bool:
        """Whether index row ``row`` is a training product (not a path's own label)."""
        return self.products is None or row < self.products

    def text(self, row: int) -> str | None:
        """The kept text of index row ``row`` (None when the index keeps no texts)."""
        if self._texts is None:
            return None
        data, offsets = self._texts
        return data[int(offsets[row]) : int(offsets[row + 1])].decode("utf-8", errors="replace")

    @property
    def has_texts(self) -> bool:
        return self._texts is not None

    def votes(self, queries: list[Features], n_paths: int) -> np.ndarray:
        """rows x paths vote distribution of query rows given in the same feature spaces as the index."""
        if len(queries) != len(self.parts):
            raise ValueError(f"{len(queries)} query parts for an index of {len(self.parts)}")
        qs = [unit_rows(q) for q in queries]
        if self._tables is None:
            self._tables = [p.T.tocsr() if isinstance(p, sp.csr_matrix) else p.T for p in self.parts]
        tables = self._tables

        def similarity(start: int, stop: int) -> np.ndarray:
            total = np.zeros((stop - start, len(self.paths)), dtype=np.float32)
            for q, table, w in zip(qs, tables, self.weights, strict=True):
                prod: Any = q[start:stop] @ table
                total += np.float32(w) * (prod.toarray() if sp.issparse(prod) else prod)
            return total

        n_queries = qs[0].shape[0]
        return votes_by_similarity(similarity, n_queries, len(self), self.paths, n_paths, self.k, self.temperature)

    def save(self, directory: Path) -> None:
        """``neighbours.npz``: path ids, then per part either ``dense_i`` (float16) or ``csr_i_*`` arrays."""
        arrays: dict[str, Any] = {"paths": self.paths, "params": np.array([self.k, self.temperature])}
        arrays["weights"] = self.weights
        if self.products is not None:
            arrays["products"] = np.array([self.products], dtype=np.int64)
        if self._texts is not None:  # UTF-8 bytes and offsets: no pickle, no fixed-width strings
            arrays["texts_data"] = np.frombuffer(self._texts[0], dtype=np.uint8)
            arrays["texts_offsets"] = self._texts[1]
        for i, p in enumerate(self.parts):
            if isinstance(p, sp.csr_matrix):
                arrays.update({f"csr_{i}_data": p.data, f"csr_{i}_indices": p.indices, f"csr_{i}_indptr": p.indptr})
                arrays[f"csr_{i}_shape"] = np.array(p.shape)
            else:
                arrays[f"dense_{i}"] = p.astype(np.float16)
        np.savez_compressed(directory / FILE, **arrays)

    @classmethod
    def load(cls, directory: Path, n_parts: int, n_paths: int) -> HybridIndex:
        try:
            with np.load(directory / FILE, allow_pickle=False) as z:
                parts: list[Features] = []
                for i in range(n_parts):
                    if f"dense_{i}" in z:
                        parts.append(z[f"dense_{i}"].astype(np.float32))
                    else:
                        shape = tuple(int(v) for v in z[f"csr_{i}_shape"])
                        parts.append(
                            sp.csr_matrix((z[f"csr_{i}_data"], z[f"csr_{i}_indices"], z[f"csr_{i}_indptr"]), shape)
                        )
                paths = z["paths"]
                k, temperature = z["params"]
                weights = z.get("weights")  # None when saved before part weights: the mean
                products = int(z["products"][0]) if "products" in z else None  # older: unknown
                texts = (z["texts_data"].tobytes(), z["texts_offsets"]) if "texts_offsets" in z else None
        except (OSError, KeyError, ValueError) as exc:
            raise ModelLoadError(f"{directory / FILE}: cannot read the neighbour index ({exc})") from exc
        if len(paths) and (int(paths.max()) >= n_paths or int(paths.min()) < 0):
            raise ModelLoadError(f"{directory / FILE} does not match the ensemble's paths")
        offsets = texts[1] if texts is not None else np.zeros(len(paths) + 1, dtype=np.int64)
        if len(offsets) != len(paths) + 1 or (texts is not None and int(offsets[-1]) != len(texts[0])):
            raise ModelLoadError(f"{directory / FILE}: its texts do not match its rows")
        if (np.diff(offsets) < 0).any() or int(offsets[0]) != 0 or not 0 <= (products or 0) <= len(paths):
            raise ModelLoadError(f"{directory / FILE}: bad text offsets or product count")
        index = cls(parts, paths, int(k), float(temperature), weights, products=products)
        index._texts = texts
        return index
