"""Crosswalk: a shop's own categories mapped onto a standard taxonomy category by category, the products under each
shop category serving as its evidence.

A shop category (``Men > T-Shirts``, MWPD's ``CategoryText``, a Flipkart breadcrumb) groups products the shop
already thought alike. Its evidence over the taxonomy's leaves is the geometric mix (weight ``own_weight``) of

- the retrieval probabilities of the category's own text (what the shop calls it), and
- the mean of its products' retrieval probabilities (what the products in it look like);

it gets one path (the crosswalk table). Each product then maps by the geometric mix (weight ``group_weight``) of
its own probabilities and its category's evidence: 1 gives every product its category's path, 0 ignores the
category. A product with no shop category maps on its own.

Two passes, so that a catalogue never sits in memory: :meth:`CrosswalkBuilder.add` takes the products batch by
batch and keeps each one's ``top`` best leaf probabilities (a sparse row; the rest share the smallest kept value
when densified, an upper bound of each); :meth:`CrosswalkBuilder.finish` decides the categories;
:meth:`CrosswalkBuilder.row_probabilities` then hands out the products' mixed probabilities in the same order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from skutag.catalogue.fields import field_text
from skutag.catalogue.paths import PATH_SEP, split_levels, unwrap_path
from skutag.errors import ConfigError
from skutag.models.mapping.mapper import MapResult, TaxonomyMapper

#: Leaf probabilities kept per product and per shop category (the rest is far below them at the mapper's
#: temperature: a softmax at 0.02 puts a leaf 0.1 less similar 150 times lower).
TOP = 64
#: EM iterations of the catalogue prior (it settles within a few on MWPD).
EM_STEPS = 10
_SEPARATORS = re.compile(r"\s*(?:>>|>|»|\|)\s*")


def shop_category_key(value: object) -> str | None:
    """A shop category as grouped: unwrapped (``["A >> B"]`` -> ``A >> B``), split on ``>``, ``>>``, ``»`` or
    ``|``, each level lower-cased with its spaces folded, levels joined by `` > ``; None when empty."""
    value = field_text(value)
    if value is None:
        return None
    text, _ = unwrap_path(value)
    levels = [" ".join(p.lower().split()) for p in _SEPARATORS.split(text)]
    levels = [p for p in levels if p]
    return PATH_SEP.join(levels) if levels else None


def category_text(value: str) -> str:
    """The text a shop category is retrieved by: its levels joined by `` > `` as the taxonomy's paths are."""
    text, _ = unwrap_path(value)
    return PATH_SEP.join(split_levels(_SEPARATORS.sub(" > ", text))) or text.strip()


@dataclass
class CrosswalkTable:
    """One row per shop category: its key, the text it was retrieved by, its products and its mapping."""

    keys: list[str]
    texts: list[str]
    products: np.ndarray
    result: MapResult


def _top(prob: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    n = min(top, prob.shape[1])
    idx = np.argpartition(-prob, n - 1, axis=1)[:, :n] if n < prob.shape[1] else np.tile(np.arange(n), (len(prob), 1))
    return idx.astype(np.int32), np.take_along_axis(prob, idx, axis=1).astype(np.float32)


def _dense(matrix: sp.csr_matrix) -> np.ndarray:
    """Rows of a sparse probability matrix as dense distributions; a missing leaf gets the row's smallest kept
    value (each missing one is at most that) and the row is renormalised."""
    dense = np.asarray(matrix.toarray(), dtype=np.float64)
    kept = np.where(dense > 0, dense, np.inf).min(axis=1, keepdims=True)
    kept[~np.isfinite(kept)] = 1.0
    dense = np.where(dense > 0, dense, kept)
    return np.asarray(dense / dense.sum(axis=1, keepdims=True))


def mix(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """Geometric mix ``a^(1-weight) * b^weight``, renormalised per row (a product of experts: a leaf must suit
    both; an arithmetic mean let one confident expert win alone and measured 1-2 points lower on MWPD)."""
    if weight <= 0.0:
        return a
    if weight >= 1.0:
        return b
    log = (1.0 - weight) * np.log(np.maximum(a, 1e-300)) + weight * np.log(np.maximum(b, 1e-300))
    log -= log.max(axis=1, keepdims=True)
    out = np.exp(log)
    return np.asarray(out / out.sum(axis=1, keepdims=True))


class CrosswalkBuilder:
    """Collects the products' evidence (:meth:`add`), maps the shop categories (:meth:`finish`), then gives each
    product its mixed probabilities (:meth:`row_probabilities`) in the order they were added."""

    def __init__(
        self,
        mapper: TaxonomyMapper,
        *,
        own_weight: float = 0.5,
        group_weight: float = 0.7,
        prior_weight: float = 0.0,
        top: int = TOP,
    ) -> None:
        for name, value in (("own_weight", own_weight), ("group_weight", group_weight), ("prior", prior_weight)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"crosswalk {name} must be in [0, 1], got {value}")
        self.mapper = mapper
        self.own_weight = own_weight
        self.group_weight = group_weight
        self.prior_weight = prior_weight
        self.top = top
        #: The catalogue prior's factor per leaf (``prior_weight`` > 0; see :meth:`catalogue_prior`).
        self.prior: np.ndarray | None = None
        self.group_of: dict[str, int] = {}
        self.group_texts: list[str] = []
        self._idx: list[np.ndarray] = []
        self._val: list[np.ndarray] = []
        self._groups: list[np.ndarray] = []
        self._rows: sp.csr_matrix | None = None
        self._evidence: sp.csr_matrix | None = None
        self._row_group: np.ndarray | None = None
        self._cursor = 0

    def add(self, texts: Sequence[str], categories: Sequence[object], vectors: np.ndarray | None = None) -> None:
        """Products (non-blank texts) and their shop category values (blank/None: none)."""
        if len(texts) != len(categories):
            raise ConfigError(f"{len(texts)} texts but {len(categories)} shop categories")
        step = self.mapper.batch_size
        for start in range(0, len(texts), step):
            vec = vectors[start : start + step] if vectors is not None else None
            idx, val = _top(self.mapper.probabilities(texts[start : start + step], vec), self.top)
            self._idx.append(idx)
            self._val.append(val)
        groups = np.full(len(texts), -1, dtype=np.int64)
        for i, value in enumerate(categories):
            key = shop_category_key(value)
            if key is None:
                continue
            if key not in self.group_of:
                self.group_of[key] = len(self.group_texts)
                self.group_texts.append(category_text(str(value)))
            groups[i] = self.group_of[key]
        self._groups.append(groups)

    @property
    def rows(self) -> int:
        """Products added so far."""
        return sum(len(g) for g in self._groups)

    def _sparse(self, idx: list[np.ndarray], val: list[np.ndarray]) -> sp.csr_matrix:
        leaves = len(self.mapper.leaves)
        if not idx:
            return sp.csr_matrix((0, leaves), dtype=np.float64)
        i, v = np.concatenate(idx), np.concatenate(val)
        rows = np.repeat(np.arange(len(i)), i.shape[1])
        return sp.csr_matrix((v.ravel().astype(np.float64), (rows, i.ravel())), shape=(len(i), leaves))

    def finish(self, k: int = 3) -> CrosswalkTable:
        """Map every shop category (its ``k`` best paths); call once, after the last :meth:`add`."""
        self._rows = self._sparse(self._idx, self._val)
        self._idx, self._val = [], []
        self._row_group = np.concatenate(self._groups) if self._groups else np.zeros(0, dtype=np.int64)
        n_groups = len(self.group_texts)
        member = np.flatnonzero(self._row_group >= 0)
        counts = np.bincount(self._row_group[member], minlength=n_groups)
        indicator = sp.csr_matrix(
            (1.0 / counts[self._row_group[member]], (self._row_group[member], member)),
            shape=(n_groups, self._rows.shape[0]),
        )
        products = (indicator @ self._rows).tocsr()  # mean of the members' (sparse) probabilities
        idx, val = [], []
        step = self.mapper.batch_size
        for start in range(0, n_groups, step):
            own = self.mapper.probabilities(self.group_texts[start : start + step])
            evidence = mix(_dense(products[start : start + step]), own, self.own_weight)
            i, v = _top(evidence, self.top)
            idx.append(i)
            val.append(v)
        self._evidence = self._sparse(idx, val)
        if self.prior_weight > 0:
            self.prior = self.catalogue_prior()
        result = self.mapper.map(self.group_texts, k=k, prob=self._with_prior(_dense(self._evidence)))
        return CrosswalkTable(list(self.group_of), self.group_texts, counts, result)

    def catalogue_prior(self, steps: int = EM_STEPS) -> np.ndarray:
        """How much more or less often than retrieval alone says the catalogue uses each leaf, as a factor per
        leaf: the prior ``pi`` of EM (Saerens et al. 2002: ``p_i ~ q_i * pi^w``, ``pi`` = mean of the ``p_i``) over
        the products' mixed probabilities (their ``top`` best leaves), raised to ``prior_weight`` (``w``; 1: the
        full re-estimate, which over-rewards the leaves already likeliest; 0.5 measured best on MWPD)."""
        leaves = len(self.mapper.leaves)
        idx, val = [], []
        for start in range(0, self._rows.shape[0] if self._rows is not None else 0, self.mapper.batch_size):
            i, v = _top(self._mixed(start, start + self.mapper.batch_size), self.top)
            idx.append(i)
            val.append(v / v.sum(axis=1, keepdims=True))
        if not idx:
            return np.ones(leaves)
        i, v = np.concatenate(idx), np.concatenate(val).astype(np.float64)
        prior = np.full(leaves, 1.0 / leaves)
        for _ in range(steps):
            post = v * prior[i] ** self.prior_weight
            post /= post.sum(axis=1, keepdims=True)
            prior = np.maximum(np.bincount(i.ravel(), post.ravel(), minlength=leaves) / len(i), 1e-9)
        return np.asarray((prior * leaves) ** self.prior_weight)

    def _with_prior(self, prob: np.ndarray) -> np.ndarray:
        if self.prior is None:
            return prob
        out = prob * self.prior
        return np.asarray(out / out.sum(axis=1, keepdims=True))

    def _mixed(self, start: int, stop: int) -> np.ndarray:
        """Products ``start:stop``'s own probabilities mixed with their category's evidence (no prior)."""
        if self._rows is None or self._evidence is None or self._row_group is None:
            raise ConfigError("CrosswalkBuilder.finish() must run before row_probabilities()")
        own = _dense(self._rows[start:stop])
        groups = self._row_group[start:stop]
        has = groups >= 0
        if has.any() and self.group_weight > 0:
            own[has] = mix(own[has], _dense(self._evidence[groups[has]]), self.group_weight)
        return own

    def row_probabilities(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The next ``n`` products' probabilities (mixed with their category's evidence, times the catalogue prior)
        and their category index (-1: none, mapped on its own)."""
        if self._rows is None or self._row_group is None:
            raise ConfigError("CrosswalkBuilder.finish() must run before row_probabilities()")
        start, stop = self._cursor, self._cursor + n
        if stop > self._rows.shape[0]:
            raise ConfigError(f"asked for products {start}..{stop} of {self._rows.shape[0]} added")
        self._cursor = stop
        return self._with_prior(self._mixed(start, stop)), self._row_group[start:stop]
