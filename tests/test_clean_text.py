"""Property and unit tests of the text cleaning functions: whitespace, HTML, unicode."""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from skutag.cleaning.html import html_to_text, looks_like_html, strip_html
from skutag.cleaning.text import normalize_whitespace, normalize_whitespace_str
from skutag.cleaning.unicode import count_replacement_chars, repair_unicode

texts = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=80)
any_texts = st.text(max_size=60)  # lone surrogates included
FAST = settings(max_examples=150, deadline=None)


@FAST
@given(st.lists(st.one_of(st.none(), texts), max_size=8))
def test_whitespace_normalisation_is_idempotent_and_tidy(values: list[str | None]) -> None:
    once = normalize_whitespace(pd.Series(values, dtype=object))
    twice = normalize_whitespace(once)
    assert once.tolist() == twice.tolist() or all(
        (a != a and b != b) or a == b for a, b in zip(once.tolist(), twice.tolist(), strict=True)
    )
    for raw, v in zip(values, once.tolist(), strict=True):
        if raw is None:
            assert v != v  # still missing
            continue
        assert v == v.strip()
        assert "  " not in v
        assert not any(c.isspace() and c != " " for c in v)
        assert v.split() == v.split(" ") or v == ""
        assert "\u200b" not in v and "\x00" not in v


@FAST
@given(st.lists(texts, max_size=6))
def test_keep_newlines_is_idempotent(values: list[str]) -> None:
    once = normalize_whitespace(values, keep_newlines=True)
    assert once.tolist() == normalize_whitespace(once, keep_newlines=True).tolist()
    for v in once.tolist():
        assert "\n\n" not in v and " \n" not in v and "\n " not in v


def test_whitespace_examples() -> None:
    s = pd.Series([" a\u00a0\u2003b\t\r\nc ", "x\u200by", "", None, "\x07bell"])
    assert normalize_whitespace(s).tolist()[:3] == ["a b c", "xy", ""]
    assert normalize_whitespace(s).isna().tolist() == [False, False, False, True, False]
    assert normalize_whitespace_str("a \n\n  b", keep_newlines=True) == "a\nb"


@FAST
@given(any_texts)
def test_cleaning_never_raises_on_arbitrary_unicode(text: str) -> None:
    values = [text, None]
    normalize_whitespace(values)
    strip_html(values)
    _fixed, changed = repair_unicode(values)
    assert changed.dtype == bool and len(changed) == 2
    assert count_replacement_chars(values).shape == (2,)
    html_to_text(text)


_words = st.text(alphabet="abcdefghij XYZ0123456789.,!?", min_size=1, max_size=12)
_tags = st.sampled_from(["p", "b", "i", "div", "span", "li", "ul", "td", "h2", "strong", "em", "a"])


@st.composite
def markup(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 5 if depth < 3 else 1))
        if kind <= 1:
            parts.append(draw(_words))
        elif kind == 2:
            parts.append(draw(st.sampled_from(["<br>", "<br/>", "&amp;", "&nbsp;", "&#233;", "<hr>"])))
        elif kind == 3:
            parts.append("<script>var x = '<b>' + 1;</script><style>p { color: red }</style>")
        else:
            tag = draw(_tags)
            attr = draw(st.sampled_from(["", ' class="x"', " id='y' data-v=\"1 < 2\""]))
            parts.append(f"<{tag}{attr}>{draw(markup(depth + 1))}</{tag}>")
    return "".join(parts)


@settings(max_examples=200, deadline=None)
@given(markup())
def test_no_tag_remnants_after_stripping_generated_markup(html: str) -> None:
    text = html_to_text(html)
    assert "<" not in text and ">" not in text
    assert "&amp;" not in text and "&nbsp;" not in text
    assert "var x" not in text and "color: red" not in text


def test_html_examples() -> None:
    s = pd.Series(
        [
            "<p>Hello <b>W</b>orld &amp; co</p><ul><li>a</li><li>b</li></ul>x<br>y",
            "plain text, 5 < 6 and a<b",
            "Tom &amp; Jerry",
            "&lt;p&gt;escaped&lt;/p&gt;",
            None,
        ]
    )
    out, mask = strip_html(s)
    assert mask.tolist() == [True, False, True, True, False]
    clean = normalize_whitespace(out).tolist()
    assert clean[0] == "Hello World & co a b x y"
    assert clean[1] == "plain text, 5 < 6 and a<b"
    assert clean[2] == "Tom & Jerry"
    assert clean[3] == "escaped"
    assert looks_like_html(["<br/>", "a > b", "&eacute;"]).tolist() == [True, False, True]


def test_unicode_repair_and_fffd() -> None:
    s = pd.Series(["cafÃ©", "donâ€™t", "ﬁne", "e\u0301", "ok", "caf\ufffd \ufffd", None])
    out, changed = repair_unicode(s)
    assert out.tolist()[:5] == ["café", "don’t", "fine", "é", "ok"]
    assert changed.tolist() == [True, True, True, True, False, False, False]
    assert count_replacement_chars(out).tolist() == [0, 0, 0, 0, 0, 2, 0]


@FAST
@given(st.lists(texts, max_size=6))
def test_unicode_output_is_nfc_and_counts_match(values: list[str]) -> None:
    out, changed = repair_unicode(values)
    res = out.tolist()
    for raw, new, ch in zip(values, res, changed.tolist(), strict=True):
        assert unicodedata.is_normalized("NFC", new)
        assert ch == (raw != new)
    assert np.array_equal(count_replacement_chars(res), [v.count("\ufffd") for v in res])
