"""Feature strings per character for the CRF: the character and its neighbours, character bigrams, character
classes and, for CJK text, where the character sits in its jieba word.

Every feature is a plain string (binary, weight 1). Characters are lower-cased and whitespace or control
characters are written as ``<sp>`` / ``<ctl>`` so that no feature string holds a blank or a line break
(crfsuite's model dump, from which the weights are exported, is line- and blank-delimited).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from skutag.extraction.script import is_cjk

BOS, EOS = "<s>", "</s>"


def symbol(ch: str) -> str:
    """A character as it appears inside feature strings (lower-cased; blanks and control characters named)."""
    if ch.isspace():
        return "<sp>"
    if not ch.isprintable():
        return "<ctl>"
    return ch.lower()


def char_class(ch: str) -> str:
    """``D`` digit, ``C`` CJK, ``L`` other letter (Latin, Cyrillic, ...), ``S`` blank, ``P`` anything else."""
    if ch.isdigit():
        return "D"
    if ch.isalpha():
        return "C" if is_cjk(ch) else "L"
    if ch.isspace():
        return "S"
    return "P"


@lru_cache(maxsize=1)
def _jieba() -> Any:
    """jieba's default tokenizer, quiet: it prints its dictionary loading to stderr at DEBUG level."""
    try:
        import jieba
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "word features need jieba, which is not installed: pip install 'skutag[zh]'", name="jieba"
        ) from exc
    jieba.setLogLevel(logging.WARNING)
    return jieba


def segment(text: str) -> list[str]:
    """jieba words of ``text`` (their concatenation is ``text``); the dictionary ships in the wheel, so
    this works offline. HMM is off: it guesses unknown words and costs time for little gain in tagging."""
    return [w for w in _jieba().cut(text, HMM=False) if w]


def word_positions(words: Sequence[str]) -> list[tuple[str, str]]:
    """Per character: (``B``/``M``/``E``/``S`` position in its word, the word)."""
    out: list[tuple[str, str]] = []
    for w in words:
        if len(w) == 1:
            out.append(("S", w))
            continue
        out.append(("B", w))
        out.extend(("M", w) for _ in range(len(w) - 2))
        out.append(("E", w))
    return out


def count_words(texts: Iterable[str]) -> Counter[str]:
    """How often each jieba word occurs in ``texts`` (to keep only frequent words as features)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(segment(text))
    return counts


def featurise(
    text: str, *, window: int = 2, bigrams: bool = True, words: bool = True, vocabulary: set[str] | None = None
) -> list[list[str]]:
    """Feature strings for each character of ``text``.

    ``window``: neighbours on each side; ``bigrams``: the character pairs inside the window; ``words``: jieba
    position (B/M/E/S), word length and the word itself when it is in ``vocabulary`` (all words when None:
    at prediction a word without a learned weight is simply ignored).
    """
    n = len(text)
    syms = [BOS] * window + [symbol(c) for c in text] + [EOS] * window
    classes = [BOS] * window + [char_class(c) for c in text] + [EOS] * window
    positions = word_positions(segment(text)) if words and n else []
    if len(positions) != n:  # jieba's words did not cover the text exactly: no word features, never misaligned
        positions = []
    out: list[list[str]] = []
    for i in range(n):
        j = i + window  # index into the padded lists
        f = ["bias", f"c0={syms[j]}", f"t0={classes[j]}"]
        for k in range(1, window + 1):
            f.append(f"c-{k}={syms[j - k]}")
            f.append(f"c+{k}={syms[j + k]}")
        if bigrams:
            for k in range(-window, window):
                f.append(f"b{k}={syms[j + k]}{syms[j + k + 1]}")
        f.append(f"t-1={classes[j - 1]}")
        f.append(f"t+1={classes[j + 1]}")
        f.append(f"t3={classes[j - 1]}{classes[j]}{classes[j + 1]}")
        if positions:
            pos, word = positions[i]
            f.append(f"wp={pos}")
            f.append(f"wl={min(len(word), 4)}{pos}")
            f.append(f"wp-1={positions[i - 1][0] if i else BOS}")
            f.append(f"wp+1={positions[i + 1][0] if i + 1 < n else EOS}")
            if vocabulary is None or word in vocabulary:
                sym = "".join(symbol(c) for c in word)
                f.append(f"w={sym}")
                f.append(f"w{pos}={sym}")
        out.append(f)
    return out
