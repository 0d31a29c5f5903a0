"""Dynamic int8 with one activation range per row (token) instead of one per tensor.

ORT's ``quantize_dynamic`` puts a ``DynamicQuantizeLinear`` before every int8 matmul: it measures the range of the
whole activation tensor when the graph runs, and a tensor holds every row of the batch, so a title's int8 answer
depended on the titles batched with it (MWPD validation, the 3-layer student: 1.2% of top paths moved between one
batch and one title a call). Here each of those nodes is replaced by a per-row quantiser (the range of each
token's vector, asymmetric, uint8) and, since ORT's ``MatMulInteger`` takes only one activation zero point, the
matmul runs with zero point 0 and the row's zero point is taken off afterwards:
``(q - z) @ W = q @ W - z * colsum(W)``, with ``colsum(W)`` computed once from the int8 weights. A row's answer is
then its own, whatever it is batched with, and closer to fp32 (top-1 agreement on the student 99.5% against
98.0%). A quantiser whose outputs feed anything else than that matmul pattern is left as it was; the runner runs
a graph that still has one a row a call (:func:`skutag.models.neural.runtime.is_dynamic_int8`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: names of the constants this pass adds (a prefix no exporter uses)
PREFIX = "skutag_rows"


def per_row_activations(data: bytes) -> bytes:
    """The serialised graph with every rewritable ``DynamicQuantizeLinear`` quantising per row (module doc)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(data)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    added: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        added.append(numpy_helper.from_array(value, f"{PREFIX}/{name}"))
        return f"{PREFIX}/{name}"

    zero, top = const("zero", np.array(0.0, np.float32)), const("255", np.array(255.0, np.float32))
    eps, zero_u8 = const("eps", np.array(1e-8, np.float32)), const("zero_u8", np.array(0, np.uint8))
    replaced: dict[int, list[Any]] = {}  # id(node) -> the nodes that take its place
    after: dict[int, list[Any]] = {}  # id(node) -> nodes to insert right after it
    for node in graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            continue
        x: str = node.input[0]
        q, scale, zp = (str(o) for o in node.output)
        users = consumers.get(q, []) + consumers.get(zp, [])
        matmuls = list({id(u): u for u in users if u.op_type == "MatMulInteger" and u.input[0] == q}.values())
        if any(m.input[2] != zp for m in matmuls):
            continue
        if not matmuls or len(matmuls) * 2 != len(users):
            continue
        casts = [consumers.get(m.output[0], []) for m in matmuls]
        if any(len(c) != 1 or c[0].op_type != "Cast" for c in casts):
            continue
        if any(
            m.input[1] not in inits or (len(m.input) > 3 and m.input[3] and m.input[3] not in inits) for m in matmuls
        ):
            continue
        p = f"{PREFIX}/{node.name or q}"

        def op(kind: str, ins: list[str], out: str, p: str = p, **kw: Any) -> Any:
            return helper.make_node(kind, ins, [out], name=f"{out}/{kind}", **kw)

        zf = f"{p}/zero_point"
        replaced[id(node)] = [
            op("ReduceMin", [x], f"{p}/min", axes=[-1], keepdims=1),
            op("ReduceMax", [x], f"{p}/max", axes=[-1], keepdims=1),
            op("Min", [f"{p}/min", zero], f"{p}/min0"),
            op("Max", [f"{p}/max", zero], f"{p}/max0"),
            op("Sub", [f"{p}/max0", f"{p}/min0"], f"{p}/range"),
            op("Div", [f"{p}/range", top], f"{p}/scale0"),
            op("Max", [f"{p}/scale0", eps], scale),
            op("Div", [f"{p}/min0", scale], f"{p}/min_steps"),
            op("Neg", [f"{p}/min_steps"], f"{p}/neg_min_steps"),
            op("Round", [f"{p}/neg_min_steps"], f"{p}/zero_round"),
            op("Clip", [f"{p}/zero_round", zero, top], zf),
            op("Div", [x, scale], f"{p}/steps"),
            op("Round", [f"{p}/steps"], f"{p}/steps_round"),
            op("Add", [f"{p}/steps_round", zf], f"{p}/shifted"),
            op("Clip", [f"{p}/shifted", zero, top], f"{p}/clipped"),
            op("Cast", [f"{p}/clipped"], q, to=TensorProto.UINT8),
        ]
        for m, (cast,) in zip(matmuls, casts, strict=True):
            w = numpy_helper.to_array(inits[m.input[1]]).astype(np.int64)
            w_zp = numpy_helper.to_array(inits[m.input[3]]).astype(np.int64) if len(m.input) > 3 and m.input[3] else 0
            colsum = const(f"{m.name or m.output[0]}/colsum", (w - w_zp).sum(axis=-2).astype(np.float32))
            m.input[2] = zero_u8
            out = cast.output[0]
            cast.output[0] = f"{out}/uncorrected"
            after[id(cast)] = [
                helper.make_node("Mul", [zf, colsum], [f"{out}/correction"], name=f"{out}/correction"),
                helper.make_node("Sub", [f"{out}/uncorrected", f"{out}/correction"], [out], name=f"{out}/corrected"),
            ]
    if not replaced:
        return data
    nodes: list[Any] = []
    for node in graph.node:
        nodes.extend(replaced.get(id(node), [node]))
        nodes.extend(after.get(id(node), []))
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(added)
    onnx.checker.check_model(model)
    out_bytes: bytes = model.SerializeToString()
    return out_bytes


def _zero_point_known(matmul: Any, inits: dict[str, Any]) -> bool:
    """The weight zero point of an integer matmul is absent (0) or a stored constant."""
    return len(matmul.input) <= 3 or not matmul.input[3] or matmul.input[3] in inits
