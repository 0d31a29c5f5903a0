"""Neural training loop (SetFit-style small files): arguments, collator, losses, callbacks, checkpoints, trainer."""

from skutag.trainer.arguments import TrainingArguments
from skutag.trainer.loop import Trainer, TrainOutcome

__all__ = ["TrainOutcome", "Trainer", "TrainingArguments"]
