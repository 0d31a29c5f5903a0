"""Which writing system a catalogue is in, so a workflow can pick a character-level tagger for CJK text.

Sub-word vocabularies of English encoders map most Chinese or Japanese characters to ``[UNK]``; a tagger over
characters (:class:`skutag.models.crf.CharCRFTagger`) does not care. Only letters are counted: digits,
punctuation, spaces and model numbers (``iPhone 15``) say nothing about the script a catalogue is written in.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Unicode blocks of Han ideographs, Japanese kana and Korean hangul (start, end inclusive).
CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # CJK and Kangxi radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x309F),  # Hiragana
    (0x30A0, 0x30FF),  # Katakana
    (0x3130, 0x318F),  # Hangul compatibility Jamo
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xA960, 0xA97F),  # Hangul Jamo extended A
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xD7B0, 0xD7FF),  # Hangul Jamo extended B
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width katakana
    (0xFFA0, 0xFFDC),  # half-width hangul
    (0x20000, 0x323AF),  # CJK Extensions B-H and compatibility supplement
)


def is_cjk(ch: str) -> bool:
    """True for a Han ideograph, kana or hangul character."""
    cp = ord(ch)
    if cp < 0x1100:  # fast path: Latin, Greek, Cyrillic, ...
        return False
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def cjk_share(texts: Iterable[str]) -> float:
    """Share of letters (``str.isalpha``) in ``texts`` that are CJK; 0.0 when there are no letters."""
    letters = cjk = 0
    for text in texts:
        for ch in str(text):
            if ch.isalpha():
                letters += 1
                cjk += is_cjk(ch)
    return cjk / letters if letters else 0.0


def needs_characters(texts: Iterable[str], threshold: float = 0.3) -> bool:
    """True when at least ``threshold`` of the letters are CJK: tag characters, not sub-word tokens."""
    return cjk_share(texts) >= threshold
