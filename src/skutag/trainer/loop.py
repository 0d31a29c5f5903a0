"""A small, resumable training loop: AdamW with separate encoder/head learning rates, warm-up then linear
decay, gradient accumulation, clipping, bf16 autocast on GPU, early stopping on a validation score,
checkpoints with resume after a kill, and per-epoch curves (PNG + TensorBoard) with a progress bar. The same loop
runs each process of a data-parallel run (:mod:`skutag.trainer.distributed`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from skutag.log import get_logger
from skutag.trainer.arguments import TrainingArguments
from skutag.trainer.callbacks import CurveLogger, EarlyStopping
from skutag.trainer.checkpoint import (
    has_checkpoint,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
    write_checkpoint,
)
from skutag.trainer.collator import PaddingCollator, bucket_batches
from skutag.trainer.device import autocast, resolve_device, seed_everything
from skutag.trainer.distributed import Distributed, shard_batch

log = get_logger(__name__)

LossFn = Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor]
EvalFn = Callable[[torch.nn.Module], dict[str, float]]
#: What builds a model's training loop: :class:`Trainer`'s own arguments (model, args, compute_loss, param_groups,
#: evaluate=, pad_id=) in, a Trainer (or a subclass with its own loss, e.g. distillation's) out.
TrainerFactory = Callable[..., "Trainer"]


@dataclass
class TrainOutcome:
    """What happened: epochs run, optimizer steps, best validation score, history, whether it resumed."""

    epochs_run: int
    steps: int
    best_score: float | None
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from_step: int | None = None
    stopped_early: bool = False
    seconds: float = 0.0
    #: the step each restart of the run resumed at, oldest first (a run that never stopped: empty)
    resumes: list[int] = field(default_factory=list)


def outcome_from_state(state: dict[str, Any]) -> TrainOutcome:
    """What a run came to, from the trainer state of its last checkpoint (a distributed run's driver reads it)."""
    patience = int(state["args"]["patience"])
    stop = state["early_stopping"]
    best = float(stop["best"])
    resumes = [int(s) for s in state.get("resumes", [])]
    return TrainOutcome(
        epochs_run=int(state["epoch"]),
        steps=int(state["step"]),
        best_score=best if math.isfinite(best) else None,
        history=list(state.get("history", [])),
        resumed_from_step=resumes[-1] if resumes else None,
        stopped_early=patience > 0 and int(stop["bad"]) >= patience,
        resumes=resumes,
    )


def make_optimizer(groups: list[dict[str, Any]], weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, fused where torch has a fused kernel for the parameters' device (CPU and CUDA): on CPU the
    default per-tensor loop spends several times longer per step."""
    try:
        return torch.optim.AdamW(groups, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(groups, weight_decay=weight_decay)


def warmup_linear(total: int, warmup: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


class Trainer:
    """Train ``model`` on pre-tokenised ``ids`` with per-row ``targets``.

    ``compute_loss(model, batch)`` returns the batch loss; ``evaluate(model)`` returns validation metrics
    with a ``score`` key (higher is better) used for early stopping and for keeping the best weights.
    ``param_groups`` are AdamW groups (each with its own ``lr``).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        args: TrainingArguments,
        compute_loss: LossFn,
        param_groups: Sequence[dict[str, Any]],
        evaluate: EvalFn | None = None,
        pad_id: int = 0,
    ) -> None:
        self.model = model
        self.args = args
        self.compute_loss = compute_loss
        self.param_groups = list(param_groups)
        self.evaluate = evaluate
        self.collator = PaddingCollator(pad_id=pad_id)
        self.device = resolve_device(args.device, args.num_threads)
        self.curves = CurveLogger(args.log_dir)

    def train(
        self, ids: Sequence[Sequence[int]], targets: dict[str, Any], dist: Distributed | None = None
    ) -> TrainOutcome:
        """Run the loop. ``dist``: this process is one rank of a data-parallel run; it trains on its share of each
        batch, resumes from the checkpoint ``dist`` hands it, and checkpoints through ``dist`` (not
        ``checkpoint_dir``)."""
        args = self.args
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        seed_everything(args.seed)
        model = self.model.to(self.device)
        run = dist.wrap(model) if dist is not None else model  # what the forward and backward passes go through
        rank0 = dist is None or dist.rank == 0
        lengths = [len(s) for s in ids]
        n_batches = math.ceil(len(ids) / args.batch_size)
        steps_per_epoch = math.ceil(n_batches / args.grad_accum)
        total = steps_per_epoch * args.epochs
        if args.max_steps is not None:
            total = min(total, args.max_steps)
        optimizer = make_optimizer(self.param_groups, args.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear(total, round(total * args.warmup_ratio)))
        stopper = EarlyStopping(args.patience)
        best_weights: dict[str, torch.Tensor] | None = None
        start_epoch, skip, step, resumed = 0, 0, 0, None
        resumes: list[int] = []
        restored: tuple[dict[str, Any], dict[str, torch.Tensor] | None] | None = None
        if dist is not None:
            restored = dist.restore(lambda folder: read_checkpoint(folder, model, optimizer, scheduler))
        elif has_checkpoint(args.checkpoint_dir):
            assert args.checkpoint_dir is not None
            restored = load_checkpoint(args.checkpoint_dir, model, optimizer, scheduler)
        if restored is not None:
            state, best_weights = restored
            start_epoch, skip, step = int(state["epoch"]), int(state["batch"]), int(state["step"])
            stopper.load(state["early_stopping"])
            self.curves.load(state.get("history", []))
            resumed = step
            resumes = [*state.get("resumes", []), step]
            log.info("resuming from checkpoint at epoch %d, batch %d (step %d)", start_epoch + 1, skip, step)
        if dist is not None:
            # the ranks start from one seed (one initial network); from here each draws its own dropout masks, or the
            # shares of a batch would be dropped alike (a restart re-derives the stream from the step it resumes at)
            torch.manual_seed(args.seed + 7919 * (dist.rank + 1) + 104_729 * step)

        def checkpoint(epoch: int, batch: int) -> None:
            if dist is None and args.checkpoint_dir is None:
                return
            state = {
                "epoch": epoch,
                "batch": batch,
                "step": step,
                "early_stopping": stopper.state(),
                "history": self.curves.history,
                "resumes": resumes,
                "args": args.to_dict(),
            }
            if dist is None:
                assert args.checkpoint_dir is not None
                save_checkpoint(args.checkpoint_dir, model, optimizer, scheduler, state, best_weights)
                return
            figures = {"epoch": float(epoch), "batch": float(batch), "step": float(step)}
            if batch == 0 and self.curves.history:
                figures.update(self.curves.history[-1])

            def write(folder: Path) -> None:
                write_checkpoint(folder, model, optimizer, scheduler, state, best_weights)

            dist.report(figures, write if rank0 else None)

        bar = tqdm(total=total, initial=step, desc="fine-tuning", unit="step", disable=not args.progress_bar or None)
        stopped_early = stopper.should_stop  # a run resumed from its last checkpoint after it stopped early
        epochs_run = start_epoch
        done = step >= total or stopped_early
        for epoch in range(start_epoch, args.epochs):
            if done:
                break
            model.train()
            batches = bucket_batches(lengths, args.batch_size, args.seed + epoch, args.bucket_size)
            losses: list[float] = []
            first = skip if epoch == start_epoch else 0
            optimizer.zero_grad(set_to_none=True)
            for bi in range(first, len(batches)):
                idx = batches[bi] if dist is None else shard_batch(batches[bi], dist.rank, dist.world_size)
                sub = {k: (v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx]) for k, v in targets.items()}
                batch = self.collator([ids[i] for i in idx], **sub)
                batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
                with autocast(self.device, args.mixed_precision):
                    loss = self.compute_loss(run, batch)
                (loss / args.grad_accum).backward()
                losses.append(float(loss.detach()))
                if (bi + 1) % args.grad_accum == 0 or bi + 1 == len(batches):
                    if args.max_grad_norm > 0:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    step += 1
                    if dist is not None:
                        dist.after_step(epoch, bi + 1, step)
                    bar.update(1)
                    bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", epoch=epoch + 1)
                    if step % 20 == 0:
                        self.curves.step(step, {"train_loss": float(np.mean(losses[-20:]))})
                    if args.log_every and step % args.log_every == 0:
                        rate = (step - (resumed or 0)) / max(1e-9, time.perf_counter() - t0)
                        log.info(
                            "step %d/%d, loss %.3f, %.2f steps/s, ETA %.0f s",
                            step,
                            total,
                            float(np.mean(losses[-50:])),
                            rate,
                            (total - step) / max(rate, 1e-9),
                        )
                    if args.checkpoint_every and step % args.checkpoint_every == 0 and bi + 1 < len(batches):
                        checkpoint(epoch, bi + 1)
                    if step >= total:
                        done = True
                        break
            epochs_run = epoch + 1
            record: dict[str, float] = {"epoch": float(epoch + 1), "train_loss": float(np.mean(losses or [0.0]))}
            record["lr_head"] = float(scheduler.get_last_lr()[-1])
            if self.evaluate is not None:
                metrics = dist.from_rank0(self._evaluate) if dist is not None else self._evaluate()
                record.update({f"valid_{k}": float(v) for k, v in metrics.items()})
                if stopper.improved(float(metrics["score"])):
                    best_weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            record["elapsed_seconds"] = time.perf_counter() - t0
            record["cpu_seconds"] = time.process_time() - cpu0
            self.curves.epoch(record)
            log.info("epoch %d: %s", epoch + 1, {k: round(v, 4) for k, v in record.items()})
            checkpoint(epoch + 1, 0)
            if stopper.should_stop:
                stopped_early = True
                log.info("early stopping after epoch %d (best score %.4f)", epoch + 1, stopper.best)
                break
        bar.close()
        self.curves.close()
        if best_weights is not None:
            model.load_state_dict(best_weights)
        model.eval()
        best = stopper.best if math.isfinite(stopper.best) else None
        return TrainOutcome(
            epochs_run=epochs_run,
            steps=step,
            best_score=best,
            history=self.curves.history,
            resumed_from_step=resumed,
            stopped_early=stopped_early,
            seconds=time.perf_counter() - t0,
            resumes=resumes,
        )

    def _evaluate(self) -> dict[str, float]:
        """The validation figures of the model as it is now (the unwrapped model: no collective calls)."""
        assert self.evaluate is not None
        self.model.eval()
        with torch.inference_mode():
            return {k: float(v) for k, v in self.evaluate(self.model).items()}
