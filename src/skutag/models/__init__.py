"""Categorisation models: the contract (base), the linear model, and the --model registry."""

from skutag.models.base import BaseModel, TopK
from skutag.models.registry import create_model, model_class

__all__ = ["BaseModel", "TopK", "create_model", "model_class"]
