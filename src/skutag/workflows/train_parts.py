"""Train the parts beside a category model: the attribute extractor (``skutag train --model extractor``) and the
free-tag tagger (``--model tags``), calibrate their confidence, evaluate on ``--valid``, and add them to the model
directory (a new version of it, the category model and other parts kept).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skutag.catalogue.rejects import RejectSink
from skutag.errors import ConfigError
from skutag.extraction.examples import AttributeData
from skutag.extraction.inputs import read_attribute_data, read_tag_sets
from skutag.extraction.metrics import ExtractionReport, score_extractions
from skutag.extraction.normalise import value_key
from skutag.extraction.script import cjk_share
from skutag.log import get_logger
from skutag.models.bundle import ATTRIBUTES, TAGS, save_part
from skutag.models.parts.attributes import TAGGERS, AttributePart, tagger_class
from skutag.models.parts.tagsets import TagSetPart, tag_text
from skutag.models.paths import holdout_split

log = get_logger(__name__)

#: CJK share of the letters above which ``--model extractor`` picks the character CRF
CHARACTER_SCRIPT_SHARE = 0.3


@dataclass
class PartResult:
    """What training a part did: rows, time, the directory, its card, validation figures, warnings."""

    part: str
    tagger: str
    model_dir: Path | None
    rows_used: int
    rows_rejected: int
    train_seconds: float
    card: dict[str, Any]
    validation: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)


def choose_tagger(texts: Sequence[str], requested: str | None) -> str:
    """``extractor`` (fine-tuned transformer), or ``crf-extractor`` for text mostly in CJK scripts."""
    if requested is not None:
        aliases = {"crf": "crf-extractor", "transformer": "extractor"}
        kind = aliases.get(requested, requested)
        if kind not in TAGGERS:
            raise ConfigError(f"unknown span tagger {requested!r}; choose from {sorted(TAGGERS)} (or crf)")
        return kind
    share = cjk_share(texts[:2000])
    if share >= CHARACTER_SCRIPT_SHARE:
        log.info("%.0f%% of the letters are CJK: using the character CRF tagger", 100 * share)
        return "crf-extractor"
    return "extractor"


def extract_values(part: AttributePart, data: AttributeData) -> list[dict[str, str]]:
    """The best value per attribute for each example (the raw span text), as the scorers take them."""
    texts = data.texts()
    found = part.best_spans(texts, data.groups())
    return [{a: t[s:e] for a, (s, e, _) in f.items()} for t, f in zip(texts, found, strict=True)]


def score_part(part: AttributePart, data: AttributeData) -> dict[str, Any]:
    """Micro and per-attribute precision/recall/F1, exact (WDC-PAVE's comparison) and normalised."""
    predicted = extract_values(part, data)
    gold = data.gold()
    exact = score_extractions(gold, predicted)
    normalised = score_extractions(gold, predicted, key=value_key)
    out = {"rows": len(gold), "exact": _report(exact), "normalised": _report(normalised)}
    if data.format == "conll":
        out["entities"] = entity_scores(part.raw_spans(data.texts(), None), data.spans())
    return out


def entity_scores(
    predicted: Sequence[Sequence[tuple[str, int, int, float]]], gold: Sequence[Sequence[tuple[str, int, int]]]
) -> dict[str, Any]:
    """Entity-level micro precision/recall/F1 (exact span and type, every entity of a row), and per type: the NER
    scoring of CoNLL-style data such as Taobao."""
    g = {(i, a, s, e) for i, spans in enumerate(gold) for a, s, e in spans}
    p = {(i, a, s, e) for i, spans in enumerate(predicted) for a, s, e, _ in spans}

    def prf(gs: set[Any], ps: set[Any]) -> dict[str, float]:
        tp = len(gs & ps)
        pr = tp / len(ps) if ps else 0.0
        rc = tp / len(gs) if gs else 0.0
        return {
            "precision": round(pr, 4),
            "recall": round(rc, 4),
            "f1": round(2 * pr * rc / (pr + rc), 4) if tp else 0.0,
        }

    types = sorted({x[1] for x in g | p})
    per_type = [
        {
            "type": t,
            **prf({x for x in g if x[1] == t}, {x for x in p if x[1] == t}),
            "support": sum(x[1] == t for x in g),
        }
        for t in types
    ]
    return {**prf(g, p), "gold": len(g), "predicted": len(p), "per_type": per_type}


def _report(r: ExtractionReport) -> dict[str, Any]:
    return {
        "precision": round(r.precision, 4),
        "recall": round(r.recall, 4),
        "f1": round(r.f1, 4),
        **r.counts,
        "per_attribute": [
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
            for row in r.per_attribute.to_dict(orient="records")
        ],
    }


def train_attributes(
    data: str | Path | Sequence[str | Path],
    *,
    out: str | Path | None,
    attributes: Sequence[str] = (),
    text: Sequence[str] = (),
    group: str | None = None,
    params: dict[str, Any] | None = None,
    valid: str | Path | Sequence[str | Path] | None = None,
    rejects: str | Path | RejectSink | None = None,
    progress: Callable[[str], None] | None = None,
) -> PartResult:
    """Fit a span tagger on attribute-labelled ``data`` (any layout :func:`read_attribute_data` reads), calibrate
    it, score it on ``valid``, and save it as the ``attributes`` part of ``out``."""
    params = dict(params or {})
    requested = params.pop("tagger", None)
    sink = rejects if isinstance(rejects, RejectSink) else RejectSink(rejects)
    say = progress or (lambda _m: None)
    try:
        say("reading attribute data")
        train = read_attribute_data(data, attributes=attributes, text=text, group=group, rejects=sink)
        vd = None
        if valid is not None:
            vd = read_attribute_data(
                valid, attributes=attributes, text=train.text_columns, group=train.group_column, rejects=sink
            )
    finally:
        if not isinstance(rejects, RejectSink):
            sink.close()
    warnings = _matching_warnings(train)
    texts, spans, groups = train.texts(), train.spans(), train.groups()
    kind = choose_tagger(texts, requested)
    cls = tagger_class(kind)
    if progress is not None and "progress" in inspect.signature(cls).parameters:
        params.setdefault("progress", progress)
    tagger = cls(**params)
    say(f"training {kind} on {len(texts):,} rows ({len(train.attributes)} attributes)")
    t0 = time.perf_counter()
    holdout: list[int] = []
    if vd is None and kind == "crf-extractor":
        # a cheap tagger: hold 10% out to calibrate on, then refit on everything
        fit_idx, holdout = (list(x) for x in holdout_split(len(texts), 0.1, 0))
        tagger.fit([texts[i] for i in fit_idx], [spans[i] for i in fit_idx], _pick(groups, fit_idx), train.schema())
    else:
        tagger.fit(texts, spans, groups=groups, schema=train.schema())
    part = AttributePart(tagger, train.text_columns, train.group_column)
    say("calibrating the confidence")
    if vd is not None:
        cal = part.calibrate(vd.texts(), vd.gold(), vd.groups(), f"validation file ({len(vd.examples):,} rows)")
    else:
        if kind != "crf-extractor":
            args = getattr(tagger, "args", None)
            fraction = float(getattr(args, "valid_fraction", 0.0) or 0.0)
            holdout = list(holdout_split(len(texts), fraction, int(getattr(args, "seed", 0)))[1]) if fraction else []
        cal = (
            part.calibrate(
                [texts[i] for i in holdout],
                [train.gold()[i] for i in holdout],
                _pick(groups, holdout),
                f"held-out training rows ({len(holdout):,})",
            )
            if holdout
            else {"source": None, "values": 0, "fitted": False}
        )
        if kind == "crf-extractor" and holdout:
            tagger.fit(texts, spans, groups=groups, schema=train.schema())
    seconds = time.perf_counter() - t0
    validation = score_part(part, vd) if vd is not None else None
    part.card = {
        "data": [str(p) for p in _paths(data)],
        "format": train.format,
        "attributes": train.attributes,
        "attribute_columns": list(attributes),
        "rows_used": len(texts),
        "rows_rejected": train.rows_rejected,
        "unmatched_share": round(train.unmatched_share(), 4),
        "matching": {a: {"placed": p, "not_in_text": m} for a, (p, m) in train.matching.items()},
        "train_seconds": round(seconds, 2),
        "calibration": cal,
        "params": {k: v for k, v in tagger.get_params().items() if _jsonable(v)},
        **({"validation": validation} if validation else {}),
    }
    model_dir = None
    if out is not None:
        say("saving")
        model_dir = save_part(out, ATTRIBUTES, part)
    return PartResult(
        ATTRIBUTES, kind, model_dir, len(texts), train.rows_rejected, seconds, part.card, validation, warnings
    )


def train_tag_sets(
    data: str | Path | Sequence[str | Path],
    *,
    out: str | Path | None,
    column: str,
    text: Sequence[str] = (),
    params: dict[str, Any] | None = None,
    rejects: str | Path | RejectSink | None = None,
    progress: Callable[[str], None] | None = None,
) -> PartResult:
    """Fit the multi-label tagger on the tag lists in ``column`` and save it as the ``tags`` part of ``out``."""
    from skutag.models.neural.tags import TransformerTagger

    say = progress or (lambda _m: None)
    sink = rejects if isinstance(rejects, RejectSink) else RejectSink(rejects)
    try:
        say("reading tagged rows")
        fields, tag_lists, text_cols, n_rejected = read_tag_sets(data, column, text=text, rejects=sink)
    finally:
        if not isinstance(rejects, RejectSink):
            sink.close()
    texts = [tag_text(list(f.values())) for f in fields]
    tagger = TransformerTagger(**(params or {}))
    say(f"training the tag tagger on {len(texts):,} rows")
    t0 = time.perf_counter()
    tagger.fit(texts, tag_lists)
    seconds = time.perf_counter() - t0
    part = TagSetPart(tagger, text_cols, column)
    args = tagger.args
    _, hold = holdout_split(len(texts), args.valid_fraction, args.seed)
    cal: dict[str, Any] = {"source": None, "values": 0}
    if len(hold):
        probs = tagger.predict_proba([texts[i] for i in hold]).to_numpy()
        index = {t: j for j, t in enumerate(tagger.tags_)}
        truth = np.zeros_like(probs)
        for r, i in enumerate(hold):
            for t in tag_lists[i]:
                if t in index:
                    truth[r, index[t]] = 1
        cal = part.calibrate(probs, truth, f"held-out training rows ({len(hold):,})")
    part.card = {
        "data": [str(p) for p in _paths(data)],
        "column": column,
        "tags": list(tagger.tags_),
        "rows_used": len(texts),
        "rows_rejected": n_rejected,
        "train_seconds": round(seconds, 2),
        "calibration": cal,
        "thresholds": dict(zip(tagger.tags_, np.round(tagger.thresholds_, 3).tolist(), strict=True)),
    }
    model_dir = save_part(out, TAGS, part) if out is not None else None
    return PartResult(TAGS, "tagger", model_dir, len(texts), n_rejected, seconds, part.card)


def _matching_warnings(data: AttributeData) -> list[str]:
    share = data.unmatched_share()
    if data.format not in ("columns", "reviews") or share == 0:
        return []
    worst = sorted(((m / (p + m), a) for a, (p, m) in data.matching.items() if p + m >= 5 and m), reverse=True)[:5]
    detail = ", ".join(f"{a} {s:.0%}" for s, a in worst)
    message = f"{share:.1%} of the attribute values occur nowhere in the text and cannot be learnt as spans" + (
        f" (most: {detail})" if detail else ""
    )
    log.warning("%s", message)
    return [message]


def _pick(values: list[str] | None, idx: Sequence[int]) -> list[str] | None:
    return None if values is None else [values[i] for i in idx]


def _paths(data: str | Path | Sequence[str | Path]) -> list[str | Path]:
    return [data] if isinstance(data, str | Path) else list(data)


def _jsonable(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool | list | dict)
