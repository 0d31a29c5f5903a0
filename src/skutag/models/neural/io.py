"""Saving and rebuilding an encoder inside a model directory without any download: the Hugging Face config as
``config.json``, tokenizer files beside it, weights in safetensors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skutag.errors import ModelLoadError


def save_tokenizer_and_config(directory: Path, tokenizer: Any, encoder: Any) -> None:
    """Tokenizer files and the encoder's ``config.json``, flat in ``directory`` (all get checksummed)."""
    tokenizer.save_pretrained(str(directory))
    encoder.config.to_json_file(str(directory / "config.json"))
    for extra in directory.iterdir():
        if extra.is_dir():  # some tokenizers write sub-folders we do not need
            raise ModelLoadError(f"unexpected folder {extra.name!r} written by the tokenizer")


def rebuild_encoder(directory: Path) -> tuple[Any, Any]:
    """(tokenizer, randomly initialised encoder of the saved architecture); the caller loads the weights."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    config = AutoConfig.from_pretrained(str(directory))
    encoder = AutoModel.from_config(config).float()
    tokenizer = AutoTokenizer.from_pretrained(str(directory))
    return tokenizer, encoder
