"""Training: read labelled catalogues, fit a registered model, evaluate on validation, save with a model card."""

from skutag.training.train import TrainResult, train_model

__all__ = ["TrainResult", "train_model"]
