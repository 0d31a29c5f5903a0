"""Categorisation models: the contract (base), the linear model, and the --model registry.

The names below are imported on first use, so that ``skutag.models.registry`` (the ``--model`` names the CLI
lists in its help) can be read without numpy, pandas or torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skutag.models.base import CategoryModel, TopK
    from skutag.models.registry import create_model, load_model, model_class

__all__ = ["CategoryModel", "TopK", "create_model", "load_model", "model_class"]

_HOME = {
    "CategoryModel": "skutag.models.base",
    "TopK": "skutag.models.base",
    "create_model": "skutag.models.registry",
    "load_model": "skutag.models.registry",
    "model_class": "skutag.models.registry",
}


def __getattr__(name: str) -> Any:
    try:
        home = _HOME[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return getattr(importlib.import_module(home), name)
