"""Torch modules: per-level classification heads on a pooled encoder (fine-tuning), or on cached embeddings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from skutag.models.neural.encoder import mean_pool


class LevelHeads(nn.Module):
    """One linear head per taxonomy level over a pooled vector (optionally after a hidden layer)."""

    def __init__(self, dim: int, n_classes: Sequence[int], dropout: float = 0.1, hidden: int = 0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Sequential(nn.Linear(dim, hidden), nn.GELU()) if hidden else nn.Identity()
        width = hidden or dim
        self.heads = nn.ModuleList([nn.Linear(width, n) for n in n_classes])

    def forward(self, pooled: torch.Tensor) -> list[torch.Tensor]:
        h = self.hidden(self.dropout(pooled))
        return [head(h) for head in self.heads]


class HierClassifier(nn.Module):
    """Encoder -> mean pooling -> :class:`LevelHeads`."""

    def __init__(self, encoder: Any, n_classes: Sequence[int], dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.heads = LevelHeads(int(encoder.config.hidden_size), n_classes, dropout)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.heads(mean_pool(hidden, attention_mask))

    def forward_pooled(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Per-level logits and the L2-normalised pooled embedding (what the nearest-neighbour index holds)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = mean_pool(hidden, attention_mask)
        return self.heads(pooled), torch.nn.functional.normalize(pooled, dim=-1)
