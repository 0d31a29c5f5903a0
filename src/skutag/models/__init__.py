"""Categorisation models: the contract (base), the linear model, and the --model registry."""

from skutag.models.base import CategoryModel, TopK
from skutag.models.registry import create_model, load_model, model_class

__all__ = ["CategoryModel", "TopK", "create_model", "load_model", "model_class"]
