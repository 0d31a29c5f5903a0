"""The confidence threshold above which a predicted path is accepted without a human, for a target precision.

Taken from the model card's calibration: the precision-coverage table ``skutag train`` stores, made of the
validation rows (``--valid``) or, without them, of training rows the model scored out of fold (cross-validation).
Cards written before that table existed are read as before: validation thresholds in the card, else the validation
files the card lists. A model without any is *not calibrated*: it auto-accepts nothing, and no answer claims a
precision for it.
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
    """``threshold`` for ``target`` precision. ``calibrated``: the threshold was measured to reach ``target`` on
    held-out rows (``source`` validation, cross-validation, held-out or card); otherwise (``source`` fixed, fallback
    or none) it is a number someone chose, or :data:`NEVER`, and nothing may claim ``target`` for it.
    ``description``: where the calibration comes from, or why there is none."""

    target: float
    threshold: float
    source: str
    coverage: float | None = None
    precision: float | None = None
    rows: int | None = None
    calibrated: bool = True
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def claimed_precision(self) -> float | None:
        """The precision an answer may state: ``target`` when calibrated, else None."""
        return self.target if self.calibrated else None

    def summary(self) -> str:
        """One line for every answer: what the threshold is."""
        if self.calibrated:
            never = "; no threshold reaches it there, nothing is auto-accepted" if self.threshold > 1.0 else ""
            return f"calibrated for precision {self.target:g}: {self.description}{never}"
        if self.source == "fixed":
            return f"fixed threshold {self.threshold:g} (SKUTAG_THRESHOLD), not calibrated"
        if self.source == "fallback":
            fallback = f"fallback threshold {self.threshold:g} (SKUTAG_FALLBACK_THRESHOLD)"
            return f"not calibrated ({self.description}): {fallback}"
        return f"not calibrated ({self.description}): nothing is auto-accepted"


def uncalibrated(target: float, reason: str, threshold: float | None = None) -> Calibration:
    """No calibration for ``target`` (``reason``): auto-accept nothing, or at a chosen fallback ``threshold``."""
    if threshold is None:
        return Calibration(target, NEVER, "none", calibrated=False, description=reason)
    return Calibration(target, threshold, "fallback", calibrated=False, description=reason)


def fixed(target: float, threshold: float) -> Calibration:
    """A threshold set by the operator (SKUTAG_THRESHOLD): used as given, claims no precision."""
    return Calibration(target, threshold, "fixed", calibrated=False, description="set by the operator")


def threshold_from_table(meta: dict[str, Any], target: float) -> Calibration | None:
    """The threshold for ``target`` from the card's calibration table (``skutag train``); an uncalibrated card gives
    :func:`uncalibrated`; None when the card predates the table."""
    table = meta.get("calibration")
    if not isinstance(table, dict):
        return None
    source, description = table.get("source"), str(table.get("description") or "")
    if not source:
        return uncalibrated(target, description.removeprefix("not calibrated: ") or "the card says so")
    from skutag.evaluation.metrics import threshold_for_precision  # heavy package import

    best: dict[str, Any] | None = next(
        (t for t in table.get("thresholds", []) if abs(float(t.get("target", -1)) - target) < 1e-9), None
    )
    curve = table.get("curve")
    if best is None and isinstance(curve, dict) and curve.get("threshold"):
        best = threshold_for_precision(curve, target, table.get("rows"), float(table.get("z") or 0.0))
    if best is None:
        return uncalibrated(target, f"the card's calibration ({description}) has no threshold for {target:g}")
    t = best.get("threshold")
    return Calibration(
        target=target,
        threshold=NEVER if t is None else float(t),
        source=str(source),
        coverage=best.get("coverage"),
        precision=best.get("precision"),
        rows=table.get("rows"),
        description=description,
    )


def threshold_from_card(meta: dict[str, Any], target: float) -> Calibration | None:
    """A threshold for ``target`` already in the model card: its calibration table, else (an older card) validation
    ``path.thresholds``, if any."""
    found = threshold_from_table(meta, target)
    if found is not None:
        return found
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
                    description="validation rows (thresholds in the model card)",
                )
    return None


def threshold_from_scores(confidence: np.ndarray, correct: np.ndarray, target: float, z: float = 0.0) -> Calibration:
    """The lowest threshold whose accepted rows reach ``target`` precision (NEVER when none does); with ``z`` > 0,
    reach it with confidence (:func:`~skutag.evaluation.metrics.threshold_for_precision`)."""
    from skutag.evaluation.metrics import precision_coverage, threshold_for_precision  # heavy package import

    best = threshold_for_precision(precision_coverage(confidence, correct), target, len(confidence), z)
    t = best["threshold"]
    return Calibration(
        target=target,
        threshold=NEVER if t is None else float(t),
        source="validation",
        coverage=best["coverage"],
        precision=best["precision"],
        rows=len(confidence),
        description=f"{len(confidence):,} validation rows",
    )


def calibrate(model: CategoryModel, target: float, base_dir: Path | None = None) -> Calibration | None:
    """Threshold for ``target`` from the card, else from the validation files an older card lists; None if neither.
    The result may be :func:`uncalibrated` (a card that says it is not)."""
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
    from skutag.evaluation.metrics import CARD_CONFIDENCE_Z

    result = threshold_from_scores(np.asarray(top.scores)[:, 0], correct, target, CARD_CONFIDENCE_Z)
    log.info(
        "calibrated on %d validation rows: threshold %.4f keeps %.1f%% at precision %s",
        len(correct),
        result.threshold,
        100 * (result.coverage or 0.0),
        result.precision,
    )
    return result
