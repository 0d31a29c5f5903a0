"""Evaluation: per-level and hierarchical metrics, calibration, precision-coverage, HTML report."""

from skutag.evaluation.metrics import EvaluationResult, evaluate_predictions
from skutag.evaluation.run import evaluate_files, evaluate_model, write_evaluation

__all__ = ["EvaluationResult", "evaluate_files", "evaluate_model", "evaluate_predictions", "write_evaluation"]
