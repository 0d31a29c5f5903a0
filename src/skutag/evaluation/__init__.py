"""Evaluation: per-level and hierarchical metrics, calibration, precision-coverage, HTML report."""

from skutag.evaluation.metrics import EvaluationResult, evaluate_predictions

__all__ = ["EvaluationResult", "evaluate_predictions"]
