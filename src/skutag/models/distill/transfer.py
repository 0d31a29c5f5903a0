"""The transfer set of a distillation: the rows a student learns its teacher from.

Each row has two views of one product: what the student reads (its text columns) and what the teacher reads (its
own, which may be more: a teacher on title, shop category and URL teaching a title-only student). Rows are labelled
(a true path), unlabelled (product text alone: more offers, another catalogue's titles) or augmented copies of
either, made from the student's view: **token dropout** (each title word dropped with a probability) and **field
swap** (the title replaced by the start of another field of the same product: a description's first words, a URL's
path words, a shop category). A copy keeps its source's teacher view and group: the teacher scores the product,
not the damaged text, and a copy is never held out apart from its source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: origins of transfer rows
LABELLED, UNLABELLED, AUGMENTED = "labelled", "unlabelled", "augmented"
#: a swapped-in field is cut to this many words (a title's length)
SWAP_WORDS = 12
_URL_SPLIT = re.compile(r"[^\w]+|_+")
_URL_NOISE = {"http", "https", "www", "html", "htm", "php", "aspx", "asp", "jsp", "cgi", "com", "product", "products"}


@dataclass
class TransferRows:
    """Rows for the student: ``student`` and ``teacher`` views (same index), ``labels`` (level_1..n; empty strings
    on unlabelled rows), whether each row carries its true label, its ``origin`` and its ``group`` (the index of the
    source row: an augmented copy shares its source's)."""

    student: pd.DataFrame
    teacher: pd.DataFrame
    labels: pd.DataFrame
    labelled: np.ndarray
    origin: np.ndarray
    group: np.ndarray

    def __len__(self) -> int:
        return len(self.student)

    @classmethod
    def build(
        cls,
        student: pd.DataFrame,
        teacher: pd.DataFrame,
        labels: pd.DataFrame | None,
        extra_student: pd.DataFrame | None = None,
        extra_teacher: pd.DataFrame | None = None,
    ) -> TransferRows:
        """Labelled rows (``student``, ``teacher`` views, ``labels``) then unlabelled ones (``extra_*``)."""
        n_levels = labels.shape[1] if labels is not None else 0
        parts_s, parts_t = [student], [teacher]
        n_lab = len(student) if labels is not None else 0
        if labels is None:
            n_levels = 1
            labels = pd.DataFrame({"level_1": [""] * len(student)})
        if extra_student is not None and len(extra_student):
            extra_view = extra_teacher if extra_teacher is not None else extra_student
            parts_s.append(extra_student.reindex(columns=student.columns, fill_value=""))
            parts_t.append(extra_view.reindex(columns=teacher.columns, fill_value=""))
        s = pd.concat(parts_s, ignore_index=True).fillna("").astype(object)
        t = pd.concat(parts_t, ignore_index=True).fillna("").astype(object)
        lab = pd.DataFrame("", index=range(len(s)), columns=list(labels.columns)[:n_levels], dtype=object)
        if n_lab:
            lab.iloc[:n_lab] = labels.fillna("").astype(object).to_numpy()
        labelled = np.zeros(len(s), dtype=bool)
        labelled[:n_lab] = True
        origin = np.where(labelled, LABELLED, UNLABELLED).astype(object)
        return cls(s, t, lab, labelled, origin, np.arange(len(s), dtype=np.int64))

    def take(self, rows: np.ndarray) -> TransferRows:
        """The rows at positions ``rows`` (renumbered from 0; groups kept)."""
        return TransferRows(
            self.student.iloc[rows].reset_index(drop=True),
            self.teacher.iloc[rows].reset_index(drop=True),
            self.labels.iloc[rows].reset_index(drop=True),
            self.labelled[rows],
            self.origin[rows],
            self.group[rows],
        )

    def counts(self) -> dict[str, int]:
        return {o: int((self.origin == o).sum()) for o in (LABELLED, UNLABELLED, AUGMENTED)}


def url_words(url: str) -> str:
    """A URL's path as words: host, scheme, file extensions, numbers and one-letter pieces left out."""
    rest = re.sub(r"^\w+://", "", url.strip())
    path = rest.split("/", 1)[1] if "/" in rest else ""
    words = [w for w in _URL_SPLIT.split(path) if len(w) > 1 and not w.isdigit() and w.lower() not in _URL_NOISE]
    return " ".join(words)


def _field_words(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        return ""
    text = value.strip()
    if text.startswith(("http://", "https://", "www.")):
        text = url_words(text)
    return " ".join(text.split()[:SWAP_WORDS])


def augment(rows: TransferRows, copies: int, seed: int = 0, dropout: float = 0.3, swap: float = 0.5) -> TransferRows:
    """``rows`` followed by ``copies`` augmented copies of each: with probability ``swap`` (when the product has
    another field with text) a field swap, else token dropout at rate ``dropout`` (at least one word kept). A copy
    identical to its source's title is dropped. Copies keep their source's labels, teacher view and group."""
    if copies <= 0 or len(rows) == 0:
        return rows
    rng = np.random.default_rng(seed)
    title = rows.student.columns[0]
    titles = rows.student[title].map(lambda v: v if isinstance(v, str) else "").tolist()
    # the other fields of each product, as title-length text: the student's other columns and the teacher's
    others = [c for c in rows.student.columns[1:]]
    sources = [rows.student[c] for c in others] + [rows.teacher[c] for c in rows.teacher.columns if c != title]
    fields = [[w for w in (_field_words(s.iat[i]) for s in sources) if w] for i in range(len(rows))]
    keep_idx: list[int] = []
    new_titles: list[str] = []
    for _ in range(copies):
        for i, text in enumerate(titles):
            candidates = [f for f in fields[i] if f != text]
            if candidates and rng.random() < swap:
                new = candidates[int(rng.integers(len(candidates)))]
            else:
                words = text.split()
                kept = [w for w in words if rng.random() >= dropout]
                if not kept and words:
                    kept = [words[int(rng.integers(len(words)))]]
                new = " ".join(kept)
            if new and new != text:
                keep_idx.append(i)
                new_titles.append(new)
    if not keep_idx:
        return rows
    idx = np.asarray(keep_idx, dtype=np.int64)
    copy = rows.take(idx)
    copy.student[title] = new_titles
    copy.origin = np.full(len(idx), AUGMENTED, dtype=object)
    return TransferRows(
        pd.concat([rows.student, copy.student], ignore_index=True),
        pd.concat([rows.teacher, copy.teacher], ignore_index=True),
        pd.concat([rows.labels, copy.labels], ignore_index=True),
        np.concatenate([rows.labelled, copy.labelled]),
        np.concatenate([rows.origin, copy.origin]),
        np.concatenate([rows.group, copy.group]),
    )
