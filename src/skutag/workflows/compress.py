"""``skutag compress``: a transformer model directory -> an edge directory (kind ``edge``) that predicts with numpy,
ONNX Runtime and ``tokenizers`` only: the ONNX graph (int8 by dynamic quantisation by default, or static with
calibration rows, or fp32), the tokenizer, the path table and the neighbour index; no torch weights.

Before the export the encoder can be pruned (needs torch: :mod:`skutag.models.neural.prune`): encoder layers dropped
(``prune_layers``), attention heads removed (``prune_heads``), then a short recovery fine-tune on labelled rows
(``recover``) distilling the unpruned model. The pruned model is exported like any transformer and compressed as
above; the edge directory's ``config.json`` and card record what was pruned.

An ensemble directory is compressed member by member: each transformer member becomes its edge model (int8 as
above), the other members, the blend and the neighbour index stay; its card's ``compressed_from`` says so. No pruning
there: the neighbour index holds the unpruned encoder's features of the training rows."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skutag.catalogue.reader import read_catalogue
from skutag.catalogue.rejects import RejectSink
from skutag.errors import ConfigError, MissingColumnError
from skutag.fsutil import pinned
from skutag.log import get_logger
from skutag.models.card import read_meta
from skutag.models.neural.edge import QUANTISATIONS, EdgeTransformer
from skutag.models.neural.runtime import quantize_onnx, quantize_static_onnx
from skutag.models.neural.text import field_texts, tokenize

log = get_logger(__name__)

#: What the card says of a compressed model's auto-accept threshold.
CALIBRATION_NOTE = "calibrated thresholds were measured on the source model's probabilities"


@dataclass
class CompressStats:
    source: str
    out: str
    int8: str
    bytes_before: int
    bytes_after: int
    calibration_rows: int = 0
    files: list[str] = field(default_factory=list)
    #: what pruning did (:meth:`~skutag.models.neural.prune.PruneReport.to_dict`), None without pruning
    pruning: dict[str, Any] | None = None
    recover_rows_rejected: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.bytes_after / max(1, self.bytes_before)


def _size(folder: Path) -> int:
    """Bytes of the files in ``folder`` and its subfolders (an ensemble's members)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def compress_model(
    model_dir: str | Path,
    out: str | Path,
    *,
    int8: str = "dynamic",
    calibration: str | Path | Sequence[str | Path] | None = None,
    calibration_rows: int = 512,
    seed: int = 0,
    prune_layers: int | None = None,
    prune_heads: float = 0.0,
    recover: str | Path | Sequence[str | Path] | None = None,
    recover_epochs: int = 1,
    recover_lr: float | None = None,
    layer_choice: str = "greedy",
    rejects: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> CompressStats:
    """Write the edge directory of the transformer at ``model_dir`` to ``out`` (atomically, like every save).
    ``int8``: ``dynamic`` (weights int8, activation ranges per call), ``static`` (ranges measured once on up to
    ``calibration_rows`` rows of ``calibration``: catalogue files with the model's text columns) or ``none``.

    Pruning first (a transformer directory only): keep ``prune_layers`` encoder layers (chosen ``greedy`` on held-out
    recovery rows, or ``even``ly spaced: ``layer_choice``), remove the ``prune_heads`` fraction of attention heads
    (by gradient importance on the recovery rows), then fine-tune ``recover_epochs`` at ``recover_lr`` (None: 3x the
    model's ``encoder_lr``) on ``recover`` (labelled
    catalogue files with the model card's text and label columns; rejected rows go to ``rejects``, by default
    ``OUT.rejects.jsonl``). Without ``recover`` the pruned model is not fine-tuned (a warning says so)."""
    from skutag.models.neural.prune import PruneSettings

    if int8 not in QUANTISATIONS:
        raise ConfigError(f"--int8 must be one of {', '.join(QUANTISATIONS)}, not {int8!r}")
    settings = PruneSettings(prune_layers, prune_heads, layer_choice, recover_epochs, lr=recover_lr, seed=seed)
    settings.check()
    if recover is not None and not settings.active:
        raise ConfigError("--recover fine-tunes a pruned model: give --prune-layers and/or --prune-heads")
    source = pinned(Path(model_dir))
    kind = read_meta(source).get("kind")
    if kind == "ensemble":
        if settings.active:
            raise ConfigError(
                f"{model_dir}: an ensemble is compressed by --int8 alone (its neighbour index holds the transformer "
                "member's features of the training rows, which a pruned encoder would no longer match); prune a "
                "transformer model, or distil the ensemble into one (skutag distill) and compress that"
            )
        return _compress_ensemble(source, str(model_dir), Path(out), int8, calibration, calibration_rows, seed)
    if kind not in ("transformer", "edge"):
        raise ConfigError(f"{model_dir}: skutag compress takes a transformer or an ensemble model, not a {kind!r} one")
    if settings.active and kind != "transformer":
        raise ConfigError(f"{model_dir}: pruning needs the torch weights of a transformer directory, not an edge one")
    with _pruned(source, Path(out), settings, recover, rejects, progress) as (loaded, pruning, rejected):
        model = loaded if loaded is not None else EdgeTransformer.load(source)
        rows = _quantise(model, int8, calibration, calibration_rows, seed, str(model_dir))
        model.compressed_from_ = {
            "kind": str(kind),
            "directory": str(Path(model_dir)),
            "int8": model.int8_scheme_,
            "calibration_rows": rows,
            "note": CALIBRATION_NOTE,
            **({"pruning": pruning} if pruning is not None else {}),
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
        pruning=pruning,
        recover_rows_rejected=rejected,
        warnings=list((pruning or {}).get("warnings", [])),
    )


def _quantise(
    model: EdgeTransformer,
    int8: str,
    calibration: str | Path | Sequence[str | Path] | None,
    calibration_rows: int,
    seed: int,
    name: str,
) -> int:
    """Make ``model``'s graph the ``int8`` one it will save (``graph_bytes_``); returns the calibration rows used."""
    if model.graph_int8_ and int8 != "none":
        raise ConfigError(f"{name}: already int8 ({model.int8_scheme_}); compress the fp32 transformer instead")
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
                f"the calibration rows have none of the model's text columns {model.text_columns_}",
                column=missing[0],
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
    return rows


def _compress_ensemble(
    source: Path,
    name: str,
    out: Path,
    int8: str,
    calibration: str | Path | Sequence[str | Path] | None,
    calibration_rows: int,
    seed: int,
) -> CompressStats:
    """The ensemble at ``source`` with each transformer member replaced by its edge model (its graph int8, or fp32
    with ``none``); the other members, the blend weights and the neighbour index are kept as they are, so it still
    needs what those members need (the linear member: scikit-learn), but no torch."""
    from skutag.models.registry import load_model

    ensemble: Any = load_model(source)
    compressed: list[int] = []
    rows = 0
    for i, member in enumerate(ensemble.models_):
        if member.kind not in ("transformer", "edge"):
            continue
        edge = EdgeTransformer.load(pinned(source / f"member_{i}"))
        rows = _quantise(edge, int8, calibration, calibration_rows, seed, f"{name} (member {i})")
        edge.compressed_from_ = {
            "kind": member.kind,
            "directory": f"{name}/member_{i}",
            "int8": edge.int8_scheme_,
            "calibration_rows": rows,
            "note": CALIBRATION_NOTE,
        }
        ensemble.models_[i] = edge
        compressed.append(i)
    if not compressed:
        raise ConfigError(f"{name}: the ensemble has no transformer member to compress")
    ensemble.card_ = {
        **(ensemble.card_ or {}),
        "compressed_from": {
            "kind": "ensemble",
            "directory": name,
            "int8": int8,
            "members": compressed,
            "calibration_rows": rows,
            "note": CALIBRATION_NOTE,
        },
    }
    saved = ensemble.save(out)
    folder = pinned(saved)
    return CompressStats(
        source=name,
        out=str(saved),
        int8=int8,
        bytes_before=_size(source),
        bytes_after=_size(folder),
        calibration_rows=rows,
        files=sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()),
    )


@contextmanager
def _pruned(
    source: Path,
    out: Path,
    settings: Any,
    recover: str | Path | Sequence[str | Path] | None,
    rejects: str | Path | None,
    progress: Callable[[str], None] | None,
) -> Iterator[tuple[EdgeTransformer | None, dict[str, Any] | None, int]]:
    """(the pruned model as an edge model read from a temporary transformer directory, the pruning report, recovery
    rows rejected); (None, None, 0) when nothing is pruned. The directory lives while the caller writes ``out``."""
    if not settings.active:
        yield None, None, 0
        return
    from skutag.catalogue.labelled import load_labelled
    from skutag.models.neural.prune import prune_transformer
    from skutag.models.registry import load_model

    model: Any = load_model(source)
    data = None
    rejected = 0
    if recover is not None:
        card = model.card_ or {}
        label = tuple(card.get("label_columns") or ())
        if not label:
            raise ConfigError(f"{source}: the model card names no label columns to read --recover rows with")
        with RejectSink(rejects or out.with_name(out.name + ".rejects.jsonl")) as sink:
            ld = load_labelled(
                recover,
                text=model.text_columns_,
                label=label,
                label_sep=card.get("label_sep"),
                levels=card.get("label_levels"),
                rejects=sink,
            )
            rejected = sink.count
        texts = ld.texts.copy()
        texts.columns = model.text_columns_
        data = (texts, ld.labels)
    report = prune_transformer(model, settings, data, progress)
    model.runtime = "onnx"  # the save must write the graph
    with tempfile.TemporaryDirectory(prefix="skutag-pruned-") as tmp:
        saved = model.save(Path(tmp) / "pruned")
        yield EdgeTransformer.load(pinned(saved)), report.to_dict(), rejected
