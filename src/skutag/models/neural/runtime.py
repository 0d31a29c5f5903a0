"""ONNX Runtime inference without torch: sessions, the graphs' inputs, the category and token runners, int8
quantisation. What an edge install (numpy + onnxruntime + tokenizers) needs to predict; exporting a graph from a
torch network is :mod:`skutag.models.neural.onnx`."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from skutag.errors import ConfigError, ModelLoadError
from skutag.models.neural.int8_rows import per_row_activations

ONNX_FILE = "model.onnx"
OPSET = 17
ONNX_INPUTS = ("input_ids", "attention_mask")
POOLED_OUTPUT = "pooled"
TOKEN_OUTPUT = "logits"

R = TypeVar("R")


def sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Inference batches by increasing length (least padding); the caller restores the order."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


#: ORT dynamic quantisation settings (see :func:`quantize_onnx`): the dense layers' weights only
DYNAMIC_OP_TYPES = ("MatMul",)
#: lookup tables (Gather over an initializer) at least this large are stored in float16 rather than float32
FP16_TABLE_MIN = 100_000


def quantize_onnx(data: bytes) -> bytes:
    """int8 dynamic quantisation (ORT ``quantize_dynamic``) of the graph's dense layers, for speed on CPU.

    - **What is int8**: the weights of the encoder's ``MatMul`` layers (query / key / value, attention output, both
      feed-forward layers), one scale per output channel; their inputs get a range per call. That is where the time
      goes. The attention score products (two activations, no weight) stay float, as ORT leaves them.
    - **Per row**: ORT ranges each activation tensor as a whole, which made a row's answer depend on its batch; the
      graph is rewritten to range each row alone (:func:`~skutag.models.neural.int8_rows.per_row_activations`).
    - **What stays float**: the classifier heads (``Gemm``: a few hundred rows, next to nothing of the time, and the
      last step before the decision) and the embedding tables, which ORT would quantise per tensor; the token table is
      stored in float16 instead (:func:`fp16_tables`: half of float32's size, no int8 rounding).

    Top-1 path agreement with fp32 on the 3,000 MWPD validation titles (``benchmarks/explore_int8.py``): a 3-layer
    MiniLM student trained 6 epochs 97.2% with everything int8 (per-tensor scales: 92.4%), 97.4% with the heads and
    embeddings float; a MiniLM fine-tuned for only 50 steps 94.7% and 95.4% (a tenth of its titles are within 0.05 of a
    tie, and those flip). Keeping the second feed-forward layers float as well reached 98.2% on the student but gave
    up about 30% of the int8 speed gain, so they are int8. Ranging each row alone (above) took the student to 99.5%
    (a later student: 98.0% per tensor)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = _through_files(
        data,
        lambda src, dst: quantize_dynamic(
            src,
            dst,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=list(DYNAMIC_OP_TYPES),
            extra_options={"DefaultTensorType": 1},  # float: shape inference cannot type fused ORT ops
        ),
    )
    return fp16_tables(per_row_activations(graph))


def fp16_tables(data: bytes, min_size: int = FP16_TABLE_MIN) -> bytes:
    """The graph with each float32 lookup table of at least ``min_size`` values (a ``Gather`` over an initializer:
    the token embeddings) stored in float16, cast back to float32 after the lookup: the table takes half the space,
    the looked-up rows differ from float32 by float16 rounding only."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(data)
    tables = {t.name: t for t in model.graph.initializer}
    nodes = list(model.graph.node)
    changed = False
    for node in nodes:
        table = tables.get(node.input[0]) if node.op_type == "Gather" and node.input else None
        if table is None or table.data_type != TensorProto.FLOAT or np.prod(table.dims) < min_size:
            continue
        users = [n for n in nodes if table.name in n.input]
        if len(users) != 1:  # shared with another op: leave it
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(table).astype(np.float16), f"{table.name}_fp16")
        model.graph.initializer.remove(table)
        model.graph.initializer.append(half)
        out = node.output[0]
        node.input[0], node.output[0] = half.name, f"{out}_fp16"
        cast = helper.make_node("Cast", [f"{out}_fp16"], [out], to=TensorProto.FLOAT, name=f"{node.name}_to_float")
        model.graph.node.insert(list(model.graph.node).index(node) + 1, cast)
        changed = True
    return model.SerializeToString() if changed else data


def quantize_static_onnx(
    data: bytes, calibration: Sequence[Sequence[int]], pad_id: int = 0, batch_size: int = 32
) -> bytes:
    """int8 static quantisation (ORT ``quantize_static``, QOperator, per-channel weights): activation ranges measured by
    running the graph over ``calibration`` (token ids of catalogue text: the rows it will see), so no range is
    computed at run time. Fewer operations than dynamic int8 per call, and a different error profile."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    if not calibration:
        raise ConfigError("static quantisation needs calibration rows (catalogue text the model will see)")
    batches = [padded(calibration, idx, pad_id) for idx in sorted_batches([len(s) for s in calibration], batch_size)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    return _through_files(
        data,
        lambda src, dst: quantize_static(
            src,
            dst,
            Reader(),
            quant_format=QuantFormat.QOperator,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm"],
            extra_options={"DefaultTensorType": 1},
        ),
    )


def _through_files(data: bytes, quantize: Callable[[str, str], Any]) -> bytes:
    """ORT's quantisers read and write files: ``data`` written to a temporary file, ``quantize(src, dst)`` run
    quietly, the result read back."""
    with tempfile.TemporaryDirectory(prefix="skutag-onnx-q-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(data)
        with warnings.catch_warnings(), _quiet_root_logger():
            warnings.simplefilter("ignore")
            quantize(str(src), str(dst))
        return dst.read_bytes()


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """ORT's quantizer advises pre-processing through the root logger; that advice is not for our users."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def graph_state(model: Any, net: Any) -> dict[str, Any]:
    """``model``'s ONNX cache (``onnx_state_``: the saved graph's ``path``, graphs made in memory, the runner),
    emptied when ``net`` is not the network it was made for: a refit network never runs on a stale graph."""
    state: dict[str, Any] = model.__dict__.setdefault("onnx_state_", {})
    if state.get("net") is not net:
        state.clear()
        state["net"] = net
    return state


def cached_runner(
    state: dict[str, Any],
    threads: int,
    quantize: bool,
    export: Callable[[], bytes],
    build: Callable[[Path | bytes, int], R],
) -> R:
    """The runner ``build(graph, threads)`` over the saved graph (``state["path"]``) or one ``export()``-ed in memory,
    int8 on request (quantised once), rebuilt only when the thread count or the precision changes."""
    key = (threads, quantize)
    if state.get("key") != key:
        source: Path | bytes | None = state.get("path")
        if source is None:
            if "fp32" not in state:
                state["fp32"] = export()
            source = state["fp32"]
        if quantize:
            if "int8" not in state:
                state["int8"] = quantize_onnx(source if isinstance(source, bytes) else source.read_bytes())
            source = state["int8"]
        state["runner"] = build(source, threads)
        state["key"] = key
    runner: R = state["runner"]
    return runner


def ort_session(source: str | Path | bytes, threads: int) -> Any:
    """An ONNX Runtime CPU session over a graph (a file or its bytes) on ``threads`` intra-op threads."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ConfigError("the ONNX runtime needs the package onnxruntime (pip install onnxruntime)") from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # no busy-waiting between ops: on shared cores spinning threads only steal time (measured 0-12% faster)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    what = source if isinstance(source, bytes) else str(source)
    try:
        return ort.InferenceSession(what, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        name = "<in memory>" if isinstance(source, bytes) else str(source)
        raise ModelLoadError(f"{name}: ONNX Runtime cannot load the graph ({type(exc).__name__}: {exc})") from exc


def padded(ids: Sequence[Sequence[int]], idx: Sequence[int] | np.ndarray, pad_id: int) -> dict[str, np.ndarray]:
    """The graph's inputs for rows ``idx`` of ``ids``, padded to the longest of them."""
    width = max(1, max(len(ids[i]) for i in idx))
    input_ids = np.full((len(idx), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(idx), width), dtype=np.int64)
    for r, i in enumerate(idx):
        input_ids[r, : len(ids[i])] = ids[i]
        mask[r, : len(ids[i])] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


#: The op ORT's dynamic quantisation inserts before every int8 matmul: it takes one range per activation tensor,
#: so a row's int8 answer would depend on the rows batched with it (measured on MWPD: 1.2% of top paths moved).
DYNAMIC_QUANTISE_OP = b"DynamicQuantizeLinear"


def graph_bytes(source: str | Path | bytes) -> bytes:
    return source if isinstance(source, bytes) else Path(source).read_bytes()


def is_dynamic_int8(graph: bytes) -> bool:
    """Whether the serialised graph quantises activations at run time (its op types are stored as plain strings)."""
    return DYNAMIC_QUANTISE_OP in graph


class OnnxRunner:
    """An ORT CPU session over an exported graph: per-level logits (and, for graphs exported with it, the pooled
    embedding) of pre-tokenised rows, batched by length (one row a call for a dynamic int8 graph)."""

    def __init__(self, source: str | Path | bytes, threads: int, n_levels: int) -> None:
        self.session = ort_session(source, threads)  # the path, where there is one, names the file in a load error
        #: dynamic int8: one row a call, so that a row's answer never depends on the others (8-16% slower than 64)
        self.row_wise = is_dynamic_int8(graph_bytes(source))
        names = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        # graphs saved before the pooled output existed have the level logits only
        self.has_pooled = len(self.outputs) == n_levels + 1 and self.outputs[-1] == POOLED_OUTPUT
        if sorted(names) != sorted(ONNX_INPUTS) or len(self.outputs) != n_levels + int(self.has_pooled):
            raise ModelLoadError(
                f"ONNX graph has inputs {names} and {len(self.outputs)} outputs, "
                f"expected {list(ONNX_INPUTS)} and {n_levels} logits (+ {POOLED_OUTPUT!r})"
            )
        self.n_levels = n_levels
        self.threads = threads

    def logits(self, ids: Sequence[Sequence[int]], batch_size: int = 128, pad_id: int = 0) -> list[np.ndarray]:
        """Per-level logits (rows x classes, float32) in input order; rows sorted by length so batches pad little."""
        return self.run(ids, batch_size, pad_id)[0]

    def run(
        self, ids: Sequence[Sequence[int]], batch_size: int = 128, pad_id: int = 0
    ) -> tuple[list[np.ndarray], np.ndarray | None]:
        """Per-level logits and the pooled embeddings (None for a graph without them), in input order."""
        lengths = [len(s) for s in ids]
        out: list[np.ndarray] | None = None
        for idx in sorted_batches(lengths, 1 if self.row_wise else batch_size):
            res = self.session.run(self.outputs, padded(ids, idx, pad_id))
            if out is None:
                out = [np.zeros((len(ids), r.shape[1]), dtype=np.float32) for r in res]
            for lv, r in enumerate(res):
                out[lv][idx] = r
        if out is None:
            return [], None
        return out[: self.n_levels], (out[self.n_levels] if self.has_pooled else None)


class TokenOnnxRunner:
    """An ORT CPU session over a token classifier's graph: per-token label probabilities of pre-tokenised rows."""

    def __init__(self, source: str | Path | bytes, threads: int, n_labels: int) -> None:
        self.session = ort_session(source, threads)
        self.row_wise = is_dynamic_int8(graph_bytes(source))  # as OnnxRunner: a row's tags never depend on its batch
        names = sorted(i.name for i in self.session.get_inputs())
        outputs = [o.name for o in self.session.get_outputs()]
        if names != sorted(ONNX_INPUTS) or outputs != [TOKEN_OUTPUT]:
            raise ModelLoadError(f"ONNX graph has inputs {names} and outputs {outputs}, not a token classifier")
        self.n_labels = n_labels
        self.threads = threads

    def probs(self, ids: Sequence[Sequence[int]], batch_size: int = 4, pad_id: int = 0) -> list[np.ndarray]:
        """Per row, its tokens' label probabilities (tokens x labels, float32), in input order. Small batches: on
        WDC-PAVE offers (title + description, up to 192 tokens, int8, 1 thread) a row cost 9.3 ms alone, 9.3 in
        batches of 4, 10.9 of 8 and 17.6 of 32 (long padded batches cost more per row than they save)."""
        out: list[np.ndarray] = [np.zeros((0, self.n_labels), dtype=np.float32)] * len(ids)
        for idx in sorted_batches([len(s) for s in ids], 1 if self.row_wise else batch_size):
            logits = self.session.run([TOKEN_OUTPUT], padded(ids, idx, pad_id))[0]
            if logits.shape[-1] != self.n_labels:
                raise ModelLoadError(f"ONNX graph gives {logits.shape[-1]} labels, the model has {self.n_labels}")
            logits = logits - logits.max(-1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(-1, keepdims=True)
            for j, i in enumerate(idx):
                out[i] = p[j, : len(ids[i])]
        return out
