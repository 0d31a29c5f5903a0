"""The confidence threshold above which a predicted path is accepted without a human, for a target precision.

Taken from the model card when it already holds one for the target; otherwise computed on the model's
validation data (listed in its card) from the probability of the best path and whether it was right.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skutag.errors import SkutagError
from skutag.log import get_logger
from skutag.models.base import CategoryModel
from skutag.taxonomy import clean_path

log = get_logger(__name__)

#: A threshold no probability reaches: nothing is auto-accepted.
NEVER = math.nextafter(1.0, 2.0)


@dataclass
class Calibration:
    """``threshold`` for ``target`` precision; ``source``: card, validation, fixed or fallback."""

    target: float
    threshold: float
    source: str
    coverage: float | None = None
    precision: float | None = None
    rows: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def threshold_from_card(meta: dict[str, Any], target: float) -> Calibration | None:
    """A threshold for ``target`` already in the model card (validation ``path.thresholds``), if any."""
    validation = meta.get("validation") or {}
    candidates = [
        (validation.get("metrics") or {}).get("path", {}),
        validation.get("path", {}),
        meta.get("path", {}),
    ]
    for path in candidates:
        for item in path.get("thresholds", []) if isinstance(path, dict) else []:
            if isinstance(item, dict) and abs(float(item.get("target", -1)) - target) < 1e-9:
                t = item.get("threshold")
                return Calibration(
                    target=target,
                    threshold=NEVER if t is None else float(t),
                    source="card",
                    coverage=item.get("coverage"),
                    precision=item.get("precision"),
                )
    return None


def threshold_from_scores(confidence: np.ndarray, correct: np.ndarray, target: float) -> Calibration:
    """The lowest threshold whose accepted rows reach ``target`` precision (NEVER when none does)."""
    from skutag.evaluation.metrics import precision_coverage, threshold_for_precision  # heavy package import

    best = threshold_for_precision(precision_coverage(confidence, correct), target)
    t = best["threshold"]
    return Calibration(
        target=target,
        threshold=NEVER if t is None else float(t),
        source="validation",
        coverage=best["coverage"],
        precision=best["precision"],
        rows=len(confidence),
    )


def calibrate(model: CategoryModel, target: float, base_dir: Path | None = None) -> Calibration | None:
    """Threshold for ``target`` from the card, else from the validation files the card lists; None if neither."""
    meta = getattr(model, "card_", {}) or {}
    found = threshold_from_card(meta, target)
    if found is not None:
        return found
    files = [Path(p) for p in (meta.get("validation") or {}).get("data", [])]
    if base_dir is not None:
        files = [p if p.is_absolute() or p.exists() else base_dir / p for p in files]
    if not files or not all(p.is_file() for p in files):
        log.warning("model card lists no readable validation data (%s); cannot calibrate", [str(p) for p in files])
        return None
    from skutag.catalogue.labelled import load_labelled

    try:
        data = load_labelled(
            files,
            text=meta.get("text_columns") or model.text_columns_,
            label=meta.get("label_columns") or (),
            label_sep=meta.get("label_sep"),
        )
    except SkutagError as exc:
        log.warning("cannot read validation data for calibration: %s", exc)
        return None
    top = model.predict_topk(data.texts, k=1)
    truth = [clean_path(r) for r in data.labels.itertuples(index=False, name=None)]
    correct = np.array([p[0] == t for p, t in zip(top.paths, truth, strict=True)], dtype=bool)
    result = threshold_from_scores(np.asarray(top.scores)[:, 0], correct, target)
    log.info(
        "calibrated on %d validation rows: threshold %.4f keeps %.1f%% at precision %s",
        len(correct),
        result.threshold,
        100 * (result.coverage or 0.0),
        result.precision,
    )
    return result
