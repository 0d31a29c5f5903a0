"""Which words of a catalogue are brand-like or shop-specific: a measurable, documented heuristic.

A class whose evidence is mostly brand names or one shop's vocabulary has learnt who sells or makes its products,
not what they are: it breaks when the brand or the shop changes. The rules, all over lower-cased ``\\w+`` words
(the units of :mod:`skutag.explain.spans`), each counted once per row:

- **shop-specific**: the data names each row's shop (a shop/store/seller/source/domain column, or a URL column,
  read as its registrable domain). A word is shop-specific when it is in at least :data:`MIN_ROWS` rows, at
  least :data:`SHOP_SHARE` of them from one shop, and that share is at least twice the shop's share of all rows
  (so the everyday words of a shop that supplies half the data or more are never called shop-specific). A class
  whose products all come from one shop has only shop-specific words: the view also counts each class's shops.
- **brand-like**, with a brand column (brand/manufacturer/make/vendor): a word of a row's brand value that is in
  the brand value of at least half the rows whose text holds it ("the" of "The North Face" is not).
- **brand-like**, without one: a proper-noun test. A word is brand-like when, in running text (a field value
  whose words mostly start lower-case: descriptions, not Title Case titles), at least :data:`CAPITALISED_SHARE`
  of its at least :data:`MIN_ROWS` occurrences that do not start a sentence or precede a colon start upper-case.
  This finds brands and also team, place, person and month names (the same shortcut risk: an author or a team
  standing in for the category), and misses all-capital acronyms (``HP`` as much as ``USB``: they are skipped) and
  brands only ever written in titles.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pandas as pd

#: A word must be in this many rows (occurrences, for capitalisation) before it is judged.
MIN_ROWS = 3
#: A word is shop-specific when at least this share of its rows come from one shop (and twice its share of rows).
SHOP_SHARE = 0.8
#: A word is brand-like (no brand column) when capitalised in at least this share of its running-text uses.
CAPITALISED_SHARE = 0.8
#: A field value is running text when at least this share of its words start lower-case.
RUNNING_TEXT = 0.6
#: Column names (lower-cased) that name a row's shop, and its brand.
SHOP_COLUMNS = ("shop", "store", "seller", "merchant", "source", "site", "domain", "host", "retailer")
BRAND_COLUMNS = ("brand", "manufacturer", "make", "vendor", "brand_name", "brandname")
#: Second-level labels under a country code: ``shop.co.uk`` is one shop, not ``co.uk``.
_SECOND_LEVEL = {"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or", "gv"}

WORD = re.compile(r"\w+", re.UNICODE)
_SEP_WORD = re.compile(r"(\W*)(\w+)", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?:;\n\u2022|]")


@dataclass
class TokenRoles:
    """The brand-like and shop-specific words (lower case) of some data, each with the figures that made it so."""

    brand: dict[str, str] = field(default_factory=dict)
    shop: dict[str, str] = field(default_factory=dict)
    brand_rule: str = ""
    shop_rule: str = ""
    shop_column: str | None = None
    brand_column: str | None = None

    def role(self, word: str) -> str | None:
        """'brand', 'shop', 'brand+shop' or None for a word (any case)."""
        w = word.lower()
        found = [name for name, table in (("brand", self.brand), ("shop", self.shop)) if w in table]
        return "+".join(found) or None

    def summary(self) -> dict[str, object]:
        return {
            "shop_column": self.shop_column,
            "brand_column": self.brand_column,
            "shop_rule": self.shop_rule,
            "brand_rule": self.brand_rule,
            "shop_words": len(self.shop),
            "brand_words": len(self.brand),
        }


def shop_of(value: object) -> str | None:
    """A row's shop: a URL's registrable domain (``www.a.b.com`` -> ``b.com``, ``x.shop.co.uk`` -> ``shop.co.uk``),
    any other value stripped and lower-cased; None when empty."""
    if not isinstance(value, str) or not value.strip():
        return None
    v = value.strip().lower()
    if "://" in v or v.startswith("www."):
        host = urlsplit(v if "://" in v else f"http://{v}").hostname or ""
        parts = [p for p in host.split(".") if p]
        if not parts:
            return None
        keep = 3 if len(parts) >= 3 and parts[-2] in _SECOND_LEVEL and len(parts[-1]) == 2 else 2
        return ".".join(parts[-keep:])
    return v


def looks_like_urls(values: Sequence[object]) -> bool:
    sample = [v for v in list(values)[:200] if isinstance(v, str) and v.strip()]
    return (
        bool(sample)
        and sum(v.strip().lower().startswith(("http://", "https://", "www.")) for v in sample) > len(sample) / 2
    )


def row_words(texts: Sequence[object]) -> set[str]:
    """The distinct lower-cased words of one row's fields."""
    out: set[str] = set()
    for t in texts:
        if isinstance(t, str):
            out.update(m.group().lower() for m in WORD.finditer(t))
    return out


def token_roles(
    rows: Sequence[Sequence[object]],
    *,
    shops: Sequence[object] | None = None,
    brands: Sequence[object] | None = None,
    shop_column: str | None = None,
    brand_column: str | None = None,
) -> TokenRoles:
    """The roles of the words of ``rows`` (each a sequence of field values): shop-specific when ``shops`` (one
    value per row: a shop name or a URL) is given, brand-like from ``brands`` (one brand value per row) when given,
    else by the proper-noun test (see the module docstring)."""
    words = [row_words(r) for r in rows]
    roles = TokenRoles(shop_column=shop_column, brand_column=brand_column)
    if shops is not None:
        roles.shop, roles.shop_rule = _shop_words(words, [shop_of(s) for s in shops])
    else:
        roles.shop_rule = "no shop or URL column: no word is called shop-specific"
    if brands is not None:
        roles.brand, roles.brand_rule = _brand_column_words(words, brands)
    else:
        roles.brand, roles.brand_rule = _capitalised_words(rows)
    return roles


def _shop_words(words: list[set[str]], shops: list[str | None]) -> tuple[dict[str, str], str]:
    known = [s for s in shops if s]
    rule = (
        f"in >= {MIN_ROWS} rows, >= {SHOP_SHARE:.0%} of them from one shop, and at least twice that shop's share "
        "of all rows"
    )
    if len(set(known)) < 2:
        return {}, f"fewer than two shops in the data: no word is called shop-specific ({rule})"
    share = {s: c / len(known) for s, c in Counter(known).items()}
    by_word: dict[str, Counter[str]] = defaultdict(Counter)
    for ws, s in zip(words, shops, strict=True):
        if s:
            for w in ws:
                by_word[w][s] += 1
    out = {}
    for w, c in by_word.items():
        n = sum(c.values())
        if n < MIN_ROWS:
            continue
        shop, k = c.most_common(1)[0]
        if k / n >= SHOP_SHARE and k / n >= 2 * share[shop]:
            out[w] = f"{shop}: {k} of {n} rows"
    return out, rule


def _brand_column_words(words: list[set[str]], brands: Sequence[object]) -> tuple[dict[str, str], str]:
    in_brand: Counter[str] = Counter()
    in_text: Counter[str] = Counter()
    for ws, b in zip(words, brands, strict=True):
        bw = row_words([b]) if isinstance(b, str) else set()
        in_brand.update(bw)
        in_text.update(ws | bw)
    out = {
        w: f"in the brand of {k} of {in_text[w]} rows"
        for w, k in in_brand.items()
        if k * 2 >= in_text[w] and any(ch.isalpha() for ch in w)
    }
    return out, "a word of the brand column, there in at least half the rows that hold it"


def _capitalised_words(rows: Sequence[Sequence[object]]) -> tuple[dict[str, str], str]:
    uses: list[str] = []
    for row in rows:
        for text in row:
            if not isinstance(text, str) or not text:
                continue
            pairs = _SEP_WORD.findall(text)  # (what precedes the word, the word)
            alpha = [w for _, w in pairs if w[0].isalpha()]
            if len(alpha) < 4 or sum(w[0].islower() for w in alpha) < RUNNING_TEXT * len(alpha):
                continue  # a title in Title Case, a list of names: capitals say nothing there
            last = len(pairs) - 1
            for i in range(1, len(pairs)):
                before, w = pairs[i]
                if not w[0].isalpha() or (len(w) > 1 and w.isupper()) or _SENTENCE_END.search(before):
                    continue
                if i < last and pairs[i + 1][0].startswith(":"):
                    continue  # a field name: "Colour: red"
                uses.append(w)
    seen = Counter(w.lower() for w in uses)
    upper = Counter(w.lower() for w in uses if w[0].isupper())
    out = {
        w: f"capitalised in {upper[w]} of {n} uses in running text"
        for w, n in seen.items()
        if n >= MIN_ROWS and upper[w] >= CAPITALISED_SHARE * n
    }
    rule = (
        f"no brand column: capitalised in >= {CAPITALISED_SHARE:.0%} of >= {MIN_ROWS} uses inside sentences of "
        "running text (proper nouns: brands, also team, place and person names; all-capital acronyms skipped)"
    )
    return out, rule


#: Role statistics read at most this many rows.
ROLE_MAX_ROWS = 50_000


def shop_column(frame: pd.DataFrame, skip: Sequence[str] = ()) -> str | None:
    """The column naming each row's shop: one named like :data:`SHOP_COLUMNS`, else one of URLs."""
    cols = [c for c in frame.columns if str(c) not in skip and not str(c).startswith("_")]
    for c in cols:
        if str(c).lower().replace(" ", "_") in SHOP_COLUMNS:
            return str(c)
    for c in cols:
        if _is_text(frame[c]) and looks_like_urls(frame[c].head(200).tolist()):
            return str(c)
    return None


def _is_text(values: pd.Series) -> bool:
    return values.dtype == object or pd.api.types.is_string_dtype(values.dtype)


def brand_column(frame: pd.DataFrame, skip: Sequence[str] = ()) -> str | None:
    """The column naming each row's brand (named like :data:`BRAND_COLUMNS`), if any."""
    for c in frame.columns:
        if str(c) not in skip and str(c).lower().replace(" ", "_") in BRAND_COLUMNS:
            return str(c)
    return None


def roles_of_frame(
    frame: pd.DataFrame, text_columns: Sequence[str], skip: Sequence[str] = ()
) -> tuple[TokenRoles, list[object] | None]:
    """:func:`token_roles` of a catalogue frame (its first :data:`ROLE_MAX_ROWS` rows): words from the text columns
    and every other string column but ``skip`` (labels) and the shop and brand columns; shops and brands from the
    columns :func:`shop_column` and :func:`brand_column` find. Also returns each row's shop value (None: no column)."""
    shop = shop_column(frame, skip)
    brand = brand_column(frame, skip)
    internal = {c for c in frame.columns if str(c).startswith("_")}
    others = [
        str(c)
        for c in frame.columns
        if c not in internal and str(c) not in skip and str(c) not in (shop, brand) and _is_text(frame[c])
    ]
    columns = list(dict.fromkeys([*text_columns, *others]))
    head = frame.head(ROLE_MAX_ROWS)
    rows = head[columns].astype(object).where(head[columns].notna(), "").to_numpy().tolist()
    roles = token_roles(
        rows,
        shops=head[shop].tolist() if shop else None,
        brands=head[brand].tolist() if brand else None,
        shop_column=shop,
        brand_column=brand,
    )
    return roles, (frame[shop].tolist() if shop else None)
