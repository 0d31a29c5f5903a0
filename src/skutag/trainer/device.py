"""Device choice: CUDA (with bf16 autocast) when present, else CPU with a set number of threads."""

from __future__ import annotations

import contextlib
import os
import random
from typing import Any

import numpy as np
import torch

from skutag.errors import ConfigError


def resolve_device(name: str = "auto", num_threads: int | None = None) -> torch.device:
    """``auto`` picks CUDA when available; on CPU, torch uses ``num_threads`` (default: all cores)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {name!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but no GPU is available")
    if device.type == "cpu":
        torch.set_num_threads(max(1, num_threads or os.cpu_count() or 1))
    return device


def autocast(device: torch.device, enabled: bool = True) -> Any:
    """bf16 autocast on CUDA when ``enabled``; a no-op context on CPU."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
