"""Global views of a category model on evaluated rows: what each class has learnt (its strongest evidence) and
which classes lean on brand names or shop-specific words (:mod:`skutag.explain.roles`).

**Evidence of a class** is computed over the rows *predicted* as that class (its leaf path):

- linear model, exactly from its coefficients: every word and character n-gram occurrence of a row adds
  (its TF-IDF value x its coefficient in the class's centred path score, :func:`skutag.explain.linear.path_weights`)
  to the class's score; an n-gram's evidence is that sum over the class's rows divided by their number (its mean
  contribution per row: weight x frequency). Every evaluated row is read, up to :data:`LINEAR_MAX_ROWS`. The
  n-grams that speak most *against* a class are its most negative coefficients times the n-gram's mean TF-IDF value
  where it occurs in the data (what one occurrence takes away). Features are hashed: an n-gram is named by the
  texts that hit its bucket in the evaluated data (the most frequent; others, from hash collisions, in ``also``);
  n-grams absent from the data cannot be named and are not shown.
- other kinds (transformer, fast, ensemble): each explained row's word weights by the kind's default method of
  :func:`skutag.explain.explain` (occlusion, the ensemble's blend), summed per lower-cased word over the class's
  rows and divided by their number. Explaining costs a prediction per word, so at most
  :data:`EXPLAINED_MAX_ROWS` rows are explained.

Rows past a cap are dealt round-robin over the predicted classes (every class gets rows before any gets many);
``max_rows=0`` reads every row.

**Words** are what the flag reads, for every kind: for the linear model a word's evidence is that of the n-gram
occurrences over it (an occurrence split over the words it overlaps by their characters, as
:func:`skutag.explain.linear.linear_spans` splits it; n-grams of punctuation alone go to no word), so it matches the
mean of the per-row linear explanations' weights of that word (up to where a share on punctuation goes).

**Leaning on brands or shops**: a class's share is the part of the summed weight of its top-``top`` words carried by
brand-like or shop-specific words (:mod:`skutag.explain.roles`). A class with at least :data:`MIN_CLASS_ROWS`
explained rows and a share of at least :data:`FLAG_SHARE` is flagged; the view also counts the shops a class's rows
come from (a class sold by one shop has only shop-specific words).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from skutag.explain.api import explain, model_frame, resolve_method
from skutag.explain.linear import _level_means
from skutag.explain.roles import WORD, TokenRoles, shop_of, token_roles
from skutag.explain.scoring import best_paths
from skutag.models.base import CategoryModel
from skutag.models.linear.features import (
    _SEP,
    _SEP_CP,
    _SPACE_CP,
    FieldVectorizer,
    _codepoints,
    _cps_ngram_parts,
    _punct_to_space,
    normalise,
)

#: Evidence items listed per class, and the ones its brand/shop share is computed over.
TOP = 10
#: A class is flagged when brand-like or shop-specific words carry at least this share of its top evidence ...
FLAG_SHARE = 0.5
#: ... and at least this many of its rows were explained.
MIN_CLASS_ROWS = 3
#: Default row caps: the linear view is exact and vectorised; the others explain one row at a time.
LINEAR_MAX_ROWS = 10_000
EXPLAINED_MAX_ROWS = 300
#: (rows, buckets, first, last) of the occurrences of one n-gram order.
_Positions = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_FLAGGED_KEYS = ("class", "rows", "rows_explained", "shops", "share", "brand_share", "shop_share", "role_words")
#: Occurrences read per n-gram to name it.
_SAMPLE = 30


def capped_rows(paths: Sequence[Sequence[str]], max_rows: int, seed: int = 0) -> np.ndarray:
    """Indices (sorted) of at most ``max_rows`` rows (0: all), dealt round-robin over the predicted paths in a
    seeded random order: every class gets a row before any class gets a second."""
    n = len(paths)
    if max_rows <= 0 or n <= max_rows:
        return np.arange(n)
    order = np.random.default_rng(seed).permutation(n)
    seen: Counter[tuple[str, ...]] = Counter()
    rank = np.zeros(n, dtype=np.int64)
    for pos, i in enumerate(order):
        key = tuple(paths[i])
        rank[pos] = seen[key]
        seen[key] += 1
    return np.sort(order[np.lexsort((np.arange(n), rank))][:max_rows])


def global_explanations(
    model: CategoryModel,
    texts: pd.DataFrame,
    *,
    paths: Sequence[Sequence[str]] | None = None,
    roles: TokenRoles | None = None,
    shops: Sequence[object] | None = None,
    top: int = TOP,
    max_rows: int | None = None,
    flag_share: float = FLAG_SHARE,
    min_rows: int = MIN_CLASS_ROWS,
    method: str = "auto",
    seed: int = 0,
) -> dict[str, Any]:
    """The global view of ``model`` on ``texts`` (its text columns) as a JSON-ready dict: per predicted class its
    strongest evidence (and, for the linear model, what speaks against it), its brand/shop share and flag; the
    flagged classes; how it was computed and what it cost. ``paths``: the predicted path of each row (predicted
    here when None). ``roles``: which words are brand-like/shop-specific (by default from ``texts`` and ``shops``,
    one shop name or URL per row). ``max_rows``: None = :data:`LINEAR_MAX_ROWS` for the exact view, else
    :data:`EXPLAINED_MAX_ROWS`; 0 = every row. ``method``: 'auto' (the exact view for a linear model, else the
    kind's default explanations) or an :func:`explain` method whose per-row explanations are aggregated."""
    t0 = time.perf_counter()
    frame = model_frame(model, texts).reset_index(drop=True)
    paths = [list(p) for p in (best_paths(model, frame) if paths is None else paths)]
    if roles is None:
        roles = token_roles(frame.to_numpy().tolist(), shops=shops)
    exact = model.kind == "linear" and method in ("auto", "linear")
    cap = (LINEAR_MAX_ROWS if exact else EXPLAINED_MAX_ROWS) if max_rows is None else max_rows
    chosen = capped_rows(paths, cap, seed)
    chosen_paths = [tuple(paths[i]) for i in chosen]
    groups = sorted(set(chosen_paths))
    group_of = {p: g for g, p in enumerate(groups)}
    row_group = np.array([group_of[p] for p in chosen_paths], dtype=np.int64)
    sub = frame.iloc[chosen].reset_index(drop=True)
    if exact:
        method = "linear"
        classes = _LinearView(model, sub, row_group, groups, roles, top).classes()
    else:
        method, classes = _explained_classes(model, sub, row_group, groups, roles, top, method)
    predicted = Counter(tuple(p) for p in paths)
    shops_of_path: dict[tuple[str, ...], set[str]] = defaultdict(set)
    if shops is not None:
        for p, s in zip(paths, shops, strict=True):
            name = shop_of(s)
            if name:
                shops_of_path[tuple(p)].add(name)
    for c in classes:
        key = tuple(c["path"])
        c["rows"] = int(predicted[key])
        share = c["share"]
        c["flagged"] = bool(c["rows_explained"] >= min_rows and share is not None and share >= flag_share)
        if shops is not None:
            c["shops"] = len(shops_of_path[key])
    classes.sort(key=lambda c: (-c["rows"], c["class"]))
    flagged = sorted((c for c in classes if c["flagged"]), key=lambda c: (-c["share"], c["class"]))
    return {
        "kind": model.kind,
        "method": method,
        "rows": len(frame),
        "rows_explained": len(chosen),
        "classes_predicted": len(predicted),
        "max_rows": cap,
        "top": top,
        "flag_share": flag_share,
        "min_rows": min_rows,
        "roles": roles.summary(),
        "flagged": [{k: c[k] for k in _FLAGGED_KEYS if k in c} for c in flagged],
        "classes": classes,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _class_entry(
    path: tuple[str, ...],
    n_explained: int,
    words: list[dict[str, Any]],
    ngrams: list[dict[str, Any]] | None = None,
    negative: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    total = sum(w["weight"] for w in words)
    brand = sum(w["weight"] for w in words if "brand" in (w["role"] or ""))
    shop = sum(w["weight"] for w in words if "shop" in (w["role"] or ""))
    either = sum(w["weight"] for w in words if w["role"])
    out: dict[str, Any] = {
        "class": " > ".join(path),
        "path": list(path),
        "rows_explained": n_explained,
        "share": round(either / total, 4) if total > 0 else None,
        "brand_share": round(brand / total, 4) if total > 0 else None,
        "shop_share": round(shop / total, 4) if total > 0 else None,
        "role_words": [f"{w['text']} ({w['role']})" for w in words if w["role"]],
        "words": words,
    }
    if ngrams is not None:
        out["ngrams"] = ngrams
    if negative is not None:
        out["negative"] = negative
    return out


def _word_item(roles: TokenRoles, text: str, weight: float, rows: int) -> dict[str, Any]:
    return {"text": text, "weight": round(float(weight), 6), "rows": int(rows), "role": roles.role(text)}


def _unique(values: np.ndarray, inverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ``values`` (and, with ``inverse``, each value's index among them) by a sort: numpy's
    hash-based unique is several times slower on millions of int64 keys."""
    order = np.argsort(values, kind="stable") if inverse else None
    ordered = values[order] if order is not None else np.sort(values)
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    out = ordered[first]
    if order is None:
        return out, np.zeros(0, dtype=np.int64)
    where = np.empty(len(values), dtype=np.int64)
    where[order] = np.cumsum(first) - 1
    return out, where


def _top_per_group(group: np.ndarray, score: np.ndarray, n_groups: int, k: int) -> np.ndarray:
    """Indices of the ``k`` highest positive ``score`` of each group, best first within a group."""
    order = np.lexsort((-score, group))
    first = np.searchsorted(group[order], np.arange(n_groups))
    rank = np.arange(len(order)) - first[group[order]]
    return order[(rank < k) & (score[order] > 0)]


# ---- the linear model: exact, vectorised ------------------------------------------------------------------------
@dataclass
class _Occurrences:
    """Every hashed n-gram occurrence of one text field over the rows: its row, joint feature index, TF-IDF value,
    first and last character in ``text`` (the field's normalised rows joined as the vectoriser hashes them), whether
    it is a word n-gram; and the ``\\w+`` words of ``text`` (their ``[start, end)``)."""

    field: str
    text: str
    rows: np.ndarray
    feats: np.ndarray
    values: np.ndarray
    first: np.ndarray
    last: np.ndarray
    word: np.ndarray
    token_starts: np.ndarray
    token_ends: np.ndarray

    def word_shares(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(occurrence, word, share): each occurrence's contribution split over the words it overlaps, by the
        characters of each inside it (as :func:`skutag.explain.linear.linear_spans` splits it over characters;
        an n-gram of punctuation alone goes to no word)."""
        ts, te = self.token_starts, self.token_ends
        t_first = np.searchsorted(te, self.first, side="right")
        t_last = np.searchsorted(ts, self.last, side="right") - 1
        span = t_last - t_first + 1
        occ, tok, overlap = [], [], []
        for j in range(int(span.max()) if len(span) else 0):
            sel = np.flatnonzero(span > j)
            t = t_first[sel] + j
            occ.append(sel)
            tok.append(t)
            overlap.append(np.minimum(self.last[sel] + 1, te[t]) - np.maximum(self.first[sel], ts[t]))
        if not occ:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        o, t, ov = np.concatenate(occ), np.concatenate(tok), np.concatenate(overlap).astype(np.float64)
        total = np.bincount(o, weights=ov, minlength=len(self.rows))
        return o, t, ov / total[o]


def _char_positions(cps: np.ndarray, orders: tuple[int, int]) -> list[_Positions]:
    is_sep = cps == _SEP_CP
    csep = np.concatenate([[0], np.cumsum(is_sep)])
    cblank = np.concatenate([[0], np.cumsum(is_sep | (cps == _SPACE_CP))])
    out = []
    for n in range(orders[0], orders[1] + 1):
        m = len(cps) - n + 1
        if m <= 0:
            continue
        ok = csep[n : n + m] == csep[:m]
        if n > 2:
            ok &= cblank[n - 1 : n - 1 + m] == cblank[1 : 1 + m]
        idx = np.flatnonzero(ok)
        rows, buckets = _cps_ngram_parts(cps, None, (n, n))[0]
        if len(buckets) != len(idx):  # the vectoriser changed: better no view than a wrong one
            raise RuntimeError("char n-gram positions do not match the vectoriser's")
        out.append((rows, buckets, idx, idx + n - 1))
    return out


def _word_positions(cps: np.ndarray, orders: tuple[int, int]) -> list[_Positions]:
    wcps = _punct_to_space(cps)
    blank = (wcps == _SEP_CP) | (wcps == _SPACE_CP)
    starts = np.flatnonzero(~blank & np.concatenate([[True], blank[:-1]]))
    ends = np.flatnonzero(~blank & np.concatenate([blank[1:], [True]]))
    if not len(starts):
        return []
    tok_row = np.concatenate([[0], np.cumsum(wcps == _SEP_CP)])[starts] - 1
    out = []
    for n in range(orders[0], orders[1] + 1):
        m = len(starts) - n + 1
        if m <= 0:
            continue
        ok = np.ones(m, dtype=bool)
        for j in range(1, n):
            ok &= tok_row[j : j + m] == tok_row[:m]
        rows, buckets = _cps_ngram_parts(wcps, (n, n), None)[0]
        if len(buckets) != int(ok.sum()):
            raise RuntimeError("word n-gram positions do not match the vectoriser's")
        out.append((rows, buckets, starts[:m][ok], ends[n - 1 : n - 1 + m][ok]))
    return out


def _field_occurrences(vec: FieldVectorizer, field: str, values: Sequence[object], offset: int) -> _Occurrences:
    """The occurrences of one field, with the TF-IDF values :class:`FieldVectorizer` gives them."""
    cfg = vec.config
    norm = [normalise(v) for v in values]
    if cfg.max_chars:
        norm = [t[: cfg.max_chars] for t in norm]
    text = _SEP + _SEP.join(f" {t} " for t in norm) + _SEP
    cps = _codepoints(text)
    table = vec._lookup_table()
    n_rows = len(values)
    parts: list[tuple[np.ndarray, ...]] = []
    groups = ([(True, _word_positions(cps, cfg.word))] if cfg.word else []) + (
        [(False, _char_positions(cps, cfg.char))] if cfg.char else []
    )
    for is_word, group in groups:
        found = []
        sq = np.zeros(n_rows, dtype=np.float64)
        for rows, buckets, first, last in group:
            cols = table[buckets]
            hit = cols >= 0
            found.append((rows[hit], cols[hit].astype(np.int64), first[hit], last[hit]))
            sq += np.bincount(rows[hit], weights=vec.idf_[cols[hit]].astype(np.float64) ** 2, minlength=n_rows)
        norms = np.sqrt(sq)
        norms[norms == 0] = 1.0
        scale = cfg.weight / norms
        for rows, cols, first, last in found:
            value = vec.idf_[cols].astype(np.float64) * scale[rows]
            parts.append((rows, cols + offset, value, first, last, np.full(len(rows), is_word)))
    cat: list[np.ndarray] = (
        [np.concatenate(x) for x in zip(*parts, strict=True)] if parts else [np.zeros(0, dtype=np.int64)] * 6
    )
    rows, feats, value, first, last, word = cat
    spans = [m.span() for m in WORD.finditer(text)]
    bounds = np.array(spans, dtype=np.int64).reshape(-1, 2)
    return _Occurrences(
        field,
        text,
        rows.astype(np.int64),
        feats.astype(np.int64),
        value.astype(np.float64),
        first.astype(np.int64),
        last.astype(np.int64),
        word.astype(bool),
        bounds[:, 0],
        bounds[:, 1],
    )


class _LinearView:
    """The exact evidence of a linear model's classes on some rows (see the module docstring)."""

    def __init__(
        self,
        model: Any,
        frame: pd.DataFrame,
        row_group: np.ndarray,
        groups: list[tuple[str, ...]],
        roles: TokenRoles,
        top: int,
    ) -> None:
        self.model, self.roles, self.top, self.groups = model, roles, top, groups
        self.row_group = row_group
        self.fields: list[_Occurrences] = []
        offset = 0
        for col in model.text_columns_:
            vec = model.vectorizer_.vectorizers[col]
            self.fields.append(_field_occurrences(vec, col, frame[col].tolist(), offset))
            offset += vec.n_features
        self.n_features = offset
        self.temps = [float(t) * float(model.path_temperature_) for t in model.level_temperature_]
        self.means = _level_means(model)[0]
        offsets = np.cumsum([0, *[len(c) for c in model.classes_]])
        # per level, per group: the class's column of the coefficient matrix (-1: the path stops above the level)
        self.columns = []
        for lv, classes in enumerate(model.classes_):
            index = {c: i for i, c in enumerate(classes)}
            self.columns.append(
                np.array(
                    [offsets[lv] + index[p[lv]] if lv < len(p) and p[lv] in index else -1 for p in groups],
                    dtype=np.int64,
                )
            )

    def weights(self, feats: np.ndarray, group: np.ndarray) -> np.ndarray:
        """Coefficient of each feature in the centred path score of its group (arrays of the same length)."""
        w = np.zeros(len(feats), dtype=np.float64)
        for lv, cols in enumerate(self.columns):
            c = cols[group]
            ok = c >= 0
            coef = self.model.coef_[feats[ok], c[ok]].astype(np.float64)
            w[ok] += self.temps[lv] * (coef - self.means[lv][feats[ok]])
        return w

    def group_weights(self, feats: np.ndarray) -> np.ndarray:
        """(features x groups): every group's centred-path-score coefficient of ``feats`` (float32)."""
        sub = self.model.coef_[feats]
        w = np.zeros((len(feats), len(self.groups)), dtype=np.float32)
        for lv, cols in enumerate(self.columns):
            ok = np.flatnonzero(cols >= 0)
            part = sub[:, cols[ok]]
            part -= self.means[lv][feats].astype(np.float32)[:, None]
            part *= np.float32(self.temps[lv])
            w[:, ok] += part
        return w

    def classes(self) -> list[dict[str, Any]]:
        occ = self.fields
        n_groups, nf = len(self.groups), self.n_features
        rows = np.concatenate([o.rows for o in occ])
        feats = np.concatenate([o.feats for o in occ])
        values = np.concatenate([o.values for o in occ])
        field_id = np.concatenate([np.full(len(o.rows), i) for i, o in enumerate(occ)])
        local = np.concatenate([np.arange(len(o.rows)) for o in occ])
        group = self.row_group[rows]
        contrib = values * self.weights(feats, group)
        n_of_group = np.bincount(self.row_group, minlength=n_groups).astype(np.float64)
        # n-grams: mean contribution over the group's rows
        key = group * nf + feats
        keys, inverse = _unique(key, inverse=True)
        mean_ev = np.bincount(inverse, weights=contrib) / n_of_group[keys // nf]
        row_keys = _unique(rows * nf + feats)[0]
        in_rows = np.bincount(
            np.searchsorted(keys, self.row_group[row_keys // nf] * nf + row_keys % nf), minlength=len(keys)
        )
        chosen = _top_per_group(keys // nf, mean_ev, n_groups, self.top)
        names = self._names(np.isin(key, keys[chosen]), key, field_id, local)
        # words: every occurrence's contribution split over the words it overlaps
        word_ev = self._word_evidence(rows, contrib, n_groups)
        # against: the most negative coefficient x mean TF-IDF value where the n-gram occurs
        seen, seen_inv = _unique(feats, inverse=True)
        seen_rows = np.bincount(np.searchsorted(seen, row_keys % nf), minlength=len(seen))
        mean_value = np.bincount(seen_inv, weights=values) / np.maximum(seen_rows, 1)
        against = self._against(seen, mean_value)
        neg_names = self._names(np.isin(feats, np.unique(against[0])), feats, field_id, local)
        out = []
        for g, path in enumerate(self.groups):
            mine = chosen[keys[chosen] // nf == g]
            ngrams = [
                {**self._label(names, int(keys[i])), "weight": round(float(mean_ev[i]), 6), "rows": int(in_rows[i])}
                for i in mine
            ]
            negative = [
                {**self._label(neg_names, int(f)), "weight": round(float(w), 6)}
                for f, w in zip(against[0][:, g], against[1][:, g], strict=True)
                if w < 0
            ]
            top_words = [_word_item(self.roles, t, v, r) for t, v, r in word_ev.get(g, [])]
            out.append(_class_entry(path, int(n_of_group[g]), top_words, ngrams, negative))
        return out

    def _word_evidence(
        self, rows: np.ndarray, contrib: np.ndarray, n_groups: int
    ) -> dict[int, list[tuple[str, float, int]]]:
        """Per group, its ``top`` words by mean contribution per row (text, evidence, rows holding the word)."""
        vocab: dict[str, int] = {}
        occ_ids, word_ids, shares = [], [], []
        base = 0
        for o in self.fields:
            o_idx, t_idx, share = o.word_shares()
            ids = np.array(
                [vocab.setdefault(o.text[a:z], len(vocab)) for a, z in zip(o.token_starts, o.token_ends, strict=True)],
                dtype=np.int64,
            )
            occ_ids.append(o_idx + base)
            word_ids.append(ids[t_idx] if len(ids) else np.zeros(0, np.int64))
            shares.append(share)
            base += len(o.rows)
        o_all, w_all, s_all = np.concatenate(occ_ids), np.concatenate(word_ids), np.concatenate(shares)
        nw = max(len(vocab), 1)
        g_all = self.row_group[rows[o_all]]
        key = g_all * nw + w_all
        keys, inverse = _unique(key, inverse=True)
        n_of_group = np.bincount(self.row_group, minlength=n_groups).astype(np.float64)
        ev = np.bincount(inverse, weights=contrib[o_all] * s_all) / n_of_group[keys // nw]
        pairs = _unique(rows[o_all] * nw + w_all)[0]
        in_rows = np.bincount(np.searchsorted(keys, self.row_group[pairs // nw] * nw + pairs % nw), minlength=len(keys))
        text = list(vocab)
        chosen = _top_per_group(keys // nw, ev, n_groups, self.top)
        found: dict[int, list[tuple[str, float, int]]] = defaultdict(list)
        for i in chosen.tolist():
            found[int(keys[i] // nw)].append((text[int(keys[i] % nw)], float(ev[i]), int(in_rows[i])))
        return found

    def _against(self, seen: np.ndarray, mean_value: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """Per group, the ``top`` most negative (coefficient x mean value) of the ``seen`` features: (features,
        values), each ``top x groups``, most negative first (fewer rows when fewer features were seen)."""
        k = min(self.top, len(seen))
        best_f = np.zeros((0, len(self.groups)), dtype=np.int64)
        best_v = np.zeros((0, len(self.groups)))
        for a in range(0, len(seen), chunk):
            f = seen[a : a + chunk]
            w = self.group_weights(f) * mean_value[a : a + chunk, None]
            kk = min(k, len(f))
            low = np.argpartition(w, kk - 1, axis=0)[:kk]
            best_f = np.concatenate([best_f, f[low]])
            best_v = np.concatenate([best_v, np.take_along_axis(w, low, axis=0)])
            keep = np.argsort(best_v, axis=0, kind="stable")[:k]
            best_f, best_v = np.take_along_axis(best_f, keep, axis=0), np.take_along_axis(best_v, keep, axis=0)
        return best_f, best_v

    @staticmethod
    def _label(names: dict[int, tuple[str, str, str, list[str]]], key: int) -> dict[str, Any]:
        text, kind, field, also = names.get(key, ("", "", "", []))
        out: dict[str, Any] = {"text": text, "kind": kind, "field": field}
        if also:
            out["also"] = also  # other n-grams in the same hash bucket
        return out

    def _names(
        self, mask: np.ndarray, key: np.ndarray, field_id: np.ndarray, local: np.ndarray
    ) -> dict[int, tuple[str, str, str, list[str]]]:
        """For the occurrences in ``mask``, per ``key``: its most frequent text, 'word' or 'char', its field and the
        other texts that hit the same bucket (from up to :data:`_SAMPLE` occurrences a key)."""
        idx = np.flatnonzero(mask)
        idx = idx[np.argsort(key[idx], kind="stable")]
        k = key[idx]
        idx = idx[np.arange(len(idx)) - np.searchsorted(k, k, side="left") < _SAMPLE]
        texts: dict[int, Counter[tuple[str, str, str]]] = defaultdict(Counter)
        for i in idx.tolist():
            o = self.fields[int(field_id[i])]
            j = int(local[i])
            piece = o.text[int(o.first[j]) : int(o.last[j]) + 1]
            if o.word[j]:
                piece = " ".join(_punct_to_text(piece).split())
            texts[int(key[i])][(piece, "word" if o.word[j] else "char", o.field)] += 1
        names = {}
        for kk, counter in texts.items():
            ranked = counter.most_common()
            (text, kind, field), _ = ranked[0]
            names[kk] = (text, kind, field, [t for (t, _, _), _ in ranked[1:4] if t != text])
        return names


def _punct_to_text(piece: str) -> str:
    cps = _codepoints(piece)
    return _punct_to_space(cps).astype(np.uint32).tobytes().decode("utf-32-le")


# ---- other kinds: aggregated per-row explanations --------------------------------------------------------------
def _explained_classes(
    model: CategoryModel,
    frame: pd.DataFrame,
    row_group: np.ndarray,
    groups: list[tuple[str, ...]],
    roles: TokenRoles,
    top: int,
    method: str,
) -> tuple[str, list[dict[str, Any]]]:
    method = resolve_method(model, method)
    found = explain(model, frame, path=[list(groups[g]) for g in row_group], method=method, neighbours=0)
    weight: dict[tuple[int, str], float] = defaultdict(float)
    rows: dict[tuple[int, str], int] = defaultdict(int)
    for g, ex in zip(row_group.tolist(), found, strict=True):
        per_row: dict[str, float] = defaultdict(float)
        for s in ex.spans:
            per_row[s.text.lower()] += s.weight
        for w, v in per_row.items():
            weight[(g, w)] += v
            rows[(g, w)] += 1
    n_of_group = np.bincount(row_group, minlength=len(groups))
    by_group: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for (g, w), v in weight.items():
        if v > 0:
            by_group[g].append((w, v / n_of_group[g]))
    out = []
    for g, path in enumerate(groups):
        best = sorted(by_group[g], key=lambda x: (-x[1], x[0]))[:top]
        words = [_word_item(roles, w, v, rows[(g, w)]) for w, v in best]
        out.append(_class_entry(path, int(n_of_group[g]), words))
    return method, out
