"""Where a fit's training loop may run instead of the fitting process (``skutag train --ray``: a Ray Train group):
the runner's protocol and what each of its workers is handed to build its trainer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

    from skutag.trainer.loop import Trainer, TrainOutcome

#: Builds, in a worker process, the trainer and the rows it trains on: ``(trainer, ids, targets)``.
WorkerSetup = Callable[[], "tuple[Trainer, Sequence[Sequence[int]], dict[str, Any]]"]


class LoopRunner(Protocol):
    """Runs the training loop somewhere else (on a cluster): each worker builds its trainer with ``build``; returns
    the outcome and the weights the run ends with."""

    #: what the model card says about the run (where, how many workers, restarts), filled in by the call
    card: dict[str, Any]

    def __call__(self, build: WorkerSetup) -> tuple[TrainOutcome, dict[str, torch.Tensor]]: ...
