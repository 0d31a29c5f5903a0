"""Map products onto a taxonomy without labelled examples: hybrid retrieval of a shortlist, then a reranker.

1. **Retrieval** scores every leaf of the taxonomy for a product: ``dense`` (cosine of sentence embeddings,
   the mean over the leaf's name and its full path with its definition, in the taxonomy's language and/or
   English: ``langs``; ``encoder="auto"`` picks the multilingual encoder for other languages), ``lexical``
   (character n-gram TF-IDF cosine over the full path and definition) or ``hybrid`` (``(1 - lexical_weight) *
   dense + lexical_weight * lexical``); with ``exclude_weight`` > 0 a leaf whose Excludes text the product
   matches loses that weight times the match (off by default: on MWPD it cost 1-2 points at levels 1-2, see
   docs/benchmarks.md). A softmax at ``temperature`` turns the similarities into a probability per leaf, and
   each inner node gets the sum of its leaves' (the *evidence* along each path).
2. The ``shortlist`` best leaves go to the **reranker** (:mod:`skutag.models.mapping.rerank`), whose scores
   become confidences by a softmax over the shortlist; every path is checked against the tree.

The result per product: the best paths (``k``), each one's confidence, and the confidence of the best path's
node at each level (the confidence mass of the shortlisted paths through that node).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skutag.errors import ConfigError, TaxonomyError
from skutag.log import get_logger
from skutag.models.mapping.dense import AUTO, DenseIndex, choose_encoder
from skutag.models.mapping.lexical import LexicalIndex
from skutag.models.mapping.nodes import LeafTable, leaf_table
from skutag.models.mapping.rerank import Candidate, Reranker, make_reranker
from skutag.taxonomy.sources import TaxonomySource

log = get_logger(__name__)

METHODS = ("hybrid", "dense", "lexical")


@dataclass
class MapResult:
    """``paths[i]``: row ``i``'s best paths (best first); ``scores[i, j]``: confidence of ``paths[i][j]``;
    ``level_scores[i, d]``: confidence of the best path's level-``d+1`` node (NaN below a shallow leaf);
    ``shortlists[i]``: every candidate the reranker saw, in retrieval order; ``ids[i]``: the node ids of
    ``paths[i]`` (a translated taxonomy can name two siblings alike)."""

    paths: list[list[tuple[str, ...]]]
    scores: np.ndarray
    level_scores: np.ndarray
    shortlists: list[list[tuple[str, ...]]]
    ids: list[list[str]] = field(default_factory=list)


class TaxonomyMapper:
    """Assigns each product text a leaf of ``source``'s taxonomy (see the module's description)."""

    def __init__(
        self,
        source: TaxonomySource,
        *,
        method: str = "hybrid",
        reranker: str | Reranker = "hierarchical",
        encoder: str | None = None,
        langs: str = "both",
        lexical_weight: float = 0.2,
        exclude_weight: float = 0.0,
        temperature: float = 0.02,
        shortlist: int = 20,
        max_length: int = 128,
        batch_size: int = 512,
        device: str = "cpu",
        num_threads: int | None = None,
        cache_dir: str | Path | None = "default",
    ) -> None:
        if method not in METHODS:
            raise ConfigError(f"unknown retrieval method {method!r}; choose from {', '.join(METHODS)}")
        if not 0.0 <= lexical_weight <= 1.0:
            raise ConfigError(f"lexical_weight must be in [0, 1], got {lexical_weight}")
        if temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {temperature}")
        if shortlist < 1:
            raise ConfigError(f"shortlist must be >= 1, got {shortlist}")
        self.source = source
        self.method = method
        self.reranker = make_reranker(reranker)
        self.lexical_weight = {"dense": 0.0, "lexical": 1.0}.get(method, lexical_weight)
        self.exclude_weight = exclude_weight
        self.temperature = temperature
        self.shortlist = shortlist
        self.batch_size = batch_size
        self.leaves: LeafTable = leaf_table(source, langs)
        if not len(self.leaves):
            raise TaxonomyError(f"taxonomy {source.name} has no categories")
        self.lexical = LexicalIndex(self.leaves.lexical_texts, self.leaves.excludes if exclude_weight > 0 else None)
        self.dense: DenseIndex | None = None
        self._dense_options: dict[str, Any] = {
            "max_length": max_length,
            "device": device,
            "num_threads": num_threads,
            "cache_dir": cache_dir,
        }
        self.encoder = encoder
        if self.lexical_weight < 1.0 and (encoder != AUTO or source.lang != "en"):
            self._open_dense(choose_encoder(encoder, source.lang))

    def _open_dense(self, encoder: str | None) -> DenseIndex:
        """The dense index and the leaves' embeddings (``encoder="auto"`` waits for the first products)."""
        self.dense = DenseIndex(encoder, **self._dense_options)
        self.node_vectors = np.stack([self.dense.embed_nodes(t) for t in self.leaves.dense_texts])
        return self.dense

    @property
    def depth(self) -> int:
        return self.leaves.depth

    def similarities(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> np.ndarray:
        """(products x leaves) retrieval similarity; ``vectors`` are the products' embeddings when already made."""
        sim = np.zeros((len(texts), len(self.leaves)), dtype=np.float32)
        if self.lexical_weight > 0:
            sim += self.lexical_weight * self.lexical.scores(texts)
        if self.lexical_weight < 1:
            if vectors is None:
                vectors = self.embed(texts)
            dense = sum(vectors @ nodes.T for nodes in self.node_vectors) / len(self.node_vectors)
            sim += (1.0 - self.lexical_weight) * dense
        if self.exclude_weight > 0:
            excl = self.lexical.exclude_scores(texts)
            if excl is not None:
                sim -= self.exclude_weight * excl
        return sim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The products' embeddings (for :meth:`similarities`); refused when the vocabulary cannot read them."""
        if self.lexical_weight >= 1.0:
            raise ConfigError("lexical retrieval embeds nothing")
        dense = self.dense or self._open_dense(choose_encoder(self.encoder, self.source.lang, texts))
        return dense.embed(texts, check=True)

    def probabilities(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> np.ndarray:
        """(products x leaves) retrieval probability: a softmax of :meth:`similarities` at ``temperature``."""
        z = self.similarities(texts, vectors).astype(np.float64) / self.temperature
        z -= z.max(axis=1, keepdims=True)
        prob = np.exp(z)
        return np.asarray(prob / prob.sum(axis=1, keepdims=True))

    def map(
        self, texts: Sequence[str], k: int = 3, vectors: np.ndarray | None = None, prob: np.ndarray | None = None
    ) -> MapResult:
        """The best ``k`` paths per text (fewer when the taxonomy or the shortlist is smaller); ``texts`` must
        not be blank (callers reject those rows first). ``prob``: the rows' leaf probabilities when made
        elsewhere (:meth:`probabilities` blended with other evidence, as the crosswalk does)."""
        k = max(1, min(k, self.shortlist, len(self.leaves)))  # every row has k distinct candidates
        paths: list[list[tuple[str, ...]]] = []
        ids: list[list[str]] = []
        shortlists: list[list[tuple[str, ...]]] = []
        scores = np.zeros((len(texts), k))
        levels = np.full((len(texts), self.depth), np.nan)
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            vec = vectors[start : start + len(batch)] if vectors is not None else None
            part = prob[start : start + len(batch)] if prob is not None else self.probabilities(batch, vec)
            cands = self._shortlists(part)
            ranked = self.reranker.rerank(batch, cands)
            for i, (row, raw) in enumerate(zip(cands, ranked, strict=True)):
                conf = _softmax(np.asarray(raw, dtype=np.float64), len(row), self.reranker.name)
                order = np.argsort(-conf, kind="stable")
                best = [row[j].path for j in order[:k]]
                for p in best:
                    if not self.source.tree.is_valid_path(p):
                        raise TaxonomyError(f"reranker {self.reranker.name} returned a path not in the taxonomy: {p}")
                paths.append(best)
                ids.append([row[j].node_id for j in order[:k]])
                scores[start + i] = conf[order[:k]]
                top = row[order[0]].path
                for d in range(len(top)):
                    levels[start + i, d] = sum(conf[j] for j, c in enumerate(row) if c.path[: d + 1] == top[: d + 1])
                shortlists.append([c.path for c in row])
        return MapResult(paths, scores, levels, shortlists, ids)

    def _shortlists(self, prob: np.ndarray) -> list[list[Candidate]]:
        # a candidate's score: the similarity up to a constant per row (the softmax inverted)
        sim = self.temperature * np.log(np.maximum(prob, 1e-30))
        mass = np.asarray(self.leaves.ancestors.T.dot(prob.T).T)  # (rows x inner nodes)
        n = min(self.shortlist, len(self.leaves))
        top = np.argpartition(-sim, n - 1, axis=1)[:, :n] if n < sim.shape[1] else np.tile(np.arange(n), (len(sim), 1))
        out = []
        for i in range(len(prob)):
            idx = top[i][np.argsort(-sim[i, top[i]], kind="stable")]
            row = []
            for j in idx:
                evidence = (*(float(mass[i, c]) for c in self.leaves.ancestor_cols[j]), float(prob[i, j]))
                row.append(Candidate(self.leaves.paths[j], self.leaves.ids[j], float(sim[i, j]), evidence))
            out.append(row)
        return out


def _softmax(raw: np.ndarray, n: int, name: str) -> np.ndarray:
    if raw.shape != (n,) or not np.all(np.isfinite(raw)):
        raise ConfigError(f"reranker {name} must return one finite score per candidate ({n}), got {raw.shape}")
    z = np.exp(raw - raw.max())
    return np.asarray(z / z.sum())
