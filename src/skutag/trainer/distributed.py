"""What the training loop needs when it runs as one of several data-parallel processes (DDP), whatever starts them
(``skutag train --ray``: Ray Train). The loop stays the one local training uses: each process takes its share of
every batch (:func:`shard_batch`), the wrapped model averages the gradients, rank 0 alone evaluates (the others get
its figures) and writes checkpoints, and a restarted process resumes from the newest checkpoint it is handed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


class Distributed(Protocol):
    """One process of a data-parallel run, as the loop sees it."""

    rank: int
    world_size: int

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model as training runs it (DistributedDataParallel: gradients averaged over the processes)."""
        ...

    def from_rank0(self, compute: Callable[[], Any]) -> Any:
        """``compute()`` on rank 0; every rank returns its result (small, picklable)."""
        ...

    def restore(self, read: Callable[[Path], T]) -> T | None:
        """``read(folder)`` on (a local copy of) the newest checkpoint of the run; None on its first start."""
        ...

    def report(self, metrics: dict[str, float], write: Callable[[Path], None] | None) -> None:
        """Called by every rank at the same points: the figures so far and, on rank 0, ``write(folder)`` filling a
        checkpoint folder that the run keeps."""
        ...

    def after_step(self, epoch: int, batch: int, step: int) -> None:
        """After each optimizer step (a place to say how far a worker got)."""
        ...


def shard_batch(idx: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """This rank's rows of one (global) batch: every ``world_size``-th row from ``rank`` on, so the processes
    together take the batch a single process would and the run keeps its number of steps and schedule. A batch
    with fewer rows than processes lends the short ranks a row (a rank never gets an empty batch)."""
    if world_size <= 1:
        return idx
    if len(idx) < world_size:
        return idx[[rank % len(idx)]]
    return idx[rank::world_size]
