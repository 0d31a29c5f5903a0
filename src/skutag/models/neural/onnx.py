"""ONNX export of a fine-tuned :class:`~skutag.models.neural.transformer.TransformerModel` (encoder + mean pooling +
per-level heads in one graph) and an ONNX Runtime runner for CPU inference.

The graph is exported with the TorchScript exporter (dynamic batch and sequence axes); ONNX Runtime applies its
own graph optimisations (``ORT_ENABLE_ALL``) when the session is built. ORT's offline transformer optimizer (fused
Attention, SkipLayerNorm, BiasGelu) is available as ``optimize=True`` but is not the default: on MiniLM with
MWPD titles at batch 64 on 2 threads it measured 10-20% slower than the plain graph.
``quantize_onnx`` makes an int8 copy with ORT dynamic quantisation (faster, slightly different probabilities).
"""

from __future__ import annotations

import copy
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from skutag.fsutil import atomic_path
from skutag.log import get_logger
from skutag.models.neural.runtime import (
    ONNX_FILE,
    ONNX_INPUTS,
    OPSET,
    POOLED_OUTPUT,
    TOKEN_OUTPUT,
    OnnxRunner,
    TokenOnnxRunner,
    onnxruntime_available,
    ort_session,
    quantize_onnx,
)

__all__ = [
    "ONNX_FILE",
    "ONNX_INPUTS",
    "OPSET",
    "OnnxRunner",
    "TokenOnnxRunner",
    "device_type",
    "export_graph",
    "export_onnx",
    "export_token_graph",
    "onnxruntime_available",
    "ort_session",
    "quantize_onnx",
]

log = get_logger(__name__)


def device_type(name: str) -> str:
    """'cuda' or 'cpu' for a device name ('auto' picks CUDA when available), without side effects."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        return torch.device(name).type
    except RuntimeError:
        return "cpu"


class _TupleOutputs(torch.nn.Module):
    """The classifier with a tuple of per-level logits then the normalised pooled embedding (what the exporter
    needs)."""

    def __init__(self, net: Any) -> None:
        super().__init__()
        self.net = net

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, pooled = self.net.forward_pooled(input_ids, attention_mask)
        return (*logits, pooled)


def export_onnx(model: Any, path: str | Path | None = None, optimize: bool = False) -> bytes:
    """Export ``model.net_`` (a fitted TransformerModel's encoder + heads) to ONNX; returns the serialised graph
    and, when ``path`` is given, writes it there atomically. ``optimize`` applies ORT's offline transformer
    fusions (see the module docstring: slower on CPU for short titles)."""
    n_levels = len(model.classes_)
    outputs = [f"logits_{i + 1}" for i in range(n_levels)] + [POOLED_OUTPUT]
    axes = {name: {0: "batch"} for name in outputs}
    return export_graph(model.net_, _TupleOutputs, outputs, axes, path, optimize)


def export_graph(
    net: torch.nn.Module,
    wrap: Any,
    outputs: Sequence[str],
    output_axes: dict[str, dict[int, str]],
    path: str | Path | None = None,
    optimize: bool = False,
) -> bytes:
    """Export ``wrap(net)`` (a module taking ``input_ids, attention_mask`` with a ``net.encoder``) to ONNX with
    dynamic batch and sequence axes; returns the graph and, when ``path`` is given, writes it there atomically."""
    if next(net.parameters()).device.type != "cpu" or net.training:
        net = copy.deepcopy(net).cpu()
    net.eval()
    encoder: Any = net.encoder
    previous = getattr(encoder.config, "_attn_implementation", None)
    axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "sequence"} for name in ONNX_INPUTS}
    axes.update(output_axes)
    example = (torch.ones((2, 8), dtype=torch.long), torch.ones((2, 8), dtype=torch.long))
    with tempfile.TemporaryDirectory(prefix="skutag-onnx-") as tmp:
        raw = Path(tmp) / "raw.onnx"
        try:
            if previous is not None:  # eager attention exports to the pattern ORT's optimizer fuses
                encoder.config._attn_implementation = "eager"
            with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    wrap(net),
                    example,
                    str(raw),
                    input_names=list(ONNX_INPUTS),
                    output_names=list(outputs),
                    dynamic_axes=axes,
                    opset_version=OPSET,
                    do_constant_folding=True,
                    dynamo=False,
                )
        finally:
            if previous is not None:
                encoder.config._attn_implementation = previous
        data = raw.read_bytes()
        if optimize:
            data = _optimized(raw, encoder.config) or data
    if path is not None:
        with atomic_path(Path(path)) as tmp_path:
            tmp_path.write_bytes(data)
    return data


def _optimized(raw: Path, config: Any) -> bytes | None:
    """ORT transformer optimizer (attention / layer-norm / GELU fusion) for BERT-like encoders; None if unusable."""
    if getattr(config, "model_type", "") not in ("bert", "roberta", "xlm-roberta", "distilbert", "mpnet"):
        return None
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = optimize_model(
                str(raw),
                model_type="bert",
                num_heads=int(config.num_attention_heads),
                hidden_size=int(config.hidden_size),
                opt_level=1,
            )
        fused = opt.get_fused_operator_statistics()
        log.info("ONNX optimizer fused: %s", {k: v for k, v in fused.items() if v})
        out = raw.with_name("opt.onnx")
        opt.save_model_to_file(str(out))
        return out.read_bytes()
    except Exception as exc:  # the plain export still works; fusion is only a speed-up
        log.warning("ONNX Runtime optimizer failed (%s: %s); using the unoptimised graph", type(exc).__name__, exc)
        return None


def export_token_graph(net: torch.nn.Module, path: str | Path | None = None) -> bytes:
    """Export a token classifier (``net(input_ids, attention_mask)`` -> batch x sequence x labels logits)."""
    return export_graph(net, lambda n: n, [TOKEN_OUTPUT], {TOKEN_OUTPUT: {0: "batch", 1: "sequence"}}, path)
