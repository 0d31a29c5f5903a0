"""Multi-label tags: a fine-tuned encoder with a sigmoid head (one output per tag) and per-tag decision
thresholds tuned on held-out rows, for catalogues whose labels are sets of tags.

``fit(texts, tags)`` takes one list of tags per row; ``predict`` returns one list per row; ``predict_proba``
a rows x tags frame. Saved like the categorisers (JSON + safetensors + meta.json with checksums).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_model, save_model
from torch import nn

from skutag.errors import ConfigError, ModelLoadError, NotFittedError
from skutag.log import get_logger
from skutag.models.card import open_artefact, save_artefact
from skutag.models.neural.encoder import (
    DEFAULT_ENCODER,
    check_vocabulary,
    freeze_lower_layers,
    load_encoder,
    load_tokenizer,
    mean_pool,
    tokenize,
)
from skutag.models.neural.io import rebuild_encoder, save_tokenizer_and_config
from skutag.models.paths import holdout_split
from skutag.trainer.arguments import TrainingArguments
from skutag.trainer.collator import PaddingCollator, sorted_batches
from skutag.trainer.device import autocast, resolve_device, seed_everything
from skutag.trainer.loop import Trainer

log = get_logger(__name__)

CONFIG_FILE = "tagger.json"
WEIGHTS_FILE = "model.safetensors"
THRESHOLD_GRID = np.round(np.arange(0.05, 0.96, 0.05), 2)


class SigmoidTagger(nn.Module):
    def __init__(self, encoder: Any, n_tags: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(int(encoder.config.hidden_size), n_tags)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(self.dropout(mean_pool(hidden, attention_mask)))


def tune_thresholds(probs: np.ndarray, truth: np.ndarray, default: float = 0.5) -> np.ndarray:
    """Per tag, the grid threshold maximising that tag's F1 on held-out rows (``default`` without positives)."""
    out = np.full(probs.shape[1], default)
    for j in range(probs.shape[1]):
        t = truth[:, j].astype(bool)
        if not t.any():
            continue
        best = -1.0
        for th in THRESHOLD_GRID:
            p = probs[:, j] >= th
            tp = float((p & t).sum())
            f1 = 2 * tp / (p.sum() + t.sum()) if p.sum() + t.sum() else 0.0
            if f1 > best:
                best, out[j] = f1, th
    return out


class TransformerTagger:
    """Multi-label tagger; training hyperparameters are :class:`TrainingArguments` fields."""

    kind = "tagger"

    def __init__(self, encoder: str = DEFAULT_ENCODER, dropout: float = 0.1, **training: Any) -> None:
        self.encoder = encoder
        self.dropout = dropout
        self.training = TrainingArguments.from_dict({"loss": "ce", **training}).to_dict()

    @property
    def args(self) -> TrainingArguments:
        return TrainingArguments.from_dict(self.training)

    def get_params(self) -> dict[str, Any]:
        return {"encoder": self.encoder, "dropout": self.dropout, **self.training}

    def _check_fitted(self) -> None:
        if not hasattr(self, "tags_"):
            raise NotFittedError("this TransformerTagger is not fitted; call fit() or load() first")

    def fit(self, texts: Sequence[str], tags: Sequence[Sequence[str]]) -> Self:
        if len(texts) != len(tags):
            raise ConfigError(f"{len(texts)} texts but {len(tags)} tag lists")
        self.tags_ = sorted({str(t) for row in tags for t in row})
        if not self.tags_:
            raise ConfigError("no tags to learn")
        col = {t: j for j, t in enumerate(self.tags_)}
        y = np.zeros((len(texts), len(self.tags_)), dtype=np.float32)
        for i, row in enumerate(tags):
            for t in row:
                y[i, col[str(t)]] = 1.0
        args = self.args
        self.tokenizer_ = load_tokenizer(self.encoder)
        seed_everything(args.seed)  # head initialisation is reproducible
        encoder = load_encoder(self.encoder)
        freeze_lower_layers(encoder, None, word_embeddings=args.freeze_embeddings)
        self.net_ = SigmoidTagger(encoder, len(self.tags_), self.dropout)
        ids = tokenize(self.tokenizer_, [str(t) for t in texts], args.max_length)
        check_vocabulary(self.tokenizer_, ids, args.max_unknown)
        train_idx, hold_idx = holdout_split(len(ids), args.valid_fraction, args.seed)
        pos = y[train_idx].sum(0)
        pos_weight = torch.tensor(np.clip((len(train_idx) - pos) / np.maximum(pos, 1), 1.0, 50.0) ** 0.5)
        device = resolve_device(args.device, args.num_threads)
        pos_weight = pos_weight.float().to(device)

        def compute_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            logits = model(batch["input_ids"], batch["attention_mask"]).float()
            return nn.functional.binary_cross_entropy_with_logits(logits, batch["y"].float(), pos_weight=pos_weight)

        def evaluate(model: nn.Module) -> dict[str, float]:
            probs = self._probs([ids[i] for i in hold_idx], model, device)
            pred = probs >= 0.5
            t = y[hold_idx].astype(bool)
            tp = float((pred & t).sum())
            return {"score": 2 * tp / max(1.0, float(pred.sum() + t.sum()))}

        groups = [
            {"params": list(self.net_.encoder.parameters()), "lr": args.encoder_lr},
            {"params": list(self.net_.head.parameters()), "lr": args.head_lr},
        ]
        trainer = Trainer(
            self.net_,
            args,
            compute_loss,
            groups,
            evaluate if len(hold_idx) else None,
            int(self.tokenizer_.pad_token_id or 0),
        )
        self.outcome_ = trainer.train([ids[i] for i in train_idx], {"y": y[train_idx]})
        self.thresholds_ = np.full(len(self.tags_), 0.5)
        if len(hold_idx):
            self.thresholds_ = tune_thresholds(self._probs([ids[i] for i in hold_idx], self.net_, device), y[hold_idx])
        self.net_.to("cpu")
        return self

    def _probs(self, ids: list[list[int]], net: nn.Module, device: torch.device) -> np.ndarray:
        net = net.to(device).eval()
        collate = PaddingCollator(pad_id=int(self.tokenizer_.pad_token_id or 0))
        out = np.zeros((len(ids), len(self.tags_)), dtype=np.float32)
        with torch.inference_mode():
            for idx in sorted_batches([len(s) for s in ids], 128):
                b = {k: v.to(device) for k, v in collate([ids[i] for i in idx]).items()}
                with autocast(device, self.args.mixed_precision):
                    out[idx] = torch.sigmoid(net(b["input_ids"], b["attention_mask"]).float()).cpu().numpy()
        return out

    def predict_proba(self, texts: Sequence[str]) -> pd.DataFrame:
        self._check_fitted()
        ids = tokenize(self.tokenizer_, [str(t) for t in texts], self.args.max_length) if len(texts) else []
        device = resolve_device(self.args.device, self.args.num_threads)
        return pd.DataFrame(self._probs(ids, self.net_, device), columns=self.tags_)

    def predict(self, texts: Sequence[str]) -> list[list[str]]:
        """Tags whose probability reaches their tuned threshold, per row."""
        probs = self.predict_proba(texts).to_numpy()
        return [[self.tags_[j] for j in np.flatnonzero(row >= self.thresholds_)] for row in probs]

    def save(self, directory: str | Path) -> Path:
        self._check_fitted()

        def write_state(tmp: Path) -> None:
            config = {"params": self.get_params(), "tags": self.tags_, "thresholds": self.thresholds_.tolist()}
            (tmp / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False), "utf-8")
            save_tokenizer_and_config(tmp, self.tokenizer_, self.net_.encoder)
            save_model(self.net_, str(tmp / WEIGHTS_FILE))

        return save_artefact(directory, self.kind, write_state)

    @classmethod
    def load(cls, directory: str | Path) -> TransformerTagger:
        directory, _ = open_artefact(directory, cls.kind)
        try:
            config = json.loads((directory / CONFIG_FILE).read_text("utf-8"))
            model = cls(**{**config["params"], "progress_bar": False})
            model.tags_ = [str(t) for t in config["tags"]]
            model.thresholds_ = np.asarray(config["thresholds"], dtype=np.float64)
            model.tokenizer_, encoder = rebuild_encoder(directory)
            model.net_ = SigmoidTagger(encoder, len(model.tags_), model.dropout)
            load_model(model.net_, str(directory / WEIGHTS_FILE))
        except Exception as exc:
            raise ModelLoadError(f"{directory}: cannot load tagger ({type(exc).__name__}: {exc})") from exc
        model.net_.eval()
        return model
