"""Attribute-value extraction: BIO token classification over title + description (see
:mod:`skutag.models.neural.extractor`), WDC-PAVE examples and per-attribute precision/recall/F1."""

from skutag.extraction.metrics import ExtractionReport, score_extractions
from skutag.extraction.pave import PaveExample, pave_examples

__all__ = ["ExtractionReport", "PaveExample", "pave_examples", "score_extractions"]
