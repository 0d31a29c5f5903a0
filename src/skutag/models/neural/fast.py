"""Fast CPU mode: frozen-encoder embeddings (cached on disk) plus small per-level heads trained in seconds, mixed
with nearest-neighbour path votes of the training rows (see :mod:`skutag.models.neighbours.knn`).

Same contract and path decoding as :class:`~skutag.models.neural.transformer.TransformerModel`. For partial
fine-tuning (top encoder layers only) use ``TransformerModel(train_layers=k)``; ``benchmarks/bench_transformer``
measures the quality/time trade-off of the three.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_model, save_model

from skutag.errors import ConfigError
from skutag.evaluation.metrics import level_f1
from skutag.log import get_logger
from skutag.models.neighbours.knn import NeighbourIndex, check_params
from skutag.models.neural.encoder import (
    DEFAULT_ENCODER,
    embed,
    field_texts,
    load_encoder,
    load_tokenizer,
    resolve_encoder,
    tokenize,
)
from skutag.models.neural.fast_cache import cache_key, cached_embeddings, default_cache_dir, encoder_fingerprint
from skutag.models.neural.io import rebuild_encoder, save_tokenizer_and_config
from skutag.models.neural.net import LevelHeads
from skutag.models.neural.transformer import HELD_OUT_NOTE, fit_neighbour_index
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
from skutag.trainer.arguments import LOSSES
from skutag.trainer.callbacks import EarlyStopping
from skutag.trainer.device import resolve_device, seed_everything
from skutag.trainer.loop import make_optimizer
from skutag.trainer.losses import class_weights, level_loss

log = get_logger(__name__)

# the cache pays for refitting on the same rows (tuning runs); below this many texts it is not consulted
MIN_CACHED_ROWS = 256

CONFIG_FILE = "fast.json"
HEADS_FILE = "heads.safetensors"
ENCODER_FILE = "encoder.safetensors"
KNN_FILE = "knn.safetensors"


class FastModel(PathModel):
    """Frozen encoder + per-level heads (linear, or one hidden layer with ``hidden`` > 0); ``knn`` > 0 mixes in
    the votes of the ``knn`` most similar training rows, as :class:`~skutag.models.neural.transformer.TransformerModel`
    does (weight tuned on the held-out rows when ``knn_weight`` is None)."""

    kind = "fast"
    supports_neighbours = True
    has_neighbour_index = True
    fit_takes_valid = True

    def __init__(
        self,
        encoder: str = DEFAULT_ENCODER,
        fields: str = "title",
        max_length: int = 64,
        cache_dir: str | None = "default",
        hidden: int = 0,
        dropout: float = 0.1,
        epochs: int = 200,
        lr: float = 3e-3,
        batch_size: int = 256,
        weight_decay: float = 1e-4,
        loss: str = "weighted",
        class_weight_power: float = 0.5,
        patience: int = 15,
        valid_fraction: float = 0.1,
        seed: int = 0,
        device: str = "auto",
        num_threads: int | None = None,
        encode_batch_size: int = 128,
        knn: int = 10,
        knn_temperature: float = 0.05,
        knn_weight: float | None = None,
        knn_max_rows: int = 100_000,
    ) -> None:
        self.encoder = encoder
        self.fields = fields
        self.max_length = max_length
        self.cache_dir = cache_dir
        self.hidden = hidden
        self.dropout = dropout
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.loss = loss
        self.class_weight_power = class_weight_power
        self.patience = patience
        self.valid_fraction = valid_fraction
        self.seed = seed
        self.device = device
        self.num_threads = num_threads
        self.encode_batch_size = encode_batch_size
        self.knn = knn
        self.knn_temperature = knn_temperature
        self.knn_weight = knn_weight
        self.knn_max_rows = knn_max_rows

    def _validate_params(self) -> None:
        if self.fields not in ("title", "all"):
            raise ConfigError(f"fields must be 'title' or 'all', not {self.fields!r}")
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss {self.loss!r}; choose from {LOSSES}")
        check_params(self.knn, self.knn_temperature, self.knn_weight, self.knn_max_rows)

    def _cache(self) -> Path | None:
        if self.cache_dir in (None, "", "none"):
            return None
        return default_cache_dir() if self.cache_dir == "default" else Path(str(self.cache_dir))

    def embed_texts(self, strings: list[str]) -> np.ndarray:
        """Frozen-encoder embeddings of ``strings`` (through the on-disk cache)."""
        device = resolve_device(self.device, self.num_threads)

        def compute() -> np.ndarray:
            ids = tokenize(self.tokenizer_, strings, self.max_length)
            if self.progress is not None:
                self.progress(f"encoding {len(ids):,} texts")
            pad = int(self.tokenizer_.pad_token_id or 0)
            return embed(self.encoder_, ids, device, self.encode_batch_size, pad, progress=True)

        if len(strings) < MIN_CACHED_ROWS:  # a served request or a small file: a file per call would only pile up
            return compute()
        key = cache_key(self.fingerprint_, self.max_length, strings)
        values, hit = cached_embeddings(self._cache(), key, compute)
        if hit:
            log.info("embedding cache hit (%d rows)", len(strings))
        return values

    def fit(
        self, texts: pd.DataFrame, labels: pd.DataFrame, valid: tuple[pd.DataFrame, pd.DataFrame] | None = None
    ) -> Self:
        self._validate_params()
        if len(texts) != len(labels):
            raise ConfigError(f"texts has {len(texts)} rows but labels has {len(labels)}")
        t0 = time.perf_counter()
        enc = encode_labels(labels)
        self._set_labels(enc)
        self.text_columns_ = [str(c) for c in texts.columns]
        self.tokenizer_ = load_tokenizer(self.encoder)
        self.encoder_ = load_encoder(self.encoder).eval()
        for p in self.encoder_.parameters():
            p.requires_grad = False
        self.fingerprint_ = encoder_fingerprint(resolve_encoder(self.encoder))
        x = self.embed_texts(field_texts(texts, self.fields))
        t_embed = time.perf_counter() - t0
        train_idx, hold_idx = holdout_split(len(x), self.valid_fraction, self.seed)
        seed_everything(self.seed)
        self.heads_ = LevelHeads(x.shape[1], [len(c) for c in self.classes_], self.dropout, self.hidden)
        self._train_heads(x[train_idx], enc.y[train_idx], x[hold_idx], enc.y[hold_idx])
        self.path_temperature_ = 1.0
        if len(hold_idx):
            logits = self._head_logits(x[hold_idx])
            logp = [torch.log_softmax(torch.from_numpy(lg).double(), 1).numpy() for lg in logits]
            targets = path_targets(enc.y[hold_idx], self.paths_)
            self.path_temperature_ = fit_temperature(path_log_scores(logp, self.paths_), targets)
        held_probs = self._fit_knn(x, enc.y, train_idx, hold_idx)
        self.heldout_ = None
        if len(hold_idx):
            if held_probs is None:
                held_probs = decode_paths(self._head_logits(x[hold_idx]), self.paths_, self.path_temperature_)
            self.heldout_ = heldout_scores(held_probs, enc.y[hold_idx], self.paths_, len(x), HELD_OUT_NOTE)
        self.timings_ = {"embed_seconds": t_embed, "total_seconds": time.perf_counter() - t0}
        return self

    def _fit_knn(self, x: np.ndarray, y: np.ndarray, train_idx: np.ndarray, hold_idx: np.ndarray) -> np.ndarray | None:
        """Index of the training rows' embeddings; weight tuned on the held-out rows, which then join it. Returns
        the held-out rows' path probabilities with the votes mixed in (None without an index)."""
        if self.knn == 0:
            self.knn_index_ = NeighbourIndex.empty()
            return None
        held = (x[hold_idx], self._head_logits(x[hold_idx]), y[hold_idx]) if len(hold_idx) else None
        self.knn_index_, mixed = fit_neighbour_index(self, x[train_idx], y[train_idx], held, self.seed)
        return mixed

    def neighbour_features(self, texts: pd.DataFrame | pd.Series | list[str]) -> np.ndarray:
        """Rows as this model sees them (frozen-encoder embeddings), for nearest-neighbour search."""
        self._check_fitted()
        frame = self._texts(texts)
        return self.embed_texts(field_texts(frame[self.text_columns_], self.fields))

    def add_neighbours(self, texts: pd.DataFrame, labels: pd.DataFrame) -> int:
        """Add labelled rows to the nearest-neighbour index without retraining; returns how many joined."""
        x = self.neighbour_features(texts)
        return self.knn_index_.extend(x, self.path_ids(labels), self.knn_max_rows, self.seed)

    def _train_heads(self, x: np.ndarray, y: np.ndarray, vx: np.ndarray, vy: np.ndarray) -> None:
        seed_everything(self.seed)
        heads = self.heads_
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        weights = [class_weights(y[:, lv], len(c), self.class_weight_power) for lv, c in enumerate(self.classes_)]
        opt = make_optimizer([{"params": list(heads.parameters()), "lr": self.lr}], self.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.epochs)
        stopper = EarlyStopping(self.patience)
        best: dict[str, torch.Tensor] | None = None
        rng = np.random.default_rng(self.seed)
        self.history_: list[dict[str, float]] = []
        for epoch in range(self.epochs):
            heads.train()
            order = torch.from_numpy(rng.permutation(len(xt)))
            total = 0.0
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                logits = heads(xt[idx])
                loss = torch.stack(
                    [level_loss(lg, yt[idx, lv], self.loss, weights[lv]) for lv, lg in enumerate(logits)]
                ).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            sched.step()
            record = {"epoch": float(epoch + 1), "train_loss": total / max(1, len(xt))}
            if len(vx):
                pred = self.paths_[decode_paths(self._head_logits(vx), self.paths_).argmax(axis=1)]
                metrics = level_f1(vy, pred)
                record.update({f"valid_{k}": v for k, v in metrics.items()})
                if stopper.improved(metrics["score"]):
                    best = {k: v.detach().clone() for k, v in heads.state_dict().items()}
                if stopper.should_stop:
                    self.history_.append(record)
                    break
            self.history_.append(record)
        if best is not None:
            heads.load_state_dict(best)
        heads.eval()

    def _head_logits(self, x: np.ndarray) -> list[np.ndarray]:
        self.heads_.eval()
        with torch.inference_mode():
            return [lg.numpy() for lg in self.heads_(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))]

    def predict_path_proba(self, texts: pd.DataFrame | pd.Series | list[str]) -> np.ndarray:
        frame = self._texts(texts)
        if len(frame) == 0:
            return np.zeros((0, len(self.paths_)))
        return self.path_proba_and_features(frame)[0]

    def path_proba_and_features(
        self, texts: pd.DataFrame | pd.Series | list[str], neighbours: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict_path_proba` and :meth:`neighbour_features` from one embedding pass; ``neighbours=False``:
        the heads' distribution alone, without the index's votes."""
        x = self.neighbour_features(texts)
        heads = decode_paths(self._head_logits(x), self.paths_, self.path_temperature_)
        return (self.knn_index_.mix(heads, x) if neighbours else heads), x

    # ---- persistence ----------------------------------------------------------------------------
    def _save_state(self, directory: Path) -> None:
        config = {
            "params": self.get_params(),
            **self.path_table_config(),
            "fingerprint": self.fingerprint_,
            "history": getattr(self, "history_", []),
            "knn_weight": self.knn_index_.weight,
            "knn_tuning": self.knn_index_.tuning,
        }
        (directory / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False), "utf-8")
        save_tokenizer_and_config(directory, self.tokenizer_, self.encoder_)
        save_model(self.encoder_, str(directory / ENCODER_FILE))
        save_model(self.heads_, str(directory / HEADS_FILE))
        self.knn_index_.save(directory / KNN_FILE)

    @classmethod
    def _load_state(cls, directory: Path, meta: dict[str, Any]) -> Self:

        config = json.loads((directory / CONFIG_FILE).read_text("utf-8"))
        model = cls(**config["params"])
        model.set_path_table(config)
        model.fingerprint_ = str(config["fingerprint"])
        model.history_ = config.get("history", [])
        model.tokenizer_, model.encoder_ = rebuild_encoder(directory)
        load_model(model.encoder_, str(directory / ENCODER_FILE))
        model.encoder_.eval()
        dim = int(model.encoder_.config.hidden_size)
        model.heads_ = LevelHeads(dim, [len(c) for c in model.classes_], model.dropout, model.hidden)
        load_model(model.heads_, str(directory / HEADS_FILE))
        model.heads_.eval()
        weight = float(config.get("knn_weight", 0.0))  # models saved before the index existed: heads only
        model.knn_index_ = NeighbourIndex.load(
            directory / KNN_FILE, model.knn, model.knn_temperature, weight, len(model.paths_)
        )
        model.knn_index_.tuning = config.get("knn_tuning")
        return model
