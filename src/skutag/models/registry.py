"""``--model`` names to model classes. New kinds (transformer, ensemble) register here."""

from __future__ import annotations

import importlib

from skutag.errors import ConfigError
from skutag.models.base import BaseModel

#: name -> "module:Class", imported on use so optional heavy dependencies stay optional.
MODELS: dict[str, str] = {
    "linear": "skutag.models.linear:LinearModel",
    "transformer": "skutag.models.transformer:TransformerModel",
    "fast": "skutag.models.fast:FastModel",
    "ensemble": "skutag.models.ensemble:EnsembleModel",
}


def register_model(name: str, target: str) -> None:
    """Make ``--model name`` build ``target`` ("package.module:Class")."""
    MODELS[name] = target


def model_class(name: str) -> type[BaseModel]:
    try:
        target = MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; choose from {sorted(MODELS)}") from None
    module, _, attr = target.partition(":")
    cls: type[BaseModel] = getattr(importlib.import_module(module), attr)
    return cls


def create_model(name: str, **params: object) -> BaseModel:
    """A new, unfitted model of kind ``name`` with hyperparameters ``params``."""
    return model_class(name)(**params)
