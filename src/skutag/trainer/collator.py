"""Length-bucketing batches and a padding collator over pre-tokenised sequences."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


def bucket_batches(lengths: Sequence[int], batch_size: int, seed: int, bucket: int = 64) -> list[np.ndarray]:
    """Shuffled batches of similar lengths: shuffle, sort within windows of ``bucket`` batches, shuffle batches.

    Deterministic for a given ``seed`` (the trainer passes ``seed + epoch``), so a resumed run replays the
    same order and can skip the batches it already did.
    """
    rng = np.random.default_rng(seed)
    n = len(lengths)
    order = rng.permutation(n)
    lens = np.asarray(lengths)[order]
    window = max(batch_size, batch_size * bucket)
    batches: list[np.ndarray] = []
    for start in range(0, n, window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lens[start : start + window], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    perm = rng.permutation(len(batches))
    return [batches[i] for i in perm]


def sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Inference batches by increasing length (least padding); the caller restores the order."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@dataclass
class PaddingCollator:
    """Pads token-id lists to the longest in the batch; extra per-row arrays become tensors."""

    pad_id: int = 0
    label_pad: int = -100

    def __call__(self, ids: Sequence[Sequence[int]], **targets: Any) -> dict[str, torch.Tensor]:
        width = max((len(s) for s in ids), default=1)
        input_ids = torch.full((len(ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, seq in enumerate(ids):
            input_ids[i, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
            mask[i, : len(seq)] = 1
        batch = {"input_ids": input_ids, "attention_mask": mask}
        for name, value in targets.items():
            if isinstance(value, list) and value and isinstance(value[0], list | np.ndarray):
                # token-level targets: pad with label_pad
                out = torch.full((len(ids), width), self.label_pad, dtype=torch.long)
                for i, seq in enumerate(value):
                    out[i, : len(seq)] = torch.as_tensor(np.asarray(seq)[:width], dtype=torch.long)
                batch[name] = out
            else:
                batch[name] = torch.as_tensor(np.asarray(value))
        return batch


def iter_batches(
    ids: Sequence[Sequence[int]], batches: Sequence[np.ndarray], collator: PaddingCollator, **targets: np.ndarray
) -> Iterator[dict[str, torch.Tensor]]:
    """Collated batches for the given index arrays (targets indexed alongside)."""
    for idx in batches:
        sub = {k: v[idx] for k, v in targets.items()}
        yield collator([ids[i] for i in idx], **sub)
