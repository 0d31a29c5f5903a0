"""Training checkpoints: weights in safetensors, optimizer/scheduler/RNG state via ``torch.save`` (loaded with
``weights_only=True``), progress in JSON. Written atomically, so a kill mid-save keeps the previous one.

:func:`write_checkpoint` / :func:`read_checkpoint` fill and read one checkpoint folder; :func:`save_checkpoint` /
:func:`load_checkpoint` keep the local loop's ``DIR/last`` (swapped in atomically). A distributed run hands the
folder to its framework instead (Ray Train uploads it to the run's storage and gives the newest back on restart).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from skutag.fsutil import atomic_path, pinned

WEIGHTS = "weights.safetensors"
OPTIM = "optimizer.pt"
STATE = "trainer_state.json"
LAST = "last"


def write_checkpoint(
    folder: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any],
    best_weights: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write one checkpoint's files into ``folder`` (created when missing)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(folder / WEIGHTS))
    if best_weights is not None:
        save_file({k: v.contiguous() for k, v in best_weights.items()}, str(folder / ("best_" + WEIGHTS)))
    extra = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
    }
    torch.save(extra, folder / OPTIM)
    (folder / STATE).write_text(json.dumps(state, indent=1), "utf-8")
    return folder


def save_checkpoint(
    directory: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any],
    best_weights: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``directory/last`` (replacing the previous checkpoint atomically)."""
    target = Path(directory) / LAST
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        write_checkpoint(tmp, model, optimizer, scheduler, state, best_weights)
    return target


def has_checkpoint(directory: str | Path | None) -> bool:
    return directory is not None and (Path(directory) / LAST / STATE).is_file()


def read_checkpoint(
    folder: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None]:
    """Restore model, optimizer, scheduler and RNG from one checkpoint folder; return (trainer state, best weights)."""
    src = Path(folder)
    model.load_state_dict(load_file(str(src / WEIGHTS)))
    extra = torch.load(src / OPTIM, weights_only=True, map_location="cpu")
    optimizer.load_state_dict(extra["optimizer"])
    scheduler.load_state_dict(extra["scheduler"])
    torch.set_rng_state(extra["torch_rng"])
    best_path = src / ("best_" + WEIGHTS)
    best = load_file(str(best_path)) if best_path.is_file() else None
    state: dict[str, Any] = json.loads((src / STATE).read_text("utf-8"))
    return state, best


def load_checkpoint(
    directory: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None]:
    """Restore model, optimizer, scheduler and RNG from ``directory/last``; return (trainer state, best weights)."""
    # one checkpoint even if a save swaps the link meanwhile
    return read_checkpoint(pinned(Path(directory) / LAST), model, optimizer, scheduler)


def final_weights(folder: str | Path) -> dict[str, torch.Tensor]:
    """The weights a finished run ends with: the best epoch's when the checkpoint kept them, else the last."""
    best = Path(folder) / ("best_" + WEIGHTS)
    return load_file(str(best if best.is_file() else Path(folder) / WEIGHTS))


def read_state(folder: str | Path) -> dict[str, Any]:
    """The trainer state (progress, history, outcome) of one checkpoint folder."""
    state: dict[str, Any] = json.loads((Path(folder) / STATE).read_text("utf-8"))
    return state
