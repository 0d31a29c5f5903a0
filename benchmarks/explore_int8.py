"""Exploration: which int8 settings keep a transformer's top-1 path (MWPD validation titles), and at what speed.

For a saved transformer (or edge) directory, each variant of ORT dynamic quantisation is made from its fp32 graph and
run over the validation titles through :class:`~skutag.models.neural.edge.EdgeTransformer` (the model's own path
decoding and neighbour votes): the share of titles whose best path is fp32's, the largest probability difference, the
graph's size, and rows per CPU-second on one thread at batch 64 (CPU time, best of interleaved rounds: fair on a
machine shared with other jobs). Also how many titles fp32 itself leaves within 0.05 of a tie (those are the ones
int8's rounding flips).

Variants: ``shipped`` (what :func:`skutag.models.neural.runtime.quantize_onnx` does), ``all`` (every op ORT
quantises: MatMul, the Gemm heads, the embedding Gathers), ``per-tensor`` (``all`` with one scale per tensor),
``matmul`` (MatMul only, tables float32), ``reduce-range`` (7-bit weights), ``u8-weights``, ``float-ffn-down`` (the
second feed-forward layer of every block left float), ``float-last-ffn-down`` (of the last block only).

``python -m benchmarks.explore_int8 MODEL_DIR [--rows 3000] [--speed-rows 1024] [--variants shipped,all,...]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import SHARED_DATA, markdown_table


def variants(fp32: bytes) -> dict[str, Callable[[], bytes]]:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from skutag.models.neural.runtime import _through_files, quantize_onnx

    matmuls = [n.name for n in onnx.load_from_string(fp32).graph.node if n.op_type == "MatMul"]
    ffn_down = [m for m in matmuls if "/output/dense" in m and "attention" not in m]
    last = max((int(m.split("layer.")[1].split("/")[0]) for m in ffn_down if "layer." in m), default=0)

    def q(**kw: Any) -> bytes:
        opts: dict[str, Any] = {
            "weight_type": QuantType.QInt8,
            "per_channel": True,
            "extra_options": {"DefaultTensorType": 1},
            **kw,
        }
        return _through_files(fp32, lambda src, dst: quantize_dynamic(src, dst, **opts))

    mm = {"op_types_to_quantize": ["MatMul"]}
    return {
        "shipped": lambda: quantize_onnx(fp32),
        "all": lambda: q(),
        "per-tensor": lambda: q(per_channel=False),
        "matmul": lambda: q(**mm),
        "reduce-range": lambda: q(**mm, reduce_range=True),
        "u8-weights": lambda: q(**mm, weight_type=QuantType.QUInt8),
        "float-ffn-down": lambda: q(**mm, nodes_to_exclude=ffn_down),
        "float-last-ffn-down": lambda: q(**mm, nodes_to_exclude=[m for m in ffn_down if f"layer.{last}/" in m]),
    }


def explore(model_dir: str, rows: int, speed_rows: int, names: list[str] | None, rounds: int = 3) -> dict[str, Any]:
    from skutag.datasets.mwpd import load_mwpd
    from skutag.models.neural.edge import EdgeTransformer
    from skutag.models.neural.runtime import OnnxRunner
    from skutag.models.neural.text import field_texts, tokenize

    model = EdgeTransformer.load(model_dir)
    model.num_threads = 1
    va, _ = load_mwpd(path=SHARED_DATA / "mwpd2020" / "validation.json")
    texts = va[model.text_columns_].fillna("").astype(str).head(rows).reset_index(drop=True)
    fp32 = model.graph_path_.read_bytes()
    made = {"fp32": fp32, **{k: make() for k, make in variants(fp32).items() if names is None or k in names}}

    def probs(graph: bytes) -> np.ndarray:
        model.__dict__["runner_state_"] = {"path": graph}
        return model.predict_path_proba(texts)

    ref = probs(fp32)
    top = np.sort(ref, axis=1)
    margin = top[:, -1] - top[:, -2] if ref.shape[1] > 1 else np.ones(len(ref))
    ids = tokenize(model.tokenizer_, field_texts(texts.head(speed_rows), model.fields), int(model.max_length))
    runners = {k: OnnxRunner(g, 1, len(model.classes_)) for k, g in made.items()}
    rate = dict.fromkeys(runners, 0.0)
    for _ in range(rounds):  # interleaved: each variant meets the same load
        for k, r in runners.items():
            r.logits(ids[:64], 64)
            c0 = time.thread_time()
            r.logits(ids, 64)
            rate[k] = max(rate[k], len(ids) / max(time.thread_time() - c0, 1e-9))
    out = []
    for k, g in made.items():
        p = ref if k == "fp32" else probs(g)
        out.append(
            {
                "variant": k,
                "agreement": float((p.argmax(1) == ref.argmax(1)).mean()),
                "max_abs_diff": float(np.abs(p - ref).max()),
                "size_mb": len(g) / 1e6,
                "rows_per_cpu_s": rate[k],
                "speedup": rate[k] / rate["fp32"],
            }
        )
    return {
        "model": model_dir,
        "rows": len(texts),
        "near_ties": float((margin < 0.05).mean()),
        "median_margin": float(np.median(margin)),
        "variants": out,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.explore_int8", description=__doc__)
    ap.add_argument("model", type=Path)
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--speed-rows", type=int, default=1024)
    ap.add_argument("--variants", default=None, help="comma-separated (default: all)")
    args = ap.parse_args(argv)
    names = [v.strip() for v in args.variants.split(",")] if args.variants else None
    res = explore(str(args.model), args.rows, args.speed_rows, names)
    print(
        f"{res['model']}: {res['rows']} MWPD validation titles; fp32 leaves {res['near_ties']:.1%} within 0.05 of a "
        f"tie (median top-1 margin {res['median_margin']:.3f})"
    )
    print(
        markdown_table(
            res["variants"], ["variant", "agreement", "max_abs_diff", "size_mb", "rows_per_cpu_s", "speedup"]
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
