"""Cold-start mapping of unlabelled products onto a standard taxonomy (Shopify, Google, GS1 or a file of paths):
hybrid retrieval of a shortlist of leaves, then a reranker behind one interface."""

from skutag.models.mapping.mapper import METHODS, MapResult, TaxonomyMapper
from skutag.models.mapping.rerank import (
    RERANKERS,
    Candidate,
    HierarchicalReranker,
    Reranker,
    RetrievalReranker,
    make_reranker,
)

__all__ = [
    "METHODS",
    "RERANKERS",
    "Candidate",
    "HierarchicalReranker",
    "MapResult",
    "Reranker",
    "RetrievalReranker",
    "TaxonomyMapper",
    "make_reranker",
]
