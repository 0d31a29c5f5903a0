"""The free-tag part: a multi-label tagger (``vegan``, ``gift idea`` ...) with the text fields it reads and a
precision table per tag for auto-accept decisions. ``predict`` returns ``{tag: entry}`` per row (entries of kind
``tag``: no span; the tag itself is the value)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.fields import TextFields
from skutag.extraction.entries import TagEntry
from skutag.models.parts.confidence import precision_table, threshold_for
from skutag.models.parts.files import read_part, write_part

KIND = "tag-set"
ALL = "*"


def tag_text(values: Sequence[str]) -> str:
    """One row's text for the tagger: its non-empty fields joined by a space (the same at training, evaluation and
    prediction)."""
    return " ".join(v for v in values if v)


class TagSetPart:
    """A fitted :class:`~skutag.models.neural.tags.TransformerTagger` with its fields and precision tables."""

    def __init__(
        self,
        tagger: Any,
        text_columns: Sequence[str],
        column: str,
        tables: dict[str, list[list[float]]] | None = None,
        card: dict[str, Any] | None = None,
    ) -> None:
        self.tagger = tagger
        self.text_columns = list(text_columns)
        self.column = column
        self.tables = tables or {}
        self.card = card or {}
        self.fields = TextFields(self.text_columns)

    @property
    def tags(self) -> list[str]:
        return list(self.tagger.tags_)

    def proba(self, rows: pd.DataFrame | Sequence[dict[str, Any]]) -> pd.DataFrame:
        frame = self.fields.frame(rows if isinstance(rows, pd.DataFrame) else list(rows))
        texts = [tag_text(row) for row in frame[self.text_columns].astype(str).values.tolist()]
        return self.tagger.predict_proba(texts)

    def predict(
        self, rows: pd.DataFrame | Sequence[dict[str, Any]], target_precision: float | None = None
    ) -> list[dict[str, TagEntry]]:
        """The tags whose probability reaches their tuned threshold, per row, with confidence and decision."""
        probs = self.proba(rows).to_numpy()
        limits = np.asarray(self.tagger.thresholds_, dtype=float)
        auto = self.thresholds(target_precision) if target_precision is not None else {}
        out: list[dict[str, TagEntry]] = []
        for row in probs:
            tags: dict[str, TagEntry] = {}
            for j in np.flatnonzero(row >= limits):
                tag = self.tags[j]
                entry: TagEntry = {
                    "value": tag,
                    "confidence": round(float(row[j]), 6),
                    "kind": "tag",
                    "source": "model",
                }
                if target_precision is not None:
                    t = auto.get(tag, auto.get(ALL))
                    entry["decision"] = "auto" if t is not None and row[j] >= t else "review"
                tags[tag] = entry
            out.append(tags)
        return out

    def thresholds(self, target_precision: float) -> dict[str, float | None]:
        return {t: threshold_for(table, target_precision) for t, table in self.tables.items()}

    def calibrate(self, probs: np.ndarray, truth: np.ndarray, source: str) -> dict[str, Any]:
        """Precision tables of the tags predicted on held-out rows (``truth``: rows x tags, 0/1)."""
        predicted = probs >= np.asarray(self.tagger.thresholds_)[None, :]
        conf, ok = probs[predicted], truth.astype(bool)[predicted]
        self.tables = {ALL: precision_table(conf, ok)}
        for j, tag in enumerate(self.tags):
            sel = predicted[:, j]
            self.tables[tag] = precision_table(probs[sel, j], truth[sel, j].astype(bool))
        return {"source": source, "values": int(predicted.sum())}

    def save(self, directory: str | Path) -> Path:
        config = {"text_columns": self.text_columns, "column": self.column, "tables": self.tables, "card": self.card}
        return write_part(directory, KIND, config, self.tagger)

    @classmethod
    def load(cls, directory: str | Path) -> TagSetPart:
        def load_tagger(config: dict[str, Any], folder: Path) -> Any:
            from skutag.models.neural.tags import TransformerTagger

            return TransformerTagger.load(folder)

        config, tagger = read_part(directory, KIND, load_tagger, "tag part")
        return cls(
            tagger, config["text_columns"], config["column"], config.get("tables") or {}, config.get("card") or {}
        )
