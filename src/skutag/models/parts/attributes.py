"""The attribute part: a span tagger (the fine-tuned BIO extractor, or the character CRF for Chinese and other
scripts the English vocabulary cannot read) with the text fields it reads, the column naming each row's group (the
category that decides which attributes are asked), a calibrated confidence and per-attribute precision tables.

``predict`` returns, per row, ``{attribute: entry}`` in the shape of :mod:`skutag.extraction.entries`, the span
given as offsets inside the product field it was found in.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from skutag.catalogue.fields import TextFields
from skutag.errors import ModelLoadError
from skutag.extraction.bio import Span, best_per_attribute
from skutag.extraction.entries import TagEntry, span_entry
from skutag.extraction.examples import join_fields, locate
from skutag.extraction.normalise import value_key
from skutag.models.parts.confidence import MIN_SUPPORT, ConfidenceMap, precision_table, threshold_for
from skutag.models.parts.files import read_part, write_part

KIND = "attributes"
#: span tagger kinds -> "module:Class", imported on use (the CRF needs no torch, the extractor does)
TAGGERS: dict[str, str] = {
    "extractor": "skutag.models.neural.extractor:AttributeExtractor",
    "crf-extractor": "skutag.models.crf.tagger:CharCRFTagger",
}
ALL = "*"


class SpanTagger(Protocol):
    kind: str
    schema_: dict[str, list[str]]
    labels_: list[str]

    def fit(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[Span]],
        groups: Sequence[str] | None = None,
        schema: dict[str, list[str]] | None = None,
    ) -> Any: ...

    def predict_spans(self, texts: Sequence[str]) -> list[list[tuple[str, int, int, float]]]: ...

    def save(self, directory: str | Path) -> Path: ...

    def get_params(self) -> dict[str, Any]: ...


def tagger_class(kind: str) -> Any:
    module, _, name = TAGGERS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


class AttributePart:
    """A fitted span tagger with the fields it reads and how far its confidence can be trusted."""

    def __init__(
        self,
        tagger: SpanTagger,
        text_columns: Sequence[str],
        group_column: str | None = None,
        confidence: ConfidenceMap | None = None,
        tables: dict[str, list[list[float]]] | None = None,
        card: dict[str, Any] | None = None,
        confidence_by_attribute: dict[str, ConfidenceMap] | None = None,
    ) -> None:
        self.tagger = tagger
        self.text_columns = list(text_columns)
        self.group_column = group_column
        self.confidence = confidence or ConfidenceMap()
        #: attributes with enough held-out values have a map of their own (a brand tagged at 0.5 is not a width)
        self.confidence_by_attribute = confidence_by_attribute or {}
        self.tables = tables or {}
        self.card = card or {}
        self.fields = TextFields(self.text_columns)

    @property
    def attributes(self) -> list[str]:
        return sorted({n[2:] for n in self.tagger.labels_ if n[:2] in ("B-", "I-")})

    @property
    def calibrated(self) -> bool:
        return self.confidence.fitted and bool(self.tables)

    # ---- prediction -------------------------------------------------------------------------------------------
    def groups_of(self, rows: pd.DataFrame | Sequence[dict[str, Any]]) -> list[str | None] | None:
        """Each row's group from the part's group column (any spelling of its name); None when absent."""
        if self.group_column is None:
            return None
        frame = TextFields([self.group_column]).frame(rows if isinstance(rows, pd.DataFrame) else list(rows))
        values = frame[self.group_column].tolist()
        return [v or None for v in values] if any(values) else None

    def raw_spans(
        self, texts: Sequence[str], groups: Sequence[str | None] | None
    ) -> list[list[tuple[str, int, int, float]]]:
        params = inspect.signature(self.tagger.predict_spans).parameters
        if groups is not None and "groups" in params:
            return self.tagger.predict_spans(texts, groups=[g or "" for g in groups])  # type: ignore[call-arg]
        return self.tagger.predict_spans(texts)

    def best_spans(
        self, texts: Sequence[str], groups: Sequence[str | None] | None
    ) -> list[dict[str, tuple[int, int, float]]]:
        """Per text, the best-scoring span of each attribute the row's group asks for (all without a group)."""
        out = []
        schema = self.tagger.schema_ or {}
        for i, spans in enumerate(self.raw_spans(texts, groups)):
            group = groups[i] if groups is not None else None
            allowed = set(schema.get(str(group), [])) if group is not None and str(group) in schema else None
            out.append(best_per_attribute(spans, allowed))
        return out

    def predict(
        self,
        rows: pd.DataFrame | Sequence[dict[str, Any]],
        target_precision: float | None = None,
        groups: Sequence[str | None] | None = None,
    ) -> list[dict[str, TagEntry]]:
        """``{attribute: entry}`` per row; with ``target_precision``, each entry's decision (auto/review).
        ``groups``: each row's group where the rows lack the group column (e.g. the predicted category)."""
        frame = self.fields.frame(rows if isinstance(rows, pd.DataFrame) else list(rows))
        values = frame[self.text_columns].astype(str).values.tolist()
        if not values:
            return []
        groups = self.groups_of(rows) or (list(groups) if groups is not None else None)
        best = self.best_spans([join_fields(v) for v in values], groups)
        names = [self.fields.field(c) for c in self.text_columns]
        thresholds = self.thresholds(target_precision) if target_precision is not None else {}
        out: list[dict[str, TagEntry]] = []
        for row, found in zip(values, best, strict=True):
            tags: dict[str, TagEntry] = {}
            confidences = [self.confidence_of(attr, score) for attr, (_, _, score) in found.items()]
            for (attr, (s, e, _)), conf in zip(found.items(), confidences, strict=True):
                where = locate(names, row, s, e)
                if where is None:
                    continue
                name, fs, fe = where
                entry = span_entry(row[names.index(name)], name, fs, fe, float(conf))
                if not entry["value"]:
                    continue  # a span of punctuation only: no value
                if target_precision is not None:
                    t = thresholds.get(attr, thresholds.get(ALL))
                    entry["decision"] = "auto" if t is not None and conf >= t else "review"
                tags[attr] = entry
            out.append(tags)
        return out

    def confidence_of(self, attribute: str, score: float) -> float:
        """The calibrated confidence of a raw span score: the attribute's own map, else the map of all."""
        return float(self.confidence_by_attribute.get(attribute, self.confidence)([score])[0])

    def thresholds(self, target_precision: float) -> dict[str, float | None]:
        """Per attribute (and ``*`` for all), the lowest calibrated confidence that reaches the target precision."""
        return {a: threshold_for(t, target_precision) for a, t in self.tables.items()}

    # ---- calibration ------------------------------------------------------------------------------------------
    def calibrate(
        self,
        texts: Sequence[str],
        gold: Sequence[dict[str, list[str]]],
        groups: Sequence[str | None] | None,
        source: str,
    ) -> dict[str, Any]:
        """Fit the confidence map and the precision tables on labelled rows the tagger did not learn from."""
        scores: list[float] = []
        correct: list[bool] = []
        attrs: list[str] = []
        for text, found, truth in zip(texts, self.best_spans(texts, groups), gold, strict=True):
            for attr, (s, e, score) in found.items():
                if attr not in truth:
                    continue  # not asked for this row: cannot tell right from wrong
                scores.append(score)
                attrs.append(attr)
                correct.append(value_key(text[s:e]) in {value_key(v) for v in truth[attr]})
        self.confidence = ConfidenceMap.fit(scores, correct)
        ok, raw = np.asarray(correct, dtype=bool), np.asarray(scores, dtype=float)
        self.confidence_by_attribute = {}
        for attr in sorted(set(attrs)):
            sel = np.array([a == attr for a in attrs])
            if sel.sum() >= MIN_SUPPORT:
                own = ConfidenceMap.fit(raw[sel], ok[sel])
                if own.fitted:
                    self.confidence_by_attribute[attr] = own
        conf = np.array([self.confidence_of(a, x) for a, x in zip(attrs, scores, strict=True)])
        tables = {ALL: precision_table(conf, ok)}
        for attr in sorted(set(attrs)):
            sel = np.array([a == attr for a in attrs])
            tables[attr] = precision_table(conf[sel], ok[sel])
        self.tables = tables
        return {"source": source, "values": len(scores), "fitted": self.confidence.fitted}

    # ---- persistence ------------------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        config = {
            "tagger": self.tagger.kind,
            "text_columns": self.text_columns,
            "group_column": self.group_column,
            "confidence": self.confidence.to_dict(),
            "confidence_by_attribute": {a: m.to_dict() for a, m in self.confidence_by_attribute.items()},
            "tables": self.tables,
            "card": self.card,
        }
        return write_part(directory, KIND, config, self.tagger)

    @classmethod
    def load(cls, directory: str | Path) -> AttributePart:
        def load_tagger(config: dict[str, Any], folder: Path) -> Any:
            kind = str(config["tagger"])
            if kind not in TAGGERS:
                raise ModelLoadError(f"{folder.parent}: unknown span tagger {kind!r}")
            return tagger_class(kind).load(folder)

        config, tagger = read_part(directory, KIND, load_tagger, "attribute part")
        return cls(
            tagger,
            config["text_columns"],
            config.get("group_column"),
            ConfidenceMap.from_dict(config.get("confidence")),
            config.get("tables") or {},
            config.get("card") or {},
            {a: ConfidenceMap.from_dict(m) for a, m in (config.get("confidence_by_attribute") or {}).items()},
        )
