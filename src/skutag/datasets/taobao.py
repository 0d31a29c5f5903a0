"""Taobao e-commerce NER (Chinese titles, one character and its BIO tag per line, CoNLL style)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import ROW_COL, SOURCE_COL, ColumnSpec
from skutag.datasets.paths import shared_file
from skutag.errors import ConfigError, InputError

TAOBAO_SPLITS = ("train", "dev", "test")
TAOBAO_SPEC = ColumnSpec(text=("title",), label=("entity_types",), label_tags=True)
Sentence = tuple[list[str], list[str]]


def taobao_path(split: str = "train") -> Path:
    """Path of a Taobao NER split (``train``, ``dev`` or ``test``)."""
    split = "dev" if split in ("validation", "val") else split
    if split not in TAOBAO_SPLITS:
        raise ConfigError(f"unknown Taobao split {split!r}; expected one of {TAOBAO_SPLITS}")
    return shared_file("taobao-ner-zh", f"{split}.txt")


def read_conll(path: str | Path, *, rejects: RejectSink | None = None) -> list[Sentence]:
    """Sentences of a character-per-line CoNLL file: ``(chars, tags)``; blank lines separate sentences.

    A line that is not ``<char> <tag>`` is rejected (or raises :class:`InputError` without a sink). A
    space character is written as a line starting with a blank, which is kept as ``" "``.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", source=str(p))
    sentences: list[Sentence] = []
    chars: list[str] = []
    tags: list[str] = []
    with p.open(encoding="utf-8-sig", errors="strict", newline="") as fh:
        for lineno, line in enumerate(fh, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                if chars:
                    sentences.append((chars, tags))
                    chars, tags = [], []
                continue
            parts = text.rsplit(None, 1) if not text[0].isspace() else [" ", text.strip()]
            if len(parts) != 2 or not parts[1]:
                reason = f"expected '<character> <tag>', found {text!r}"
                if rejects is None:
                    raise InputError(reason, source=str(p), row=lineno)
                rejects.add(reason, source=str(p), row=lineno, record=text)
                continue
            chars.append(parts[0])
            tags.append(parts[1])
    if chars:
        sentences.append((chars, tags))
    return sentences


def bio_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """Entity spans ``(type, start, end)`` (end exclusive) from BIO tags; a stray ``I-`` opens a span."""
    spans: list[tuple[str, int, int]] = []
    cur: tuple[str, int] | None = None
    for i, tag in enumerate([*tags, "O"]):
        kind = tag[2:] if tag[:2] in ("B-", "I-") else None
        continues = cur is not None and tag.startswith("I-") and kind == cur[0]
        if cur is not None and not continues:
            spans.append((cur[0], cur[1], i))
            cur = None
        if kind is not None and not continues:
            cur = (kind, i)
    return spans


def sentences_frame(sentences: list[Sentence], source: str = "") -> pd.DataFrame:
    """One row per sentence: ``title``, ``entities`` (list of {type, text, start, end}) and ``entity_types``."""
    titles, ents, types = [], [], []
    for chars, tags in sentences:
        spans = bio_spans(tags)
        titles.append("".join(chars))
        ents.append([{"type": t, "text": "".join(chars[s:e]), "start": s, "end": e} for t, s, e in spans])
        types.append(sorted({t for t, _, _ in spans}))
    df = pd.DataFrame({"title": pd.Series(titles, dtype="str"), "entities": ents, "entity_types": types})
    df[ROW_COL] = pd.Series(range(1, len(df) + 1), dtype="int64")
    df[SOURCE_COL] = pd.Series([source] * len(df), dtype="str")
    return df


def load_taobao(
    split: str = "train", *, path: str | Path | None = None, rejects: RejectSink | None = None
) -> tuple[list[Sentence], pd.DataFrame]:
    """The split's ``(chars, tags)`` sentences and a DataFrame of titles (see :func:`sentences_frame`).

    ``_row`` in the frame is the sentence number. Many dev/test sentences also occur in train.
    """
    p = Path(path) if path is not None else taobao_path(split)
    sentences = read_conll(p, rejects=rejects)
    return sentences, sentences_frame(sentences, str(p))
