"""The served model: loaded once, mapped from API products to the model's text columns, answers per product."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.fields import TextFields, field_text
from skutag.log import get_logger
from skutag.models.base import CategoryModel
from skutag.models.bundle import ModelBundle, load_bundle
from skutag.serving.calibration import Calibration, calibrate, fixed, uncalibrated
from skutag.store.records import PredictionRecord
from skutag.store.tables import DECISION_AUTO, DECISION_REVIEW
from skutag.taxonomy import PATH_SEP

log = get_logger(__name__)

_MAX_EVIDENCE_TOKENS = 40


def model_version(meta: dict[str, Any], parts: dict[str, str] | None = None) -> str:
    """``<kind>-<12 hex>``: a digest of the model files' checksums (and its parts'), so retraining gives a new
    version."""
    files = {**(meta.get("files") or {}), **(parts or {})}
    digest = hashlib.sha256("".join(f"{k}:{v};" for k, v in sorted(files.items())).encode()).hexdigest()
    return f"{meta.get('kind', 'model')}-{digest[:12]}"


@dataclass
class ServedModel:
    """A loaded model with its name, version, decision threshold and the taxonomy paths it can emit."""

    model: CategoryModel
    name: str
    version: str
    directory: Path
    calibration: Calibration
    paths: list[tuple[str, ...]] = field(default_factory=list)
    #: the model directory's attribute and tag parts (None: a category model alone)
    bundle: ModelBundle | None = None
    _path_set: set[tuple[str, ...]] = field(default_factory=set, init=False, repr=False)

    @property
    def threshold(self) -> float:
        return self.calibration.threshold

    def info(self) -> dict[str, Any]:
        card = getattr(self.model, "card_", {}) or {}
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.model.kind,
            "levels": list(self.model.levels_),
            "text_columns": list(self.model.text_columns_),
            "n_paths": len(self.paths),
            "threshold": self.threshold,
            "target_precision": self.calibration.claimed_precision,
            "calibrated": self.calibration.calibrated,
            "calibration": self.calibration.as_dict(),
            "validation": (card.get("validation") or {}).get("metrics"),
            "saved_at": card.get("saved_at"),
            "has_tags": self.extracts_tags,
            "attributes": self.bundle.attributes.attributes if self.bundle and self.bundle.attributes else [],
            "tags": self.bundle.tags.tags if self.bundle and self.bundle.tags else [],
        }

    @property
    def extracts_tags(self) -> bool:
        return self.bundle is not None and self.bundle.extracts_tags

    def knows_path(self, path: list[str]) -> bool:
        return tuple(path) in self._path_set

    def __post_init__(self) -> None:
        self._path_set = {p[: i + 1] for p in self.paths for i in range(len(p))}


def load_served_model(
    directory: str | Path,
    *,
    target_precision: float,
    threshold: float | None = None,
    fallback_threshold: float | None = None,
) -> ServedModel:
    """Load ``directory`` and settle its decision threshold: ``threshold`` (fixed), else calibrated for
    ``target_precision`` from the card (or an older card's validation data). A model without calibration for the
    target auto-accepts nothing, unless ``fallback_threshold`` is given; either way it claims no precision."""
    directory = Path(directory)
    bundle = load_bundle(directory)
    model = bundle.require_category("serving")
    if threshold is not None:
        cal = fixed(target_precision, threshold)
    else:
        found = calibrate(model, target_precision)
        if found is None:
            found = uncalibrated(target_precision, "the model card holds no calibration", fallback_threshold)
        elif not found.calibrated:
            found = uncalibrated(target_precision, found.description, fallback_threshold)
        if not found.calibrated:
            log.warning("%s: answers claim no precision", found.summary())
        cal = found
    paths = model_paths(model)
    version = model_version(bundle.meta or {}, bundle.part_digests())  # the loaded card drops the file checksums
    return ServedModel(model, directory.name, version, directory, cal, paths, bundle if bundle.extracts_tags else None)


def model_paths(model: CategoryModel) -> list[tuple[str, ...]]:
    """Every path the model can predict (for the review page's taxonomy picker and path validation): the paths it
    scores, or the leaves of its taxonomy for a kind that does not score whole paths."""
    if model.scores_paths:
        return sorted(set(model.path_names()))  # type: ignore[attr-defined]
    taxonomy = model.taxonomy_
    return sorted({taxonomy.path(n.id) for n in taxonomy.leaves()})


class Tagger:
    """Turns API products (dicts of text fields) into model input and model output into answers."""

    def __init__(self, served: ServedModel, top_k: int = 3) -> None:
        self.served = served
        self.top_k = top_k
        self.fields = TextFields(served.model.text_columns_)

    def values(self, product: dict[str, str]) -> list[str]:
        """The product's text for each of the model's text columns (the :mod:`skutag.catalogue.fields` rule)."""
        return self.fields.values(product)

    def texts_frame(self, products: list[dict[str, str]]) -> pd.DataFrame:
        return self.fields.frame(products)

    def has_text(self, product: dict[str, str]) -> bool:
        return self.fields.has_text(product)

    def tag(self, products: list[dict[str, str]], top_k: int | None = None) -> list[PredictionRecord]:
        """One :class:`PredictionRecord` per product (``products[i]["id"]`` is its external id)."""
        if not products:
            return []
        model = self.served.model
        k = top_k or self.top_k
        if len(products) == 1:  # one product: the model's one-row path (the linear model's skips pandas), same answer
            top = model.predict_one(dict(zip(self.fields.columns, self.values(products[0]), strict=True)), k, True)
        else:
            top = model.predict_scored(self.texts_frame(products), k=k)
        tags: list[dict[str, Any]] = [{} for _ in products]
        if self.served.bundle is not None:
            target = self.served.calibration.target
            best_paths = [p[0] for p in top.paths]
            tags = [dict(t) for t in self.served.bundle.predict_tags(products, target, best_paths)]
        n_levels = len(model.levels_)
        level_scores = top.level_scores if top.level_scores is not None else np.full((len(products), n_levels), np.nan)
        scores = np.asarray(top.scores, dtype=float)
        threshold = self.served.threshold
        out = []
        for i, product in enumerate(products):
            best = list(top.paths[i][0])
            conf = float(scores[i, 0])
            out.append(
                PredictionRecord(
                    external_id=str(product["id"]),
                    fields={k2: str(v) for k2, v in product.items() if k2 != "id" and v is not None},
                    path=best,
                    level_scores=[None if np.isnan(v) else round(float(v), 6) for v in level_scores[i][: len(best)]],
                    path_score=round(conf, 6),
                    topk=[
                        {"path": list(p), "score": round(float(s), 6)}
                        for p, s in zip(top.paths[i], scores[i].tolist(), strict=False)
                    ],
                    decision=DECISION_AUTO if conf >= threshold else DECISION_REVIEW,
                    threshold=threshold,
                    model_version=self.served.version,
                    tags=tags[i],
                )
            )
        return out

    def explain(self, product: dict[str, str], path: list[str] | None = None, tags: bool = False) -> dict[str, Any]:
        """The review page's evidence: the product's explanation (:meth:`explain_products`, default method) plus
        its heaviest words as ``tokens`` (the older answer's shape); with ``tags``, its tags' explanations too (asked
        for apart: they cost a tagger run per context word)."""
        found = self.explain_products([product], path, tags=tags)[0]
        spans = sorted(found["spans"], key=lambda s: -abs(s["weight"]))[:_MAX_EVIDENCE_TOKENS]
        tokens = [{"field": s["field"], "token": s["text"], "weight": s["weight"]} for s in spans]
        return {**found, "base_score": found["probability"], "tokens": tokens}

    def explain_products(
        self, products: list[dict[str, str]], path: list[str] | None = None, method: str = "auto", tags: bool = False
    ) -> list[dict[str, Any]]:
        """Per product, :func:`skutag.explain.explain`'s answer with each span's ``field`` the product field its
        text came from, so that ``start``/``end`` index that field's value as sent. With ``tags`` and a model with
        attribute or tag parts, also ``tags``: each tag /v1/tag gives the product, with its span and the context
        words that decided it (:func:`skutag.explain.tags.explain_tags`)."""
        from skutag.explain import explain

        if not products:
            return []
        texts = self.texts_frame(products)
        found = explain(
            self.served.model, texts, path=path, method=method, ids=[str(p.get("id", "")) for p in products]
        )
        out = []
        for product, ex in zip(products, found, strict=True):
            sources = self.fields.sources(product)
            named = {
                c: next((s for s in sources[c] if field_text(product[s]) is not None), self.fields.field(c))
                for c in self.fields.columns
            }
            item = ex.to_dict()
            for span in item["spans"]:
                span["field"] = named.get(span["field"], span["field"])
            out.append(item)
        if tags and self.served.bundle is not None:
            from skutag.explain.scoring import best_paths
            from skutag.explain.tags import explain_tags, tags_dict

            # the group a row's attributes are asked by comes from its predicted path, as on /v1/tag
            paths = best_paths(self.served.model, texts) if path is not None else [item["path"] for item in out]
            for item, why in zip(out, explain_tags(self.served.bundle, products, paths), strict=True):
                item["tags"] = tags_dict(why)
        return out


def joined(path: list[str]) -> str:
    return PATH_SEP.join(path)
