"""Lexical retrieval: TF-IDF of character n-grams (within words) over the leaves' texts, cosine to a product.

Character n-grams rather than words: a taxonomy names ``Earrings`` where a title says ``earring``, and GS1
writes ``T-shirts`` where shops write ``tee shirt``; n-grams inside words match those without a stemmer for
each language. The IDF is the taxonomy's own (a product word no node uses scores nothing, brand names included).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer


class LexicalIndex:
    """Cosine of character 3-5-gram TF-IDF vectors between products and each leaf's text (and its excludes)."""

    def __init__(self, documents: Sequence[str], excludes: Sequence[str] | None = None) -> None:
        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, lowercase=True)
        self.docs = self.vectorizer.fit_transform(list(documents)).T.tocsr()
        self.excl = None
        if excludes is not None and any(e.strip() for e in excludes):
            self.excl = self.vectorizer.transform(list(excludes)).T.tocsr()

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """(products x leaves) cosine similarities in [0, 1]."""
        q = self.vectorizer.transform(list(texts))
        return np.asarray((q @ self.docs).toarray(), dtype=np.float32)

    def exclude_scores(self, texts: Sequence[str]) -> np.ndarray | None:
        """(products x leaves) similarity to what each leaf excludes; None when the taxonomy names no exclusions."""
        if self.excl is None:
            return None
        q = self.vectorizer.transform(list(texts))
        return np.asarray((q @ self.excl).toarray(), dtype=np.float32)
