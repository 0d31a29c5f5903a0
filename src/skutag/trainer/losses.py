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
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 2.0,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Focal loss (Lin et al. 2017): cross-entropy scaled by (1 - p_true) ** gamma; the mean, or per row
    (``reduction="none"``)."""
    logp = F.log_softmax(logits.float(), dim=-1)
    lp = logp.gather(1, target[:, None]).squeeze(1)
    loss = -((1.0 - lp.exp()) ** gamma) * lp
    if weight is not None:
        loss = loss * weight[target]
    return loss if reduction == "none" else loss.mean()


def level_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    kind: str,
    weight: torch.Tensor | None,
    gamma: float = 2.0,
    smoothing: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Loss of one level head: ``ce`` (plain), ``weighted`` (class-weighted CE) or ``focal``; the batch mean, or
    one value per row (``reduction="none"``: each row's loss times its class's weight)."""
    if kind == "focal":
        return focal_loss(logits, target, gamma, weight, reduction)
    w = weight if kind == "weighted" else None
    return F.cross_entropy(logits.float(), target, weight=w, label_smoothing=smoothing, reduction=reduction)
