"""Lexical retrieval: TF-IDF of character n-grams (within words) over the leaves' texts, cosine to a product.

Character n-grams rather than words: a taxonomy names ``Earrings`` where a title says ``earring``, and GS1
writes ``T-shirts`` where shops write ``tee shirt``; n-grams inside words match those without a stemmer for
each language. The IDF is the taxonomy's own (a product word no node uses scores nothing, brand names included).

Chinese and Japanese write no spaces: a title is one long "word" whose 3-5-grams rarely equal a two-character
category name (``手机`` phone, ``鞋`` shoes). When the taxonomy's texts are CJK (Shopify in ``ja``, ``zh-CN``,
``ko``), each run of CJK characters also gives its single characters and character bigrams, the usual units
of CJK full-text search.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from skutag.extraction.script import CJK_RANGES, cjk_share

_CJK_RUN = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in CJK_RANGES) + "]+")
#: Share of CJK letters in the taxonomy's texts from which CJK characters and bigrams are indexed too.
CJK_MIN_SHARE = 0.05


def _words(**options: object) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, lowercase=True, **options)


class CJKAnalyzer:
    """Character 3-5-grams within words, plus the characters and bigrams of every CJK run."""

    def __init__(self) -> None:
        self.base: Callable[[str], list[str]] = _words().build_analyzer()

    def __call__(self, text: str) -> list[str]:
        grams = self.base(text)
        for run in _CJK_RUN.findall(text):
            grams.extend(run)
            grams.extend(run[i : i + 2] for i in range(len(run) - 1))
        return grams


class LexicalIndex:
    """Cosine of character 3-5-gram TF-IDF vectors between products and each leaf's text (and its excludes);
    CJK characters and bigrams too when the leaves' texts are CJK."""

    def __init__(self, documents: Sequence[str], excludes: Sequence[str] | None = None) -> None:
        self.cjk = cjk_share(documents) >= CJK_MIN_SHARE
        self.vectorizer = TfidfVectorizer(analyzer=CJKAnalyzer(), sublinear_tf=True) if self.cjk else _words()
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
