"""Neural training loop (SetFit-style small files): arguments, collator, losses, callbacks, checkpoints, trainer."""

from skutag.training.neural.arguments import TrainingArguments
from skutag.training.neural.trainer import Trainer, TrainOutcome

__all__ = ["TrainOutcome", "Trainer", "TrainingArguments"]
