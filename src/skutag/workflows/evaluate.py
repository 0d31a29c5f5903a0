"""Evaluate a model on labelled data and write metrics.json, per_class.csv and report.html."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from skutag.catalogue.rejects import RejectSink
from skutag.errors import ConfigError, MissingColumnError
from skutag.evaluation.metrics import EvaluationResult, evaluate_predictions
from skutag.evaluation.report import render_report
from skutag.fsutil import atomic_write_text
from skutag.log import get_logger
from skutag.models.base import CategoryModel
from skutag.models.bundle import load_bundle
from skutag.taxonomy import clean_path

if TYPE_CHECKING:
    from skutag.catalogue.labelled import LabelledData

log = get_logger(__name__)


@dataclass
class EvaluationOutput:
    #: the category evaluation (None: the directory has no category model, or the data no category labels)
    result: EvaluationResult | None
    metrics_path: Path
    report_path: Path
    rows_rejected: int
    #: attribute values and free tags (:func:`skutag.workflows.evaluate_parts.evaluate_parts`), when scored
    attributes: dict[str, Any] | None = None
    #: what each class learnt (:func:`skutag.explain.global_view.global_explanations`), when computed
    global_views: dict[str, Any] | None = None


def evaluate_model(model: CategoryModel, texts: pd.DataFrame, labels: pd.DataFrame) -> EvaluationResult:
    """Predict ``texts`` and compare with ``labels`` (level_1..level_n)."""
    return evaluate_scored(model, texts, labels)[0]


def evaluate_scored(
    model: CategoryModel, texts: pd.DataFrame, labels: pd.DataFrame
) -> tuple[EvaluationResult, tuple[np.ndarray, np.ndarray]]:
    """:func:`evaluate_model`, and per row the probability of the predicted path and whether it is the true one."""
    result, confidence, correct, _ = _evaluate(model, texts, labels)
    return result, (confidence, correct)


def _evaluate(
    model: CategoryModel, texts: pd.DataFrame, labels: pd.DataFrame
) -> tuple[EvaluationResult, np.ndarray, np.ndarray, list[tuple[str, ...]]]:
    """The evaluation, per row the predicted path's probability and whether it is the true path, and the paths."""
    proba = model.predict_proba(texts)
    top = model.predict_topk(texts, k=1)
    n = len(model.levels_)
    pred = pd.DataFrame(
        [list(p[0]) + [None] * (n - len(p[0])) for p in top.paths], columns=model.levels_, index=texts.index
    )
    truth = labels.copy()
    truth.columns = [f"level_{i + 1}" for i in range(truth.shape[1])]
    if truth.shape[1] != n:
        log.warning(
            "data has %d label level(s), the model %d; comparing the first %d",
            truth.shape[1],
            n,
            min(n, truth.shape[1]),
        )
    confidence = np.asarray(top.scores, dtype=float)[:, 0] if len(top.paths) else np.zeros(0)
    result = evaluate_predictions(truth, pred, proba=proba, path_confidence=confidence)
    rows = truth.iloc[:, :n].itertuples(index=False, name=None)
    correct = np.array([clean_path(t) == p[0] for t, p in zip(rows, top.paths, strict=True)], dtype=bool)
    return result, confidence, correct, [tuple(p[0]) for p in top.paths]


def write_evaluation(
    result: EvaluationResult | None,
    out_dir: str | Path,
    context: dict[str, Any] | None = None,
    attributes: dict[str, Any] | None = None,
    global_views: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """metrics.json, per_class_<level>.csv (per_attribute.csv) and a self-contained report.html in ``out_dir``;
    ``global_views`` (:func:`skutag.explain.global_view.global_explanations`) go to both under
    ``global_explanations``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.json"
    metrics = result.metrics_json() if result is not None else {}
    if attributes:
        metrics["attributes"] = attributes
    if global_views:
        metrics["global_explanations"] = global_views
    atomic_write_text(metrics_path, json.dumps(_finite(metrics), indent=2, ensure_ascii=False))
    for name, table in (result.per_class if result is not None else {}).items():
        atomic_write_text(out / f"per_class_{name}.csv", table.to_csv(index=False))
    if attributes and "exact" in attributes:
        rows = pd.DataFrame(attributes["exact"]["per_attribute"]).merge(
            pd.DataFrame(attributes["normalised"]["per_attribute"]),
            on=["attribute", "support"],
            suffixes=("_exact", "_normalised"),
        )
        atomic_write_text(out / "per_attribute.csv", rows.to_csv(index=False))
    report_path = out / "report.html"
    atomic_write_text(
        report_path, render_report(result, context=context, attributes=attributes, global_views=global_views)
    )
    return metrics_path, report_path


def evaluate_files(
    model_dir: str | Path,
    data: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    *,
    label: Sequence[str] = (),
    label_sep: str | None = None,
    global_explanations: bool = True,
    global_rows: int | None = None,
) -> EvaluationOutput:
    """Load a saved model directory and evaluate what it holds on catalogue file(s): the category model where the
    data has its labels (text and label columns come from the model card unless ``label``/``label_sep`` override
    them; labels cut to the card's levels), the attribute values and free tags where the data has them. Rejected
    rows go to ``out_dir/rejects.jsonl``. ``global_explanations``: add what each class learnt and the classes
    leaning on brands or shop words (:mod:`skutag.explain.global_view`; ``global_rows`` caps the rows it reads,
    None: its default, 0: all)."""
    from skutag.catalogue.labelled import load_labelled
    from skutag.workflows.evaluate_parts import evaluate_parts

    bundle = load_bundle(model_dir)
    model = bundle.category
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = None
    attributes = None
    views = None
    with RejectSink(out / "rejects.jsonl") as rejects:
        if model is not None:
            card = getattr(model, "card_", {})
            label = tuple(label) or tuple(card.get("label_columns") or ())
            if not label:
                raise ConfigError("the model card names no label columns; pass --label")
            label_sep = label_sep if label_sep is not None else card.get("label_sep")
            try:
                ld = load_labelled(
                    data,
                    text=model.text_columns_,
                    label=label,
                    label_sep=label_sep,
                    levels=card.get("label_levels"),
                    rejects=rejects,
                )
            except MissingColumnError:
                if not bundle.extracts_tags:
                    raise
                log.info("no category labels in the data: scoring the attribute/tag parts only")
            else:
                texts = ld.texts.copy()
                texts.columns = model.text_columns_
                result, _, _, predicted = _evaluate(model, texts, ld.labels)
                if global_explanations:
                    views = _global_views(model, texts, predicted, ld, global_rows)
        if bundle.extracts_tags:
            attributes = evaluate_parts(bundle, data, rejects=rejects, required=result is None)
        n_rejected = rejects.count
    paths = [data] if isinstance(data, str | Path) else list(data)
    context = {"model": str(model_dir), "data": ", ".join(map(str, paths)), "rows rejected": n_rejected}
    metrics_path, report_path = write_evaluation(result, out, context, attributes, views)
    return EvaluationOutput(result, metrics_path, report_path, n_rejected, attributes, views)


def _global_views(
    model: CategoryModel, texts: pd.DataFrame, paths: list[tuple[str, ...]], ld: LabelledData, max_rows: int | None
) -> dict[str, Any]:
    from skutag.explain.global_view import global_explanations
    from skutag.explain.roles import roles_of_frame

    t0 = time.perf_counter()
    roles, shops = roles_of_frame(ld.frame, ld.spec.text, skip=ld.spec.label)
    views = global_explanations(model, texts, paths=paths, roles=roles, shops=shops, max_rows=max_rows)
    views["seconds"] = round(time.perf_counter() - t0, 3)
    log.info(
        "global views: %d of %d classes lean on brand or shop words (%.1f s)",
        len(views["flagged"]),
        len(views["classes"]),
        views["seconds"],
    )
    return views


def _finite(obj: Any) -> Any:
    """NaN/inf to None so metrics.json is strict JSON."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj
