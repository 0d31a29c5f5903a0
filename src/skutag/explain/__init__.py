"""Explanations of predictions (word spans with signed weights, neighbour evidence), their faithfulness
(ERASER comprehensiveness and sufficiency) and global views: what each class learnt, which lean on brands or shops."""

from skutag.explain.api import METHODS, explain, methods_for
from skutag.explain.spans import Explanation, Span

__all__ = ["METHODS", "Explanation", "Span", "explain", "methods_for"]
