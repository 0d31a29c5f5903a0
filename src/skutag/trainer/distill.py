"""Knowledge distillation as a trainer subclass (SetFit's ``DistillationTrainer``): the student's loss is the KL
divergence between a teacher's path distribution and its own, both softened by a temperature ``T`` (Hinton et al.
2015: ``T² · KL(p_T || q_T)``), plus, on labelled rows, the model's own hard-label loss:

    labelled rows:     alpha · T² · KL  +  (1 - alpha) · hard-label loss
    other rows:        T² · KL

The student's path distribution is the decoding every path model uses (:mod:`skutag.models.paths`): the sum of a
path's nodes' level log-probabilities, normalised over the paths; at temperature ``T`` those path scores are divided
by ``T``, as the teacher's path log-probabilities are (``p_T ∝ p^(1/T)``). The model that builds this trainer passes
each batch's training-row indices as the ``row`` target; the teacher's distribution and which rows carry a label
are looked up by them. The trainer imports no model: it sees a network returning per-level logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from skutag.errors import ConfigError
from skutag.trainer.arguments import TrainingArguments
from skutag.trainer.distributed import Distributed
from skutag.trainer.loop import EvalFn, LossFn, Trainer, TrainOutcome
from skutag.trainer.losses import class_weights, level_loss


def soften(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """Row-wise ``p^(1/T)`` renormalised: a distribution at temperature ``T`` (zeros stay zero)."""
    return torch.softmax(torch.log(probs.double()) / temperature, dim=1).float()


def path_log_proba(level_logits: Sequence[torch.Tensor], paths: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """rows x paths log-probabilities of the student: each path's nodes' level log-probabilities summed, divided by
    ``temperature``, normalised over the paths (``paths``: paths x levels class indices)."""
    total = torch.zeros((level_logits[0].shape[0], paths.shape[0]), device=level_logits[0].device)
    for lv, logits in enumerate(level_logits):
        total = total + F.log_softmax(logits.float(), dim=-1)[:, paths[:, lv]]
    return F.log_softmax(total / temperature, dim=-1)


def kl_rows(teacher: torch.Tensor, student_logp: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) per row (``teacher`` probabilities, ``student_logp`` log-probabilities)."""
    return (torch.xlogy(teacher, teacher) - teacher * student_logp).sum(dim=1)


class DistillationTrainer(Trainer):
    """:class:`Trainer` whose loss is the distillation loss of the module docstring.

    ``teacher``: the teacher's path probabilities of every training row (rows x the student's paths, columns in the
    order of ``paths``; rows indexed like the ``row`` target); ``labelled``: which rows carry a true label (the
    ``y`` target: class index per level), the others learn the teacher alone. ``compute_loss`` (the model's own
    hard-label loss) is replaced: the hard part here is the same loss (``args.loss``, class weights of
    ``args.class_weight_power`` over the labelled rows, ``args.label_smoothing``), per row."""

    def __init__(
        self,
        model: torch.nn.Module,
        args: TrainingArguments,
        compute_loss: LossFn | None,
        param_groups: Sequence[dict[str, Any]],
        evaluate: EvalFn | None = None,
        pad_id: int = 0,
        *,
        teacher: np.ndarray,
        labelled: np.ndarray,
        paths: np.ndarray,
        temperature: float = 2.0,
        alpha: float = 0.5,
    ) -> None:
        if temperature <= 0:
            raise ConfigError(f"temperature must be > 0, not {temperature}")
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1], not {alpha}")
        teacher = np.asarray(teacher, dtype=np.float32)
        if teacher.ndim != 2 or teacher.shape[1] != len(paths) or len(labelled) != len(teacher):
            raise ConfigError(
                f"teacher probabilities {teacher.shape} do not match {len(paths)} paths and {len(labelled)} rows"
            )
        super().__init__(model, args, self.distillation_loss, param_groups, evaluate, pad_id)
        self.teacher = soften(torch.from_numpy(teacher), temperature).numpy()
        self.labelled = np.asarray(labelled, dtype=bool)
        self.paths = torch.as_tensor(np.asarray(paths, dtype=np.int64))
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.weights: list[torch.Tensor | None] = [None] * self.paths.shape[1]
        #: the last batches' soft (KL) and hard parts of the loss, summed and counted: what the student learnt from
        self.parts = {"kl": 0.0, "hard": 0.0, "rows": 0.0, "labelled_rows": 0.0}

    def train(
        self, ids: Sequence[Sequence[int]], targets: dict[str, Any], dist: Distributed | None = None
    ) -> TrainOutcome:
        """Train on ``ids`` with the ``y`` (class per level) and ``row`` (index into ``teacher``) targets."""
        if "row" not in targets or "y" not in targets:
            raise ConfigError("distillation needs the 'row' and 'y' targets of each training row")
        rows = np.asarray(targets["row"], dtype=np.int64)
        y = np.asarray(targets["y"], dtype=np.int64)
        hard = self.labelled[rows]
        if self.args.loss != "ce" and hard.any():
            n_classes = (self.paths.max(dim=0).values + 1).tolist()
            self.weights = [
                class_weights(y[hard, lv], int(n), self.args.class_weight_power).to(self.device)
                for lv, n in enumerate(n_classes)
            ]
        self.paths = self.paths.to(self.device)
        return super().train(ids, targets, dist)

    def distillation_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = model(batch["input_ids"], batch["attention_mask"])
        rows = batch["row"].cpu().numpy()
        teacher = torch.from_numpy(self.teacher[rows]).to(logits[0].device)
        student = path_log_proba(logits, self.paths, self.temperature)
        kl = kl_rows(teacher, student) * self.temperature**2
        hard = torch.from_numpy(self.labelled[rows]).to(logits[0].device)
        soft_weight = torch.where(hard, torch.full_like(kl, self.alpha), torch.ones_like(kl))
        loss = (soft_weight * kl).sum()
        hard_sum = torch.zeros((), device=kl.device)
        if self.alpha < 1.0 and bool(hard.any()):
            args = self.args
            y = batch["y"][hard]
            for lv, lg in enumerate(logits):
                per_row = level_loss(
                    lg[hard], y[:, lv], args.loss, self.weights[lv], args.focal_gamma, args.label_smoothing, "none"
                )
                hard_sum = hard_sum + per_row.sum()
            loss = loss + (1.0 - self.alpha) * hard_sum
        self.parts["kl"] += float(kl.detach().sum())
        self.parts["hard"] += float(hard_sum.detach())
        self.parts["rows"] += len(rows)
        self.parts["labelled_rows"] += float(hard.sum())
        return loss / len(rows)
