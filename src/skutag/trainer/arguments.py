"""Hyperparameters of a neural fine-tune (one dataclass, JSON-serialisable)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from skutag.errors import ConfigError

LOSSES = ("ce", "weighted", "focal")


@dataclass
class TrainingArguments:
    """What the :class:`~skutag.trainer.loop.Trainer` needs.

    Learning rates are split: the freshly initialised heads learn at ``head_lr`` (a from-scratch 283-way head
    needs a much higher rate than the pretrained encoder), the encoder at ``encoder_lr``. The schedule is a
    linear warm-up over ``warmup_ratio`` of the steps then linear decay to zero.
    """

    epochs: int = 6
    batch_size: int = 32
    grad_accum: int = 1
    encoder_lr: float = 8e-5
    head_lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    max_length: int = 48
    loss: str = "weighted"
    focal_gamma: float = 2.0
    class_weight_power: float = 0.5
    label_smoothing: float = 0.0
    patience: int = 2
    valid_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    mixed_precision: bool = True
    num_threads: int | None = None
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0
    log_dir: str | None = None
    progress_bar: bool = True
    log_every: int = 50
    max_unknown: float = 0.2
    max_steps: int | None = None
    bucket_size: int = 64
    #: keep the pretrained token embedding matrix fixed (half of MiniLM's weights; faster, same quality).
    #: A randomly initialised encoder must train it: pass False.
    freeze_embeddings: bool = True

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss {self.loss!r}; choose from {LOSSES}")
        if self.epochs < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ConfigError("epochs, batch_size and grad_accum must be >= 1")
        if not 0.0 <= self.valid_fraction < 0.9:
            raise ConfigError("valid_fraction must be in [0, 0.9)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingArguments:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training argument(s) {unknown}")
        return cls(**data)
