"""Score a model directory's attribute and free-tag parts on labelled files (``skutag evaluate``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from skutag.catalogue.rejects import RejectSink
from skutag.errors import ConfigError, MissingColumnError
from skutag.extraction.inputs import read_attribute_data, read_tag_sets
from skutag.log import get_logger
from skutag.models.bundle import ModelBundle
from skutag.models.parts.tagsets import tag_text
from skutag.workflows.train_parts import score_part

log = get_logger(__name__)


def evaluate_parts(
    bundle: ModelBundle,
    data: str | Path | Sequence[str | Path],
    *,
    rejects: RejectSink | None = None,
    required: bool = True,
) -> dict[str, Any] | None:
    """Attribute precision/recall/F1 (exact and normalised, micro and per attribute) and per-tag F1 at the tuned
    thresholds, for the parts whose labels ``data`` has. ``required``: no labels for any part is an error."""
    out: dict[str, Any] = {}
    problems = []
    part = bundle.attributes
    if part is not None:
        try:
            gold = read_attribute_data(
                data,
                attributes=part.card.get("attribute_columns") or (),
                text=part.text_columns if part.card.get("format") != "conll" else (),
                group=part.group_column,
                rejects=rejects,
            )
        except (ConfigError, MissingColumnError) as exc:
            problems.append(f"attributes: {exc}")
        else:
            out.update(score_part(part, gold))
            out["rows_rejected"] = gold.rows_rejected
    if bundle.tags is not None:
        try:
            out["tags"] = _score_tags(bundle, data)
        except (ConfigError, MissingColumnError) as exc:
            problems.append(f"tags: {exc}")
    if not out:
        if required:
            raise ConfigError("nothing to evaluate: " + "; ".join(problems))
        for p in problems:
            log.info("not scored: %s", p)
        return None
    return out


def _score_tags(bundle: ModelBundle, data: str | Path | Sequence[str | Path]) -> list[dict[str, Any]]:
    part = bundle.tags
    assert part is not None
    fields, tag_lists, _, _ = read_tag_sets(data, part.column, text=part.text_columns)
    texts = [tag_text(list(f.values())) for f in fields]
    probs = part.tagger.predict_proba(texts).to_numpy()
    pred = probs >= np.asarray(part.tagger.thresholds_)[None, :]
    rows = []
    for j, tag in enumerate(part.tags):
        truth = np.array([tag in t for t in tag_lists], dtype=bool)
        tp, fp, fn = int((pred[:, j] & truth).sum()), int((pred[:, j] & ~truth).sum()), int((~pred[:, j] & truth).sum())
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        rows.append(
            {
                "tag": tag,
                "precision": round(p, 4),
                "recall": round(r, 4),
                "f1": round(f, 4),
                "support": int(truth.sum()),
                "threshold": float(part.tagger.thresholds_[j]),
            }
        )
    return rows
