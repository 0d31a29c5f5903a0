"""``--model`` names to model classes. New kinds (transformer, ensemble) register here."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from skutag.errors import ConfigError, ModelLoadError
from skutag.fsutil import pinned
from skutag.log import get_logger
from skutag.models.card import BUNDLE_KIND, read_meta

log = get_logger(__name__)

if TYPE_CHECKING:  # the kinds' classes are imported on use: reading MODELS (the CLI's help) needs no numpy
    from skutag.models.base import CategoryModel

#: name -> "module:Class", imported on use so optional heavy dependencies stay optional.
MODELS: dict[str, str] = {
    "linear": "skutag.models.linear.model:LinearModel",
    "transformer": "skutag.models.neural.transformer:TransformerModel",
    "fast": "skutag.models.neural.fast:FastModel",
    "ensemble": "skutag.models.ensemble:EnsembleModel",
    "cascade": "skutag.models.cascade:CascadeModel",
}


#: kinds that load without torch: the compressed ``edge`` kind, and the runtime a ``transformer`` directory falls back
#: to where torch is missing (or ``SKUTAG_RUNTIME=edge`` asks for it).
EDGE = "skutag.models.neural.edge:EdgeTransformer"
EDGE_KINDS = ("edge", "transformer")


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
    if kind in EDGE_KINDS and (kind == "edge" or _edge_requested()):
        return _edge_class().load(folder)
    try:
        cls = model_class(str(kind))
    except ConfigError as exc:
        raise ModelLoadError(f"{directory}: unknown model kind {kind!r}") from exc
    except ImportError as exc:
        if kind not in EDGE_KINDS:
            raise ModelLoadError(f"{directory}: a {kind!r} model needs {exc.name or 'a missing package'}") from exc
        log.info("%s: torch is not installed; predicting on the edge runtime (ONNX Runtime)", directory)
        return _edge_class().load(folder)
    return cls.load(folder)


def _edge_requested() -> bool:
    return os.environ.get("SKUTAG_RUNTIME", "").strip().lower() == "edge"


def _edge_class() -> type[CategoryModel]:
    module, _, attr = EDGE.partition(":")
    cls: type[CategoryModel] = getattr(importlib.import_module(module), attr)
    return cls
