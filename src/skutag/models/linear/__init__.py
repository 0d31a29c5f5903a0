"""The linear model: hashed/TF-IDF features, liblinear or the SGD solver, path decoding."""

from skutag.models.linear.model import LinearModel

__all__ = ["LinearModel"]
