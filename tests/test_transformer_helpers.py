"""Shared helpers for the neural-model tests: a tiny random BERT with the bundled MiniLM tokenizer, and a small
synthetic hierarchical catalogue whose category is readable from the title."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

TREE = {
    ("Food", "Fruit"): ["apple", "banana", "cherry", "mango"],
    ("Food", "Dairy"): ["cheese", "yogurt", "butter", "milk"],
    ("Tools", "Hand"): ["hammer", "wrench", "pliers", "screwdriver"],
    ("Tools", "Power"): ["drill", "saw", "sander", "grinder"],
}


def tiny_encoder(directory: Path, seed: int = 0) -> str:
    """Save a 2-layer, 32-wide random BERT (MiniLM tokenizer) to ``directory``; returns the path."""
    from transformers import BertConfig, BertModel

    from skutag.models.neural.encoder import load_tokenizer

    if (directory / "config.json").is_file():
        return str(directory)
    tok = load_tokenizer(None)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    BertModel(config).save_pretrained(str(directory))
    tok.save_pretrained(str(directory))
    return str(directory)


def synthetic_catalogue(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(texts with a 'title' column, labels level_1/level_2): each title names a word of its category."""
    rng = np.random.default_rng(seed)
    keys = list(TREE)
    rows, labels = [], []
    for i in range(n):
        path = keys[i % len(keys)]
        word = TREE[path][rng.integers(len(TREE[path]))]
        rows.append(f"{word} {rng.choice(['best', 'new', 'cheap', 'great'])} {word} item {rng.integers(100)}")
        labels.append(path)
    texts = pd.DataFrame({"title": rows})
    return texts, pd.DataFrame(labels, columns=["level_1", "level_2"])


#: the tiny encoder is random: its token embeddings must train too
FAST_TRAINING = {
    "epochs": 3,
    "batch_size": 16,
    "head_lr": 1e-2,
    "encoder_lr": 1e-3,
    "progress_bar": False,
    "freeze_embeddings": False,
}
