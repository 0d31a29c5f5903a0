"""Structured pruning of a fine-tuned :class:`~skutag.models.neural.transformer.TransformerModel`: smaller matrices,
so ONNX Runtime runs fewer FLOPs (unstructured sparsity would not speed it up on CPU).

- **Layer dropping**: keep ``k`` of the encoder's layers, chosen greedily (drop the layer whose removal raises the
  held-out loss least, then again, until ``k`` remain) or evenly spaced (as the shallow distillation student keeps
  them; the only choice without labelled rows).
- **Attention-head pruning**: each head's importance is Michel et al. 2019's (the absolute gradient of the loss with
  respect to a gate on the head's output, summed over a few batches of labelled rows, normalised per layer by its
  L2 norm; without rows, the norm of the head's weights); the least important fraction of all heads is removed from
  the query, key, value and output projections (at least one head stays in each layer). Transformers 5 dropped
  ``prune_heads`` and ``head_mask``: the gate is a forward hook and the matrices are cut with
  ``prune_linear_layer``.
- **Recovery**: a short fine-tune of the pruned network on labelled rows, distilling the unpruned network's path
  distribution (:class:`~skutag.trainer.distill.DistillationTrainer`: teacher = the unpruned heads' path
  probabilities of each row, plus the row's own label).

A tenth of the recovery rows (at most :data:`HELD_OUT_MAX`) is held out: it chooses the layers, picks the recovery's
best epoch and refits the path temperature; the :class:`PruneReport` gives its loss and accuracy before pruning, after
pruning and after recovery. The nearest-neighbour index holds the unpruned encoder's embeddings: it is rebuilt from the
recovery rows, or dropped without them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, cast

import numpy as np
import pandas as pd
import torch

from skutag.errors import ConfigError
from skutag.log import get_logger
from skutag.models.neighbours.knn import NeighbourIndex
from skutag.models.neural.encoder import field_texts, freeze_lower_layers, select_layers, tokenize
from skutag.models.paths import decode_paths, fit_temperature, path_log_scores
from skutag.trainer.collator import PaddingCollator
from skutag.trainer.device import resolve_device, seed_everything
from skutag.trainer.losses import level_loss

log = get_logger(__name__)

LAYER_CHOICES = ("greedy", "even")
#: recovery rows held out to choose layers, pick the best epoch and refit the temperature (a tenth, at most this)
HELD_OUT_MAX = 800
#: labelled rows whose gradients rank the heads (Michel et al. used a few batches too)
IMPORTANCE_ROWS = 512
#: the recovery's learning rate unless told: this times the model's ``encoder_lr``. MWPD, MiniLM cut to 2 layers and
#: half its heads, one epoch on 1,800 offers: the model's 1e-4 recovered to 0.636 / 0.300 weighted / macro F1 on
#: validation, 3e-4 to 0.680 / 0.338, 1e-3 to 0.681 / 0.329
RECOVER_LR_FACTOR = 3.0
#: what the encoder's config records of the pruning (``config.json`` of the saved directory)
CONFIG_KEY = "skutag_pruning"


@dataclass
class PruneSettings:
    """What to prune and how to recover. ``layers``: keep this many encoder layers (None: all), chosen by
    ``layer_choice`` (``greedy`` or ``even``); ``heads``: the fraction of the attention heads removed; ``epochs`` of
    recovery (0: the rows only rank layers and heads); the recovery distils the unpruned model at ``temperature``,
    ``alpha`` being the teacher's share of a labelled row's loss; ``lr``: the recovery's learning rate, heads included
    (they are trained already; None: :data:`RECOVER_LR_FACTOR` times the model's ``encoder_lr``)."""

    layers: int | None = None
    heads: float = 0.0
    layer_choice: str = "greedy"
    epochs: int = 1
    temperature: float = 2.0
    alpha: float = 0.5
    lr: float | None = None
    seed: int = 0

    def check(self) -> None:
        if self.layers is not None and self.layers < 1:
            raise ConfigError(f"--prune-layers must keep at least 1 layer, not {self.layers}")
        if not 0.0 <= self.heads < 1.0:
            raise ConfigError(f"--prune-heads is the fraction of heads removed, in [0, 1), not {self.heads}")
        if self.layer_choice not in LAYER_CHOICES:
            raise ConfigError(f"--layer-choice must be one of {', '.join(LAYER_CHOICES)}, not {self.layer_choice!r}")
        if self.epochs < 0:
            raise ConfigError(f"--recover-epochs must be >= 0, not {self.epochs}")
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be > 0, not {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1], not {self.alpha}")
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"--recover-lr must be > 0, not {self.lr}")

    @property
    def active(self) -> bool:
        return self.layers is not None or self.heads > 0


@dataclass
class PruneReport:
    """What was pruned: the encoder layers kept (indices in the unpruned encoder), the heads kept in each of them
    (indices in the unpruned layer), how they were chosen, the recovery rows (used, held out, epochs) and the held-out
    scores (``unpruned``, ``pruned``, ``recovered``: path loss, path accuracy, agreement with the unpruned model)."""

    layers_before: int
    layers_kept: list[int]
    heads_before: int
    heads_kept: list[list[int]]
    layer_choice: str
    head_ranking: str
    recover_rows: int = 0
    held_out_rows: int = 0
    epochs: int = 0
    held_out: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def heads_after(self) -> int:
        return sum(len(h) for h in self.heads_kept)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "heads_after": self.heads_after}


@dataclass
class _Rows:
    """Tokenised rows: each one's path in the model's table (-1: no label, or a path the model has not seen) and the
    unpruned model's path probabilities."""

    ids: list[list[int]]
    path: np.ndarray
    teacher: np.ndarray

    def take(self, idx: np.ndarray) -> _Rows:
        return _Rows([self.ids[i] for i in idx], self.path[idx], self.teacher[idx])

    @property
    def labelled(self) -> np.ndarray:
        return self.path >= 0


# ---- the encoder's structure -------------------------------------------------------------------------------------
def encoder_layers(encoder: Any) -> list[Any]:
    stack = getattr(getattr(encoder, "encoder", None), "layer", None)
    if stack is None:
        raise ConfigError(f"cannot prune a {type(encoder).__name__}: no encoder.layer stack")
    return list(stack)


def attention_of(layer: Any) -> tuple[Any, Any]:
    """(self-attention, its output block) of a BERT-style layer (BERT, RoBERTa, XLM-R, MiniLM)."""
    attention = getattr(layer, "attention", None)
    att, out = getattr(attention, "self", None), getattr(attention, "output", None)
    names = ("query", "key", "value", "attention_head_size", "num_attention_heads")
    if att is None or out is None or not all(hasattr(att, n) for n in names) or not hasattr(out, "dense"):
        raise ConfigError(
            f"cannot prune the attention heads of a {type(layer).__name__}: BERT-style layers only "
            "(attention.self.query/key/value, attention.output.dense)"
        )
    return att, out


def head_counts(encoder: Any) -> list[int]:
    return [int(attention_of(layer)[0].num_attention_heads) for layer in encoder_layers(encoder)]


def remove_heads(encoder: Any, remove: Sequence[Sequence[int]]) -> None:
    """Cut heads ``remove[i]`` (indices among layer ``i``'s current heads) out of each layer's query, key, value and
    output matrices: the network does fewer multiplications, not just zeroes."""
    from transformers.pytorch_utils import prune_linear_layer

    for layer, heads in zip(encoder_layers(encoder), remove, strict=True):
        if not heads:
            continue
        att, out = attention_of(layer)
        size = int(att.attention_head_size)
        keep = [h for h in range(int(att.num_attention_heads)) if h not in set(heads)]
        if not keep:
            raise ConfigError("a layer must keep at least one attention head")
        index = cast(torch.LongTensor, torch.cat([torch.arange(h * size, (h + 1) * size) for h in keep]))
        att.query = prune_linear_layer(att.query, index)
        att.key = prune_linear_layer(att.key, index)
        att.value = prune_linear_layer(att.value, index)
        out.dense = prune_linear_layer(out.dense, index, dim=1)
        att.num_attention_heads = len(keep)
        att.all_head_size = size * len(keep)


def heads_to_remove(importance: Sequence[np.ndarray], fraction: float) -> list[list[int]]:
    """The ``fraction`` of all heads with the lowest importance (ranked across layers), at least one kept per layer."""
    n = round(fraction * sum(len(s) for s in importance))
    order = sorted((float(s[h]), lv, h) for lv, s in enumerate(importance) for h in range(len(s)))
    left = [len(s) for s in importance]
    out: list[list[int]] = [[] for _ in importance]
    for _, lv, h in order:
        if n == 0:
            break
        if left[lv] > 1:
            out[lv].append(h)
            left[lv] -= 1
            n -= 1
    return [sorted(r) for r in out]


def _per_layer(scores: Sequence[torch.Tensor]) -> list[np.ndarray]:
    """Each layer's scores divided by their L2 norm (Michel et al.: makes layers comparable)."""
    return [(s / s.norm().clamp_min(1e-12)).detach().cpu().numpy().astype(np.float64) for s in scores]


def weight_importance(encoder: Any) -> list[np.ndarray]:
    """Data-free head importance: the L2 norm of each head's rows of the query/key/value matrices and its columns of
    the output matrix (normalised per layer)."""
    scores = []
    for layer in encoder_layers(encoder):
        att, out = attention_of(layer)
        size, heads = int(att.attention_head_size), int(att.num_attention_heads)
        qkv = torch.cat([att.query.weight, att.key.weight, att.value.weight], dim=1).detach()  # (heads*size, 3*hid)
        rows = qkv.reshape(heads, size, -1).pow(2).sum(dim=(1, 2))
        cols = out.dense.weight.detach().reshape(out.dense.weight.shape[0], heads, size).pow(2).sum(dim=(0, 2))
        scores.append((rows + cols).sqrt())
    return _per_layer(scores)


def head_importance(
    net: Any, ids: Sequence[Sequence[int]], y: np.ndarray, device: torch.device, pad_id: int, batch_size: int = 32
) -> list[np.ndarray]:
    """Michel et al. 2019: ``|dL/dg_h|`` summed over the rows, ``g_h`` a gate (1) multiplying head ``h``'s output and
    ``L`` the per-level cross-entropy against ``y`` (class per level); normalised per layer."""
    net = net.to(device).eval()  # no dropout: the gradient of the network that will run
    atts = [attention_of(layer)[0] for layer in encoder_layers(net.encoder)]
    gates = [torch.ones(int(a.num_attention_heads), device=device, requires_grad=True) for a in atts]

    def gate(i: int) -> Callable[..., Any]:
        def hook(module: Any, inputs: Any, output: Any) -> Any:
            first = output[0] if isinstance(output, tuple) else output
            scaled = first * gates[i].repeat_interleave(int(module.attention_head_size)).to(first.dtype)
            return (scaled, *output[1:]) if isinstance(output, tuple) else scaled

        return hook

    handles = [a.register_forward_hook(gate(i)) for i, a in enumerate(atts)]
    totals = [torch.zeros_like(g) for g in gates]
    collate = PaddingCollator(pad_id=pad_id)
    try:
        with torch.enable_grad():
            for start in range(0, len(ids), batch_size):
                batch = {k: v.to(device) for k, v in collate(ids[start : start + batch_size]).items()}
                target = torch.as_tensor(y[start : start + batch_size], device=device)
                logits = net(batch["input_ids"], batch["attention_mask"])
                loss = torch.stack([level_loss(lg, target[:, lv], "ce", None) for lv, lg in enumerate(logits)]).sum()
                for total, grad in zip(totals, torch.autograd.grad(loss, gates), strict=True):
                    total += grad.abs()
    finally:
        for handle in handles:
            handle.remove()
    return _per_layer(totals)


# ---- held-out scores and the greedy layer choice -----------------------------------------------------------------
def _path_probs(model: Any, rows: _Rows, device: torch.device) -> np.ndarray:
    logits, _ = model._logits(rows.ids, model.net_, device)
    return decode_paths(logits, model.paths_)


def _scores(model: Any, rows: _Rows, device: torch.device) -> dict[str, float]:
    """Held-out path loss (negative log-likelihood of the true path) and accuracy on labelled rows; agreement of the
    best path with the unpruned model's on all rows."""
    probs = _path_probs(model, rows, device)
    out = {"agreement": round(float((probs.argmax(1) == rows.teacher.argmax(1)).mean()), 4)}
    ok = rows.labelled
    if ok.any():
        out["loss"] = round(float(-np.log(np.clip(probs[ok, rows.path[ok]], 1e-12, None)).mean()), 4)
        out["accuracy"] = round(float((probs[ok].argmax(1) == rows.path[ok]).mean()), 4)
    return out


def _damage(model: Any, rows: _Rows, device: torch.device) -> float:
    """The held-out loss the greedy choice minimises: the true paths' NLL, or KL to the unpruned model without
    labels."""
    probs = np.clip(_path_probs(model, rows, device), 1e-12, None)
    ok = rows.labelled
    if ok.any():
        return float(-np.log(probs[ok, rows.path[ok]]).mean())
    t = np.clip(rows.teacher, 1e-12, None)
    return float((rows.teacher * (np.log(t) - np.log(probs))).sum(1).mean())


def greedy_layers(
    model: Any, k: int, rows: _Rows, device: torch.device, progress: Callable[[str], None] | None = None
) -> list[int]:
    """Drop, one at a time, the layer whose removal raises the held-out loss least, until ``k`` remain; returns the
    kept layers' indices (the encoder is left whole)."""
    encoder = model.net_.encoder
    stack = encoder_layers(encoder)
    kept = list(range(len(stack)))
    try:
        while len(kept) > k:
            trials = []
            for i in kept:
                encoder.encoder.layer = torch.nn.ModuleList([stack[j] for j in kept if j != i])
                trials.append((_damage(model, rows, device), i))
            loss, worst = min(trials)
            kept.remove(worst)
            if progress is not None:
                progress(f"dropping layer {worst + 1} (held-out loss {loss:.3f}); {len(kept)} left")
    finally:
        encoder.encoder.layer = torch.nn.ModuleList(stack)
    return kept


# ---- the whole step ----------------------------------------------------------------------------------------------
def prune_transformer(
    model: Any,
    settings: PruneSettings,
    rows: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    progress: Callable[[str], None] | None = None,
) -> PruneReport:
    """Prune the fitted transformer ``model`` in place (layers, then heads), then recover on ``rows`` (texts with the
    model's text columns, labels level_1..n) when given; see the module docstring."""
    settings.check()
    t0 = time.perf_counter()

    def say(message: str) -> None:
        log.info(message)
        if progress is not None:
            progress(message)

    args = model.args
    device = resolve_device(args.device, args.num_threads)
    seed_everything(settings.seed)
    encoder = model.net_.encoder
    n_layers = len(encoder_layers(encoder))
    before_heads = head_counts(encoder)
    pad_id = int(model.tokenizer_.pad_token_id or 0)
    warnings: list[str] = []
    train = held = None
    if rows is not None and len(rows[0]):
        texts, labels = rows
        ids = tokenize(model.tokenizer_, field_texts(texts[model.text_columns_], model.fields), args.max_length)
        say(f"the unpruned model scoring {len(ids):,} recovery rows")
        everything = _Rows(ids, model.path_ids(labels), np.zeros((len(ids), 0)))
        everything.teacher = _path_probs(model, everything, device)
        order = np.random.default_rng(settings.seed).permutation(len(ids))
        n_held = min(HELD_OUT_MAX, len(ids) // 10)
        held = everything.take(np.sort(order[:n_held])) if n_held else None
        train = everything.take(np.sort(order[n_held:]))
    report = PruneReport(n_layers, list(range(n_layers)), sum(before_heads), [], settings.layer_choice, "none")
    if held is not None:
        report.held_out["unpruned"] = _scores(model, held, device)

    # layers
    k = settings.layers
    if k is not None and k < n_layers:
        if settings.layer_choice == "greedy" and held is not None:
            say(f"choosing {k} of {n_layers} layers greedily on {len(held.ids):,} held-out rows")
            kept = greedy_layers(model, k, held, device, progress)
        else:
            if settings.layer_choice == "greedy":
                warnings.append("no held-out recovery rows to choose layers on: kept evenly spaced layers")
                report.layer_choice = "even"
            kept = sorted({int(i) for i in np.linspace(0, n_layers - 1, k).round()})
        select_layers(encoder, kept)
        report.layers_kept = kept
    elif k is not None:
        warnings.append(f"--prune-layers {k}: the encoder has {n_layers} layers, none dropped")

    # heads
    kept_heads = [list(range(before_heads[i])) for i in report.layers_kept]
    if settings.heads > 0:
        labelled = train is not None and bool(train.labelled.any())
        if labelled and train is not None:
            pick = np.flatnonzero(train.labelled)
            pick = np.random.default_rng(settings.seed + 1).permutation(pick)[:IMPORTANCE_ROWS]
            say(f"ranking attention heads by gradient importance on {len(pick):,} rows")
            y = model.paths_[train.path[pick]].astype(np.int64)
            importance = head_importance(model.net_, [train.ids[i] for i in pick], y, device, pad_id)
            report.head_ranking = "gradient"
        else:
            warnings.append("no labelled recovery rows to rank heads on: ranked by their weights' norm")
            importance = weight_importance(encoder)
            report.head_ranking = "weight norm"
        remove = heads_to_remove(importance, settings.heads)
        remove_heads(encoder, remove)
        kept_heads = [[h for h in hs if h not in set(r)] for hs, r in zip(kept_heads, remove, strict=True)]
    report.heads_kept = kept_heads
    setattr(encoder.config, CONFIG_KEY, {"layers_kept": report.layers_kept, "heads_kept": kept_heads})
    _forget_graphs(model)
    say(f"pruned: {n_layers} -> {len(report.layers_kept)} layers, {report.heads_before} -> {report.heads_after} heads")
    if held is not None:
        report.held_out["pruned"] = _scores(model, held, device)

    # recovery
    if train is None:
        warnings.append("no --recover rows: pruned without a recovery fine-tune (expect lower accuracy)")
    elif settings.epochs > 0:
        report.recover_rows, report.epochs = len(train.ids), settings.epochs
        _recover(model, train, held, settings, device, pad_id, say)
    if held is not None:
        report.held_out_rows = len(held.ids)
        _refit_temperature(model, held, device)
        if report.epochs:
            report.held_out["recovered"] = _scores(model, held, device)
    _rebuild_neighbours(model, train, held, device, warnings, settings.seed)
    model.net_.to("cpu").eval()
    report.warnings = warnings
    report.seconds = round(time.perf_counter() - t0, 1)
    for w in warnings:
        log.warning(w)
    return report


def _forget_graphs(model: Any) -> None:
    """The cached ONNX graphs, runners and int8 copy belong to the unpruned network (the same object, changed)."""
    for name in ("onnx_state_", "quantized_"):
        model.__dict__.pop(name, None)


def _recover(
    model: Any,
    train: _Rows,
    held: _Rows | None,
    settings: PruneSettings,
    device: torch.device,
    pad_id: int,
    say: Callable[[str], None],
) -> None:
    """Distil the unpruned model's path distribution (and the labels) into the pruned network."""
    from skutag.trainer.distill import DistillationTrainer

    net = model.net_
    args = replace(
        model.args,
        epochs=settings.epochs,
        seed=settings.seed,
        patience=settings.epochs + 1,
        checkpoint_dir=None,
        checkpoint_every=0,
        log_dir=None,
        max_steps=None,
    )
    for param in net.parameters():
        param.requires_grad = True
    freeze_lower_layers(net.encoder, None, word_embeddings=args.freeze_embeddings)
    lr = settings.lr if settings.lr is not None else RECOVER_LR_FACTOR * args.encoder_lr
    groups = [{"params": [p for p in net.parameters() if p.requires_grad], "lr": lr}]
    labelled = train.labelled
    y = np.where(labelled[:, None], model.paths_[np.maximum(train.path, 0)], 0).astype(np.int64)
    evaluate = None
    if held is not None and held.labelled.any():

        def evaluate(_: torch.nn.Module) -> dict[str, float]:
            scores = _scores(model, held, device)
            return {"score": scores["accuracy"], "loss": scores["loss"]}

    trainer = DistillationTrainer(
        net,
        args,
        None,
        groups,
        evaluate,
        pad_id,
        teacher=train.teacher,
        labelled=labelled,
        paths=model.paths_,
        temperature=settings.temperature,
        alpha=settings.alpha,
    )
    say(f"recovery: {settings.epochs} epoch(s) on {len(train.ids):,} rows ({int(labelled.sum()):,} labelled)")
    trainer.train(train.ids, {"y": y, "row": np.arange(len(train.ids), dtype=np.int64)})
    net.eval()


def _refit_temperature(model: Any, held: _Rows, device: torch.device) -> None:
    logits, _ = model._logits(held.ids, model.net_, device)
    logp = [torch.log_softmax(torch.from_numpy(lg).double(), 1).numpy() for lg in logits]
    model.path_temperature_ = fit_temperature(path_log_scores(logp, model.paths_), held.path)


def _rebuild_neighbours(
    model: Any, train: _Rows | None, held: _Rows | None, device: torch.device, warnings: list[str], seed: int
) -> None:
    """The index holds the unpruned encoder's embeddings: rebuilt from the labelled recovery rows (weight tuned on the
    held-out ones, which then join), or dropped."""
    from skutag.models.neural.transformer import fit_neighbour_index

    if not len(model.knn_index_):
        return
    if train is None or not train.labelled.any():
        model.knn_index_ = NeighbourIndex.empty()
        warnings.append(
            "the nearest-neighbour index held the unpruned encoder's embeddings: dropped (no recovery rows)"
        )
        return
    mine = train.take(np.flatnonzero(train.labelled))
    pooled = model._logits(mine.ids, model.net_, device)[1]
    held_part = None
    if held is not None and held.labelled.any():
        h = held.take(np.flatnonzero(held.labelled))
        logits, h_pooled = model._logits(h.ids, model.net_, device)
        held_part = (h_pooled, logits, model.paths_[h.path])
    model.knn_index_, _ = fit_neighbour_index(model, pooled, model.paths_[mine.path], held_part, seed)
