"""Fine-tuned transformer categoriser over any Hugging Face encoder (default: the bundled all-MiniLM-L6-v2).

Per-level heads on the mean-pooled encoder, class-weighted (or focal) loss, separate learning rates for the
pretrained encoder and the fresh heads, warm-up and decay, early stopping on a held-out split, checkpoints
with resume, hierarchy-consistent path decoding (see :mod:`skutag.models.paths`).
``train_layers`` = k fine-tunes only the top k encoder layers (partial fine-tuning, faster on CPU).
``encoder_layers`` = k keeps only k of the encoder's layers, evenly spaced from the first to the last (a shallow
student for distillation: 3 of MiniLM's 6 are layers 1, 3 and 6), which runs in about k / n of the time.
After fine-tuning, the training rows' pooled embeddings become a nearest-neighbour index whose path votes are
mixed with the heads' path distribution (see :mod:`skutag.models.neighbours.knn`).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any, Self, cast

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_model, save_model

from skutag.errors import ConfigError, ModelLoadError
from skutag.evaluation.metrics import level_f1
from skutag.log import get_logger
from skutag.models.neighbours.knn import NeighbourIndex, build_index, check_params, normalise_rows
from skutag.models.neural.encoder import (
    DEFAULT_ENCODER,
    check_vocabulary,
    field_texts,
    freeze_lower_layers,
    keep_layers,
    load_encoder,
    load_tokenizer,
    tokenize,
)
from skutag.models.neural.io import rebuild_encoder, save_tokenizer_and_config
from skutag.models.neural.net import HierClassifier
from skutag.models.neural.onnx import (
    ONNX_FILE,
    ONNX_INPUTS,
    OPSET,
    OnnxRunner,
    device_type,
    export_onnx,
    onnxruntime_available,
)
from skutag.models.neural.runtime import cached_runner, graph_state
from skutag.models.paths import (
    PathModel,
    decode_paths,
    encode_labels,
    fit_temperature,
    heldout_scores,
    holdout_split,
    path_log_scores,
    path_targets,
)
from skutag.trainer.arguments import TrainingArguments
from skutag.trainer.collator import PaddingCollator, sorted_batches
from skutag.trainer.device import autocast, resolve_device, seed_everything
from skutag.trainer.loop import Trainer, TrainerFactory, TrainOutcome
from skutag.trainer.losses import class_weights, level_loss

log = get_logger(__name__)

CONFIG_FILE = "transformer.json"
WEIGHTS_FILE = "model.safetensors"
KNN_FILE = "knn.safetensors"
RUNTIMES = ("auto", "onnx", "torch")


def fit_neighbour_index(
    model: Any,
    embeddings: np.ndarray,
    y: np.ndarray,
    held: tuple[np.ndarray, list[np.ndarray], np.ndarray] | None,
    seed: int,
    add_held: bool = True,
) -> tuple[NeighbourIndex, np.ndarray | None]:
    """The nearest-neighbour index of a fitted neural path model (its ``knn*`` settings, ``paths_`` and
    ``path_temperature_``) over training rows (``embeddings``, class targets ``y``); ``held`` = (embeddings, head
    logits, targets) of held-out rows tunes the mixing weight, then (``add_held``) joins the index. Also the model's
    path probabilities of the held-out rows (heads and votes mixed, before they joined), None without them."""
    paths = model.paths_
    held_rows = None
    if held is not None:
        head = decode_paths(held[1], paths, model.path_temperature_)
        held_rows = (held[0], path_targets(held[2], paths), head)
    held_y = held[2] if held is not None else np.zeros((0, paths.shape[1]), dtype=np.int64)

    def score(p: np.ndarray) -> float:
        return level_f1(held_y, paths[p.argmax(axis=1)])["score"]

    index = build_index(
        embeddings,
        path_targets(y, paths),
        len(paths),
        k=model.knn,
        temperature=model.knn_temperature,
        max_rows=model.knn_max_rows,
        weight=model.knn_weight,
        seed=seed,
        held=held_rows,
        score=score,
        add_held=False,
    )
    if index.tuning is not None:
        log.info("nearest-neighbour weight tuned on %d held-out rows: %s", len(held_y), index.tuning)
    mixed = None
    if held_rows is not None and len(held_rows[0]):
        mixed = index.mix(held_rows[2], normalise_rows(held_rows[0]))
        if add_held:
            index.extend(held_rows[0], held_rows[1], model.knn_max_rows, seed)
    return index, mixed


@dataclass
class _FitPlan:
    """The rows of one fit, prepared: all rows' class targets, the training rows' positions, token ids and targets,
    the held-out (or validation) rows' token ids and targets, and whether those were taken from the training rows."""

    n_rows: int
    train_idx: np.ndarray
    all_y: np.ndarray
    ids: list[list[int]]
    v_ids: list[list[int]]
    v_y: np.ndarray
    held_from_train: bool
    hold_idx: np.ndarray | None = None

    @property
    def y(self) -> np.ndarray:
        return self.all_y[self.train_idx]


def worker_trainer(
    params: dict[str, Any],
    texts: pd.DataFrame,
    labels: pd.DataFrame,
    valid: tuple[pd.DataFrame, pd.DataFrame] | None,
) -> tuple[Trainer, list[list[int]], dict[str, Any]]:
    """In a worker of a distributed fit: the trainer, token ids and targets a local fit of ``params`` on these rows
    would train with (the same labels, split, tokenizer and initial network: the same data and seed)."""
    model = TransformerModel(**params)
    plan = model._prepare(texts, labels, valid)
    return model._make_trainer(plan), plan.ids, {"y": plan.y}


#: What the held-out rows of a neural fit also served: :attr:`~skutag.models.base.HeldOutScores.note`.
HELD_OUT_NOTE = "they also chose its epoch, temperature and neighbour weight"


class TransformerModel(PathModel):
    """Fine-tuned encoder with per-level heads. Training hyperparameters are :class:`TrainingArguments`
    fields passed as keyword arguments (``epochs``, ``encoder_lr``, ``head_lr``, ``loss``, ...).
    ``quantize`` runs CPU inference with int8 dynamic quantisation (faster, slightly different probabilities);
    training and GPU inference are unaffected. ``runtime``: ``auto`` runs CPU inference on ONNX Runtime when the
    model has an exported graph (written by :meth:`save`), ``onnx`` always (exporting in memory if needed),
    ``torch`` never (and :meth:`save` then writes no graph).
    ``knn`` > 0 keeps the training rows' embeddings (at most ``knn_max_rows``, rarest paths kept first) as a
    nearest-neighbour index: the ``knn`` most similar rows vote for their paths (``knn_temperature`` scales the
    cosine similarities) and the votes are mixed into the path distribution with weight ``knn_weight``, tuned
    on the held-out rows when None (0.5 without held-out rows); ``knn=0`` uses the heads alone."""

    kind = "transformer"
    supports_neighbours = True
    has_neighbour_index = True
    fit_takes_valid = True
    trains_distributed = True

    def __init__(
        self,
        encoder: str = DEFAULT_ENCODER,
        fields: str = "title",
        train_layers: int | None = None,
        encoder_layers: int | None = None,
        dropout: float = 0.1,
        quantize: bool = False,
        runtime: str = "auto",
        knn: int = 10,
        knn_temperature: float = 0.05,
        knn_weight: float | None = None,
        knn_max_rows: int = 100_000,
        # the TrainingArguments fields, same names and defaults (a test holds them equal)
        epochs: int = 6,
        batch_size: int = 32,
        grad_accum: int = 1,
        encoder_lr: float = 8e-5,
        head_lr: float = 3e-3,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.06,
        max_grad_norm: float = 1.0,
        max_length: int = 48,
        loss: str = "weighted",
        focal_gamma: float = 2.0,
        class_weight_power: float = 0.5,
        label_smoothing: float = 0.0,
        patience: int = 2,
        valid_fraction: float = 0.1,
        seed: int = 0,
        device: str = "auto",
        mixed_precision: bool = True,
        num_threads: int | None = None,
        checkpoint_dir: str | None = None,
        checkpoint_every: int = 0,
        log_dir: str | None = None,
        progress_bar: bool = True,
        log_every: int = 50,
        max_unknown: float = 0.2,
        max_steps: int | None = None,
        bucket_size: int = 64,
        freeze_embeddings: bool = True,
    ) -> None:
        self.encoder = encoder
        self.fields = fields
        self.train_layers = train_layers
        self.encoder_layers = encoder_layers
        self.dropout = dropout
        self.quantize = quantize
        self.runtime = runtime
        self.knn = knn
        self.knn_temperature = knn_temperature
        self.knn_weight = knn_weight
        self.knn_max_rows = knn_max_rows
        self.epochs = epochs
        self.batch_size = batch_size
        self.grad_accum = grad_accum
        self.encoder_lr = encoder_lr
        self.head_lr = head_lr
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.max_grad_norm = max_grad_norm
        self.max_length = max_length
        self.loss = loss
        self.focal_gamma = focal_gamma
        self.class_weight_power = class_weight_power
        self.label_smoothing = label_smoothing
        self.patience = patience
        self.valid_fraction = valid_fraction
        self.seed = seed
        self.device = device
        self.mixed_precision = mixed_precision
        self.num_threads = num_threads
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.log_dir = log_dir
        self.progress_bar = progress_bar
        self.log_every = log_every
        self.max_unknown = max_unknown
        self.max_steps = max_steps
        self.bucket_size = bucket_size
        self.freeze_embeddings = freeze_embeddings

    @property
    def args(self) -> TrainingArguments:
        """The training hyperparameters as the trainer takes them, built from this model's own."""
        return TrainingArguments(**{f.name: getattr(self, f.name) for f in dataclass_fields(TrainingArguments)})

    def _validate_params(self) -> None:
        if self.fields not in ("title", "all"):
            raise ConfigError(f"fields must be 'title' or 'all', not {self.fields!r}")
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"runtime must be one of {', '.join(RUNTIMES)}, not {self.runtime!r}")
        check_params(self.knn, self.knn_temperature, self.knn_weight, self.knn_max_rows)
        if self.encoder_layers is not None and self.encoder_layers < 1:
            raise ConfigError(f"encoder_layers must be at least 1 (or null: all), not {self.encoder_layers}")
        _ = self.args  # building TrainingArguments checks loss, epochs, batch sizes and valid_fraction

    def _say(self, message: str) -> None:
        log.info(message)
        if self.progress is not None:
            self.progress(message)

    # ---- fitting --------------------------------------------------------------------------------
    def fit(
        self,
        texts: pd.DataFrame,
        labels: pd.DataFrame,
        valid: tuple[pd.DataFrame, pd.DataFrame] | None = None,
        *,
        trainer: TrainerFactory | None = None,
    ) -> Self:
        """Fine-tune; early stopping and calibration use ``valid`` when given, else a held-out fraction. With a
        :attr:`loop_runner` the fine-tuning loop runs there (each worker prepares the same rows and network from
        the same data and seed); the steps before and after it run here either way.

        ``trainer`` builds the training loop in place of :class:`~skutag.trainer.loop.Trainer` (same arguments): a
        subclass with its own loss, such as distillation's. Its targets are ``y`` (each training row's class per
        level) and ``row`` (the row's index in ``texts``); it is built once the label table is set, so it can read
        this model's :attr:`paths_`."""
        plan = self._prepare(texts, labels, valid)
        if self.loop_runner is None:
            loop = self._make_trainer(plan, trainer)
            self._say(f"fine-tuning on {len(plan.ids):,} rows ({len(plan.v_ids):,} held out) on {loop.device}")
            outcome = loop.train(plan.ids, {"y": plan.y, "row": np.asarray(plan.train_idx, dtype=np.int64)})
        else:
            if trainer is not None:
                raise ConfigError("a custom training loop (such as distillation's) does not run on Ray Train")
            self._say(f"fine-tuning on {len(plan.ids):,} rows ({len(plan.v_ids):,} held out), distributed")
            # a worker draws no bar and keeps no checkpoints or curves of its own: the runner keeps the checkpoints
            quiet = {"progress_bar": False, "checkpoint_dir": None, "log_dir": None}
            build = functools.partial(worker_trainer, {**self.get_params(), **quiet}, texts, labels, valid)
            outcome, weights = self.loop_runner(build)
            self.net_.load_state_dict(weights)
        self._finish(plan, outcome)
        return self

    def _prepare(
        self, texts: pd.DataFrame, labels: pd.DataFrame, valid: tuple[pd.DataFrame, pd.DataFrame] | None
    ) -> _FitPlan:
        """Labels, the held-out split, the tokenizer, the freshly initialised network and the tokenised rows."""
        self._validate_params()
        if len(texts) != len(labels):
            raise ConfigError(f"texts has {len(texts)} rows but labels has {len(labels)}")
        args = self.args
        enc = encode_labels(labels)
        self._set_labels(enc)
        self.text_columns_ = [str(c) for c in texts.columns]
        strings = field_texts(texts, self.fields)
        held_from_train = valid is None
        hold_idx = None
        if valid is not None:
            train_idx = np.arange(len(strings))
            v_enc = encode_labels(valid[1]) if len(valid[1]) else None
            v_strings = field_texts(valid[0][texts.columns], self.fields)
            v_y = self._map_y(v_enc) if v_enc is not None else np.zeros((0, len(self.classes_)), dtype=np.int64)
        else:
            train_idx, hold_idx = holdout_split(len(strings), args.valid_fraction, args.seed)
            v_strings = [strings[i] for i in hold_idx]
            v_y = enc.y[hold_idx]
        self._say(f"loading encoder {self.encoder}")
        self.tokenizer_ = load_tokenizer(self.encoder)
        encoder = load_encoder(self.encoder)
        if self.encoder_layers is not None:
            kept = keep_layers(encoder, self.encoder_layers)
            self._say(f"keeping encoder layers {', '.join(str(i + 1) for i in kept)}")
        freeze_lower_layers(encoder, self.train_layers, word_embeddings=args.freeze_embeddings)
        seed_everything(args.seed)  # head initialisation is reproducible
        self.net_ = HierClassifier(encoder, [len(c) for c in self.classes_], self.dropout)
        ids = tokenize(self.tokenizer_, [strings[i] for i in train_idx], args.max_length)
        check_vocabulary(self.tokenizer_, ids, args.max_unknown, "titles")
        v_ids = tokenize(self.tokenizer_, v_strings, args.max_length) if v_strings else []
        return _FitPlan(len(strings), train_idx, enc.y, ids, v_ids, v_y, held_from_train, hold_idx)

    def _make_trainer(self, plan: _FitPlan, trainer: TrainerFactory | None = None) -> Trainer:
        """The training loop over the prepared network: class-weighted loss, the validation score, two learning
        rates."""
        args = self.args
        weights = [class_weights(plan.y[:, lv], len(c), args.class_weight_power) for lv, c in enumerate(self.classes_)]
        device = resolve_device(args.device, args.num_threads)
        weights = [w.to(device) for w in weights]

        def compute_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            logits = model(batch["input_ids"], batch["attention_mask"])
            target = batch["y"]
            losses = [
                level_loss(lg, target[:, lv], args.loss, weights[lv], args.focal_gamma, args.label_smoothing)
                for lv, lg in enumerate(logits)
            ]
            return torch.stack(losses).sum()

        def evaluate(model: torch.nn.Module) -> dict[str, float]:
            logits = self._logits(plan.v_ids, cast(HierClassifier, model), device)[0]
            pred = self.paths_[decode_paths(logits, self.paths_).argmax(axis=1)]
            return level_f1(plan.v_y, pred)

        head_params = list(self.net_.heads.parameters())
        enc_params = [p for p in self.net_.encoder.parameters() if p.requires_grad]
        groups = [{"params": head_params, "lr": args.head_lr}]
        if enc_params:
            groups.insert(0, {"params": enc_params, "lr": args.encoder_lr})
        return (trainer or Trainer)(
            self.net_,
            args,
            compute_loss,
            groups,
            evaluate=evaluate if len(plan.v_ids) else None,
            pad_id=int(self.tokenizer_.pad_token_id or 0),
        )

    def _finish(self, plan: _FitPlan, outcome: TrainOutcome) -> None:
        """After fine-tuning: the path temperature, the nearest-neighbour index and the held-out scores."""
        device = resolve_device(self.args.device, self.args.num_threads)
        self.history_ = outcome.history
        self.outcome_ = outcome
        self.path_temperature_ = 1.0
        self.heldout_ = None
        v_ids, v_y = plan.v_ids, plan.v_y
        v_logits, v_pooled = self._logits(v_ids, self.net_, device) if len(v_ids) else ([], None)
        if len(v_ids):
            logp = [torch.log_softmax(torch.from_numpy(lg).double(), 1).numpy() for lg in v_logits]
            self.path_temperature_ = fit_temperature(path_log_scores(logp, self.paths_), path_targets(v_y, self.paths_))
        held_probs = self._fit_knn(
            plan.ids, plan.train_idx, plan.all_y, device, v_logits, v_pooled, v_y, plan.held_from_train
        )
        if plan.held_from_train and len(v_ids):  # rows of an explicit validation set are not training rows
            if held_probs is None:
                held_probs = decode_paths(v_logits, self.paths_, self.path_temperature_)
            self.heldout_ = heldout_scores(held_probs, v_y, self.paths_, plan.n_rows, HELD_OUT_NOTE, plan.hold_idx)
        self.net_.to("cpu")

    def _fit_knn(
        self,
        ids: list[list[int]],
        train_idx: np.ndarray,
        y: np.ndarray,
        device: torch.device,
        v_logits: list[np.ndarray],
        v_pooled: np.ndarray | None,
        v_y: np.ndarray,
        held_from_train: bool,
    ) -> np.ndarray | None:
        """The nearest-neighbour index over the training rows, its weight tuned on the held-out rows; held-out
        rows taken from the training data then join the index (an explicit validation set never does). Returns the
        held-out rows' path probabilities with the votes mixed in (None without an index)."""
        if self.knn == 0:
            self.knn_index_ = NeighbourIndex.empty()
            return None
        self._say(f"embedding {len(ids):,} training rows for the nearest-neighbour index")
        pooled = self._logits(ids, self.net_, device)[1]
        held = (v_pooled, v_logits, v_y) if v_pooled is not None and len(v_pooled) else None
        self.knn_index_, mixed = fit_neighbour_index(self, pooled, y[train_idx], held, self.args.seed, held_from_train)
        return mixed

    def neighbour_features(self, texts: pd.DataFrame | pd.Series | list[str]) -> np.ndarray:
        """Rows as this model sees them (normalised pooled embeddings), for nearest-neighbour search."""
        self._check_fitted()
        pooled = self._forward(texts)[1]
        if pooled is None:
            raise ModelLoadError("this model's ONNX graph has no pooled output (saved before it existed)")
        return pooled

    def add_neighbours(self, texts: pd.DataFrame, labels: pd.DataFrame) -> int:
        """Add labelled rows to the nearest-neighbour index without retraining (e.g. the rows an ensemble held out
        to tune its weights); returns how many joined (rows of unknown paths and models without an index: 0)."""
        self._check_fitted()
        _, pooled = self._forward(texts)
        if pooled is None:
            return 0
        return self.knn_index_.extend(pooled, self.path_ids(labels), self.knn_max_rows, self.args.seed)

    def _map_y(self, v_enc: Any) -> np.ndarray:
        """Validation targets in this model's class indices (-1 for classes unseen in training)."""
        index = [{c: i for i, c in enumerate(cl)} for cl in self.classes_]
        names = [[v_enc.classes[lv][c] for lv, c in enumerate(row)] for row in v_enc.y.tolist()]
        return np.array([[index[lv].get(n, -1) for lv, n in enumerate(row)] for row in names], dtype=np.int64)

    # ---- prediction -----------------------------------------------------------------------------
    def _logits(
        self, ids: list[list[int]], net: HierClassifier, device: torch.device, batch_size: int = 128
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Per-level logits and normalised pooled embeddings of tokenised rows (torch)."""
        if net.training or next(net.parameters()).device != device:
            net = net.to(device).eval()
        collate = PaddingCollator(pad_id=int(self.tokenizer_.pad_token_id or 0))
        out = [np.zeros((len(ids), len(c)), dtype=np.float32) for c in self.classes_]
        pooled_out = np.zeros((len(ids), int(self.net_.encoder.config.hidden_size)), dtype=np.float32)
        with torch.inference_mode():
            for idx in sorted_batches([len(s) for s in ids], batch_size):
                batch = {k: v.to(device) for k, v in collate([ids[i] for i in idx]).items()}
                with autocast(device, self.args.mixed_precision):
                    logits, pooled = net.forward_pooled(batch["input_ids"], batch["attention_mask"])
                for lv, lg in enumerate(logits):
                    out[lv][idx] = lg.float().cpu().numpy()
                pooled_out[idx] = pooled.float().cpu().numpy()
        return out, pooled_out

    def level_logits(self, texts: pd.DataFrame | pd.Series | list[str], batch_size: int = 128) -> list[np.ndarray]:
        """Raw per-level head outputs (rows x classes per level)."""
        return self._forward(texts, batch_size)[0]

    def _forward(
        self, texts: pd.DataFrame | pd.Series | list[str], batch_size: int = 128
    ) -> tuple[list[np.ndarray], np.ndarray | None]:
        """Per-level logits and pooled embeddings (None from an ONNX graph saved without them)."""
        frame = self._texts(texts)
        args = self.args
        ids = tokenize(self.tokenizer_, field_texts(frame[self.text_columns_], self.fields), args.max_length)
        if not ids:
            return [np.zeros((0, len(c)), dtype=np.float32) for c in self.classes_], None
        device = getattr(self, "device_", None)
        if device is None:
            device = self.device_ = resolve_device(args.device, args.num_threads)
        runner = self._onnx_runner(device)
        if runner is not None:
            return runner.run(ids, batch_size, int(self.tokenizer_.pad_token_id or 0))
        net: HierClassifier = self.net_
        if self.quantize and device.type == "cpu":
            net = self._quantized()
        return self._logits(ids, net, device, batch_size)

    def _onnx_runner(self, device: torch.device) -> OnnxRunner | None:
        """The ONNX Runtime session for CPU inference (None: use torch), cached per thread count and precision.

        Everything cached belongs to the current ``net_``: a refit network never runs on a stale graph."""
        if self.runtime == "torch" or (self.runtime == "auto" and device.type != "cpu"):
            return None
        state = graph_state(self, self.net_)
        if state.get("path") is None and self.runtime == "auto":
            return None
        if not onnxruntime_available():
            if self.runtime == "onnx":
                raise ConfigError("runtime='onnx' needs the package onnxruntime (pip install onnxruntime)")
            return None
        threads = max(1, int(self.args.num_threads or os.cpu_count() or 1))
        return cached_runner(
            state,
            threads,
            bool(self.quantize),
            lambda: export_onnx(self),
            lambda graph, n: OnnxRunner(graph, n, len(self.classes_)),
        )

    def _quantized(self) -> HierClassifier:
        """int8 dynamic quantisation of the encoder's linear layers (CPU inference only; heads stay float)."""
        if getattr(self, "quantized_", None) is None:
            import copy
            import warnings

            from torch.ao.quantization import quantize_dynamic

            net = copy.deepcopy(self.net_).eval()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net.encoder = quantize_dynamic(net.encoder, {torch.nn.Linear}, dtype=torch.qint8)
            self.quantized_ = net
        return self.quantized_

    def predict_path_proba(self, texts: pd.DataFrame | pd.Series | list[str], batch_size: int = 128) -> np.ndarray:
        """P(path) per row (heads mixed with nearest-neighbour votes when the model has an index); rows run through
        the network in length-sorted batches of ``batch_size``."""
        return self.path_proba_and_features(texts, batch_size)[0]

    def path_proba_and_features(
        self, texts: pd.DataFrame | pd.Series | list[str], batch_size: int = 128, neighbours: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`predict_path_proba` and :meth:`neighbour_features` from one pass through the network (None for
        the features of a graph saved without the pooled output); ``neighbours=False``: the heads' distribution
        alone, without the index's votes."""
        logits, pooled = self._forward(texts, batch_size)
        if len(logits[0]) == 0:
            return np.zeros((0, len(self.paths_))), np.zeros((0, int(self.net_.encoder.config.hidden_size)))
        probs = decode_paths(logits, self.paths_, self.path_temperature_)
        if not neighbours:
            return probs, pooled
        if pooled is None:
            if len(self.knn_index_) and self.knn_index_.weight > 0:
                raise ModelLoadError("this model's ONNX graph has no pooled output for its nearest-neighbour index")
            return probs, None
        return self.knn_index_.mix(probs, pooled), pooled

    # ---- persistence ----------------------------------------------------------------------------
    def _save_state(self, directory: Path) -> None:
        config = {
            "params": self.get_params(),
            **self.path_table_config(),
            "history": getattr(self, "history_", []),
            "knn_weight": self.knn_index_.weight,
            "knn_tuning": self.knn_index_.tuning,
        }
        if self.runtime != "torch":
            try:
                export_onnx(self, directory / ONNX_FILE)
                config["onnx"] = {"file": ONNX_FILE, "opset": OPSET, "inputs": list(ONNX_INPUTS)}
            except Exception as exc:  # the torch weights are enough to predict; ONNX is a speed-up
                if self.runtime == "onnx":
                    raise
                log.warning("ONNX export failed (%s: %s); this model will run on torch", type(exc).__name__, exc)
        (directory / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False), "utf-8")
        save_tokenizer_and_config(directory, self.tokenizer_, self.net_.encoder)
        save_model(self.net_, str(directory / WEIGHTS_FILE))
        self.knn_index_.save(directory / KNN_FILE)

    @classmethod
    def _load_state(cls, directory: Path, meta: dict[str, Any]) -> Self:

        config = json.loads((directory / CONFIG_FILE).read_text("utf-8"))
        params = dict(config["params"])
        params["progress_bar"] = False
        model = cls(**params)
        model.set_path_table(config)
        model.history_ = config.get("history", [])
        weight = float(config.get("knn_weight", 0.0))  # models saved before the index existed: heads only
        model.knn_index_ = NeighbourIndex.load(
            directory / KNN_FILE, model.knn, model.knn_temperature, weight, len(model.paths_)
        )
        model.knn_index_.tuning = config.get("knn_tuning")
        model.tokenizer_, encoder = rebuild_encoder(directory)
        model.net_ = HierClassifier(encoder, [len(c) for c in model.classes_], model.dropout)
        load_model(model.net_, str(directory / WEIGHTS_FILE))
        model.net_.eval()
        onnx = config.get("onnx")
        if onnx and model.runtime != "torch":
            path = directory / str(onnx["file"])
            if not path.is_file() or onnx["file"] not in meta.get("files", {}):
                raise ModelLoadError(f"{directory}: {onnx['file']} is missing or not listed in the model card")
            graph_state(model, model.net_)["path"] = path
            if onnxruntime_available() and device_type(model.args.device) == "cpu":
                model._onnx_runner(torch.device("cpu"))  # builds the session now: load fails on a bad graph
        return model
