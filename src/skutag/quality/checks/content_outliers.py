"""Titles unlike the rest of the catalogue: IsolationForest over TF-IDF/SVD and character-class features."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.schema import ColumnSpec
from skutag.log import get_logger
from skutag.quality.base import CheckResult, example_rows
from skutag.quality.columns import as_text, title_column

log = get_logger(__name__)

#: Fewer rows than this and the check flags nothing (an outlier needs a crowd to stand out from).
MIN_ROWS = 20


def text_features(texts: pd.Series, *, n_components: int = 32, seed: int = 0, fit_rows: int = 50_000) -> np.ndarray:
    """Dense, standardised features per text: word TF-IDF reduced by TruncatedSVD (vocabulary and SVD fitted on
    ``fit_rows`` sampled texts), plus log length, word count and the shares of digits, upper-case letters,
    punctuation and non-ASCII characters."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    n = len(texts)
    rng = np.random.default_rng(seed)
    fit_idx = rng.choice(n, size=min(n, fit_rows), replace=False)
    vec = TfidfVectorizer(min_df=2, max_features=20_000, sublinear_tf=True, dtype=np.float32)
    try:
        vec.fit(texts.iloc[fit_idx])
        tfidf = vec.transform(texts)
    except ValueError:  # empty vocabulary
        tfidf = None
    parts = []
    if tfidf is not None and tfidf.shape[1] > n_components:
        svd = TruncatedSVD(n_components=n_components, random_state=seed)
        svd.fit(tfidf[fit_idx])
        parts.append(svd.transform(tfidf))
    length = texts.str.len().to_numpy(dtype=float)
    denom = np.maximum(length, 1.0)
    parts.append(
        np.column_stack(
            [
                np.log1p(length),
                np.log1p(texts.str.count(r"\S+").to_numpy(dtype=float)),
                texts.str.count(r"[0-9]").to_numpy(dtype=float) / denom,
                texts.str.count(r"[A-Z]").to_numpy(dtype=float) / denom,
                texts.str.count(r"[^\w\s]").to_numpy(dtype=float) / denom,
                texts.str.count(r"[^\x00-\x7f]").to_numpy(dtype=float) / denom,
            ]
        )
    )
    feats = np.hstack(parts).astype(np.float64)
    std = feats.std(axis=0)
    return (feats - feats.mean(axis=0)) / np.where(std > 0, std, 1.0)


def check_content_outliers(
    df: pd.DataFrame, spec: ColumnSpec, *, share: float = 0.01, seed: int = 0, **_: Any
) -> CheckResult:
    """Flag the ``share`` of titles an IsolationForest finds most isolated (score = anomaly score,
    higher = more unusual; flagged rows are the top ``share``)."""
    from sklearn.ensemble import IsolationForest

    n = len(df)
    col = title_column(df, spec)
    scores = np.zeros(n, dtype=float)
    flags = np.zeros(n, dtype=bool)
    if col is not None and n >= MIN_ROWS:
        texts = as_text(df[col])
        feats = text_features(texts, seed=seed)
        forest = IsolationForest(n_estimators=100, max_samples=min(256, n), random_state=seed)
        rng = np.random.default_rng(seed)
        forest.fit(feats[rng.choice(n, size=min(n, 100_000), replace=False)])
        scores = -forest.score_samples(feats)
        k = max(1, round(share * n))
        flags[np.argsort(-scores, kind="stable")[:k]] = True
    else:
        log.debug("content_outliers: %d rows, title column %r: nothing to do", n, col)
    return CheckResult(
        name="content_outliers",
        description=f"The {share:.0%} of titles most unlike the rest (IsolationForest on TF-IDF/SVD + character mix).",
        flags=flags,
        scores=scores,
        summary={"outlier_rows": int(flags.sum()), "share": share},
        examples=example_rows(df, flags, scores),
        details={"column": col},
    )
