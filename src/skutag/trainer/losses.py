"""Losses for the long tail: class-weighted cross-entropy and focal loss."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def class_weights(y: np.ndarray, n_classes: int, power: float = 0.5) -> torch.Tensor:
    """(n / count) ** power per class, normalised to mean 1 over the classes present (unseen classes get 1)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.ones(n_classes)
    seen = counts > 0
    w[seen] = (counts[seen].sum() / counts[seen]) ** power
    w[seen] /= w[seen].mean()
    return torch.tensor(w, dtype=torch.float32)


def focal_loss(
    logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean focal loss (Lin et al. 2017): cross-entropy scaled by (1 - p_true) ** gamma."""
    logp = F.log_softmax(logits.float(), dim=-1)
    lp = logp.gather(1, target[:, None]).squeeze(1)
    loss = -((1.0 - lp.exp()) ** gamma) * lp
    if weight is not None:
        loss = loss * weight[target]
    return loss.mean()


def level_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    kind: str,
    weight: torch.Tensor | None,
    gamma: float = 2.0,
    smoothing: float = 0.0,
) -> torch.Tensor:
    """Loss of one level head: ``ce`` (plain), ``weighted`` (class-weighted CE) or ``focal``."""
    if kind == "focal":
        return focal_loss(logits, target, gamma, weight)
    w = weight if kind == "weighted" else None
    return F.cross_entropy(logits.float(), target, weight=w, label_smoothing=smoothing)
