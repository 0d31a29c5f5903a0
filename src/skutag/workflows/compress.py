"""``skutag compress``: a transformer model directory -> an edge directory (kind ``edge``) that predicts with numpy,
ONNX Runtime and ``tokenizers`` only: the ONNX graph (int8 by dynamic quantisation by default, or static with
calibration rows, or fp32), the tokenizer, the path table and the neighbour index; no torch weights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from skutag.catalogue.reader import read_catalogue
from skutag.errors import ConfigError, MissingColumnError
from skutag.fsutil import pinned
from skutag.log import get_logger
from skutag.models.card import read_meta
from skutag.models.neural.edge import QUANTISATIONS, EdgeTransformer
from skutag.models.neural.runtime import quantize_onnx, quantize_static_onnx
from skutag.models.neural.text import field_texts, tokenize

log = get_logger(__name__)


@dataclass
class CompressStats:
    source: str
    out: str
    int8: str
    bytes_before: int
    bytes_after: int
    calibration_rows: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.bytes_after / max(1, self.bytes_before)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def compress_model(
    model_dir: str | Path,
    out: str | Path,
    *,
    int8: str = "dynamic",
    calibration: str | Path | Sequence[str | Path] | None = None,
    calibration_rows: int = 512,
    seed: int = 0,
) -> CompressStats:
    """Write the edge directory of the transformer at ``model_dir`` to ``out`` (atomically, like every save).
    ``int8``: ``dynamic`` (weights int8, activation ranges per call), ``static`` (ranges measured once on up to
    ``calibration_rows`` rows of ``calibration``: catalogue files with the model's text columns) or ``none``."""
    if int8 not in QUANTISATIONS:
        raise ConfigError(f"--int8 must be one of {', '.join(QUANTISATIONS)}, not {int8!r}")
    source = pinned(Path(model_dir))
    kind = read_meta(source).get("kind")
    if kind not in ("transformer", "edge"):
        raise ConfigError(f"{model_dir}: skutag compress takes a transformer model, not a {kind!r} one")
    model = EdgeTransformer.load(source)
    if model.graph_int8_ and int8 != "none":
        raise ConfigError(f"{model_dir}: already int8 ({model.int8_scheme_}); compress the fp32 transformer instead")
    graph = model.graph_path_.read_bytes()
    rows = 0
    if int8 == "dynamic":
        graph = quantize_onnx(graph)
    elif int8 == "static":
        if calibration is None:
            raise ConfigError("--int8 static needs --calibration FILES: catalogue rows the model will see")
        frame = read_catalogue(calibration)
        missing = [c for c in model.text_columns_ if c not in frame.columns]
        if len(missing) == len(model.text_columns_):
            raise MissingColumnError(
                f"the calibration rows have none of the model's text columns {model.text_columns_}", column=missing[0]
            )
        frame = frame.assign(**{c: "" for c in missing})
        if len(frame) > calibration_rows:
            frame = frame.sample(n=calibration_rows, random_state=seed)
        ids = tokenize(model.tokenizer_, field_texts(frame[model.text_columns_], model.fields), int(model.max_length))
        rows = len(ids)
        log.info("static int8: measuring activation ranges on %d rows", rows)
        graph = quantize_static_onnx(graph, ids, model.tokenizer_.pad_token_id)
    model.graph_bytes_ = graph
    model.int8_scheme_ = None if int8 == "none" else int8
    model.quantize = False  # the saved graph is what runs
    model.compressed_from_ = {
        "kind": str(kind),
        "directory": str(Path(model_dir)),
        "int8": model.int8_scheme_,
        "calibration_rows": rows,
        "note": "calibrated thresholds were measured on the source model's probabilities",
    }
    saved = model.save(out)
    folder = pinned(saved)
    return CompressStats(
        source=str(model_dir),
        out=str(saved),
        int8=int8,
        bytes_before=_size(source),
        bytes_after=_size(folder),
        calibration_rows=rows,
        files=sorted(p.name for p in folder.iterdir() if p.is_file()),
    )
