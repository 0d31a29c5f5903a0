"""Training callbacks: early stopping on a validation score, and curves saved as PNG and TensorBoard logs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from skutag.fsutil import atomic_write_text
from skutag.log import get_logger

log = get_logger(__name__)


class EarlyStopping:
    """Stop when the score has not improved for ``patience`` evaluations (``patience`` <= 0 never stops)."""

    def __init__(self, patience: int = 2, min_delta: float = 1e-4) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best = -math.inf
        self.bad = 0

    def improved(self, score: float) -> bool:
        """Record ``score``; True when it is the best so far."""
        if score > self.best + self.min_delta:
            self.best = score
            self.bad = 0
            return True
        self.bad += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad >= self.patience

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "bad": self.bad}

    def load(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.bad = int(state["bad"])


class CurveLogger:
    """Per-epoch history (loss and metrics) written to ``log_dir``: history.json, curves.png, TensorBoard events."""

    def __init__(self, log_dir: str | Path | None) -> None:
        self.dir = Path(log_dir) if log_dir else None
        self.history: list[dict[str, float]] = []
        self._writer: Any = None

    def _tb(self) -> Any:
        if self._writer is None and self.dir is not None:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:  # pragma: no cover - optional
                log.warning("tensorboardX is not installed; no TensorBoard logs")
                self._writer = False
            else:
                self._writer = SummaryWriter(str(self.dir / "tensorboard"))
        return self._writer or None

    def step(self, step: int, values: dict[str, float]) -> None:
        """Log step-level scalars (training loss) to TensorBoard only."""
        writer = self._tb()
        if writer is not None:
            for key, value in values.items():
                writer.add_scalar(f"step/{key}", value, step)

    def epoch(self, record: dict[str, float]) -> None:
        """Append one epoch's record and refresh the files."""
        self.history.append(dict(record))
        if self.dir is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        writer = self._tb()
        if writer is not None:
            ep = int(record.get("epoch", len(self.history)))
            for key, value in record.items():
                if key != "epoch":
                    writer.add_scalar(f"epoch/{key}", value, ep)
            writer.flush()
        atomic_write_text(self.dir / "history.json", json.dumps(self.history, indent=1))
        self.plot()

    def plot(self) -> Path | None:
        """curves.png: losses on the left, validation metrics on the right."""
        if self.dir is None or not self.history:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        keys = sorted({k for r in self.history for k in r if k != "epoch"})
        losses = [k for k in keys if "loss" in k]
        metrics = [k for k in keys if k not in losses and not k.endswith("seconds")]
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, group, title in ((axes[0], losses, "loss"), (axes[1], metrics, "validation")):
            for key in group:
                xs = [r.get("epoch", i + 1) for i, r in enumerate(self.history) if key in r]
                ax.plot(xs, [r[key] for r in self.history if key in r], marker="o", label=key)
            ax.set_xlabel("epoch")
            ax.set_title(title)
            if group:
                ax.legend(fontsize=8)
        fig.tight_layout()
        path = self.dir / "curves.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path

    def close(self) -> None:
        if self._writer:
            self._writer.close()
        self._writer = None

    def load(self, history: list[dict[str, float]]) -> None:
        self.history = [dict(r) for r in history]
