"""The second stage of a mapping: a reranker scores each product's shortlist of candidate paths.

Any scorer with :class:`Reranker`'s one method plugs in (:mod:`skutag.models.mapping.llm`: an LLM choosing among
the shortlist, ``llm``, built with its endpoint's options, so not by :func:`make_reranker`);
what it returns is a log-score per candidate, which the mapper turns into confidences (a softmax over the
shortlist) and checks against the tree, so no reranker can invent a path.

Two built in, both without a model of their own:

- :class:`RetrievalReranker` keeps the retrieval order (the log-probability of the leaf itself);
- :class:`HierarchicalReranker` scores a leaf by the mean log-probability of every node on its path, where a
  node's probability is the retrieval mass of all the leaves under it: a leaf whose family is also the likeliest
  family wins over a slightly more similar leaf stranded in an unlikely branch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

_FLOOR = 1e-12


@dataclass(frozen=True)
class Candidate:
    """One shortlisted leaf: its path (root first), its retrieval similarity, and ``evidence``: the retrieval
    probability of each node on the path, root first (a node's = the sum over the leaves under it; the last
    entry is the leaf's own)."""

    path: tuple[str, ...]
    node_id: str
    score: float
    evidence: tuple[float, ...]


@runtime_checkable
class Reranker(Protocol):
    """Scores each row's shortlist: ``texts[i]`` is the product, ``shortlists[i]`` its candidates."""

    name: str

    def rerank(self, texts: Sequence[str], shortlists: Sequence[Sequence[Candidate]]) -> list[np.ndarray]:
        """One array per row, one finite log-score per candidate (higher is better)."""
        ...


class RetrievalReranker:
    """The retrieval order itself: the log-probability of the leaf."""

    name = "none"

    def rerank(self, texts: Sequence[str], shortlists: Sequence[Sequence[Candidate]]) -> list[np.ndarray]:
        return [np.log(np.maximum([c.evidence[-1] for c in row], _FLOOR)) for row in shortlists]


class HierarchicalReranker:
    """Mean over the path's nodes of their log retrieval probability (``leaf_weight`` for the leaf's own term,
    1 for each ancestor's); the mean, not the sum, so that deep and shallow leaves compare fairly."""

    name = "hierarchical"

    def __init__(self, leaf_weight: float = 1.0) -> None:
        self.leaf_weight = leaf_weight

    def rerank(self, texts: Sequence[str], shortlists: Sequence[Sequence[Candidate]]) -> list[np.ndarray]:
        out = []
        for row in shortlists:
            scores = np.empty(len(row))
            for j, c in enumerate(row):
                logs = np.log(np.maximum(c.evidence, _FLOOR))
                w = np.ones(len(logs))
                w[-1] = self.leaf_weight
                scores[j] = float((w * logs).sum() / w.sum())
            out.append(scores)
        return out


RERANKERS = {"none": RetrievalReranker, "hierarchical": HierarchicalReranker}


def make_reranker(name: str | Reranker) -> Reranker:
    """A reranker by name (``none``, ``hierarchical``) or the given object."""
    from skutag.errors import ConfigError

    if not isinstance(name, str):
        return name
    if name not in RERANKERS:
        hint = " (the llm reranker takes its endpoint's options: pass an LLMReranker)" if name == "llm" else ""
        raise ConfigError(f"unknown reranker {name!r}; choose from {sorted(RERANKERS)}{hint}")
    return RERANKERS[name]()


def closing_reranker(reranker: Reranker) -> contextlib.AbstractContextManager[Any]:
    """Closes a reranker that holds resources (the LLM's client and local server) at the end of the block."""
    return contextlib.closing(reranker) if callable(getattr(reranker, "close", None)) else contextlib.nullcontext()
