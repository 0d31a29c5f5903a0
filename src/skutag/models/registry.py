"""``--model`` names to model classes. New kinds (transformer, ensemble) register here."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from skutag.errors import ConfigError, ModelLoadError
from skutag.fsutil import pinned
from skutag.models.card import BUNDLE_KIND, read_meta

if TYPE_CHECKING:  # the kinds' classes are imported on use: reading MODELS (the CLI's help) needs no numpy
    from skutag.models.base import CategoryModel

#: name -> "module:Class", imported on use so optional heavy dependencies stay optional.
MODELS: dict[str, str] = {
    "linear": "skutag.models.linear.model:LinearModel",
    "transformer": "skutag.models.neural.transformer:TransformerModel",
    "fast": "skutag.models.neural.fast:FastModel",
    "ensemble": "skutag.models.ensemble:EnsembleModel",
}


def register_model(name: str, target: str) -> None:
    """Make ``--model name`` build ``target`` ("package.module:Class")."""
    MODELS[name] = target


def model_class(name: str) -> type[CategoryModel]:
    try:
        target = MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; choose from {sorted(MODELS)}") from None
    module, _, attr = target.partition(":")
    cls: type[CategoryModel] = getattr(importlib.import_module(module), attr)
    return cls


def create_model(name: str, **params: object) -> CategoryModel:
    """A new, unfitted model of kind ``name`` with hyperparameters ``params``. An unknown parameter is a ConfigError
    naming the valid ones (a typo in ``--params`` is one clear line, not a TypeError); values are checked by ``fit``."""
    cls = model_class(name)
    cls.check_param_names(params)
    return cls(**params)


def load_model(directory: str | Path) -> CategoryModel:
    """Load any saved model: the kind in its meta.json picks the class.

    Raises ModelLoadError for a missing, foreign, truncated or corrupted directory.
    """
    folder = pinned(directory)  # the kind and the files of one version, even if a save swaps the link meanwhile
    kind = read_meta(folder).get("kind")
    if kind == BUNDLE_KIND:
        raise ModelLoadError(
            f"{directory}: holds attribute/tag parts but no category model yet; train one into it (skutag train DATA "
            f"--label COLS --out {directory}: the parts are kept)"
        )
    try:
        cls = model_class(str(kind))
    except ConfigError as exc:
        raise ModelLoadError(f"{directory}: unknown model kind {kind!r}") from exc
    return cls.load(folder)
