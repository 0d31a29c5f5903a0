"""``skutag train DATA --labels-from MAPPING``: a cold-start catalogue's own model, taught by ``skutag map``.

MAPPING is a ``skutag map`` output (CSV / JSONL / Parquet with ``path``, ``path_score``, ``decision``, and the
product id or ``_source`` / ``_row``). Its rows are joined to DATA's:

1. by the product id column (``--id-column``, else the id-like column of DATA), when MAPPING has it too;
2. else by ``_source`` / ``_row`` (the record number in each file; the map output keeps them): the i-th file
   MAPPING names is DATA's i-th file;
3. else by row order, which needs as many mapping rows as DATA rows with text.

A DATA row with text that finds no mapping row is an error (the mapping was made from other data), not a reject.
Then rows are dropped, each written to the rejects with its reason: no text; the mapper's confidence below
``min_map_score``; and label noise: cleanlab's confident learning on out-of-fold probabilities of the linear
model (the ``label_issues`` quality check), which drops the rows whose mapped path a model trained on the other
rows confidently contradicts. The model trains on what is left; its card's ``labels_from`` says where the labels
came from and how many rows each filter dropped.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.columns import detect_id_column, find_column, resolve_spec
from skutag.catalogue.formats import sniff_format
from skutag.catalogue.labelled import data_hash, load_labelled, split_labelled
from skutag.catalogue.paths import PATH_SEP
from skutag.catalogue.reader import read_catalogue
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import LINE_COL, ROW_COL, SOURCE_COL, ColumnSpec
from skutag.catalogue.writer import write_catalogue
from skutag.errors import ConfigError, InputError, MissingColumnError
from skutag.evaluation.metrics import EvaluationResult
from skutag.log import get_logger
from skutag.workflows.evaluate import evaluate_scored
from skutag.workflows.model_card import ValidationScore, add_validation, as_paths, as_progress, metrics_card
from skutag.workflows.train import TrainResult, train_model

log = get_logger(__name__)

#: The label column of the joined rows (a name no catalogue uses).
LABEL = "_mapped_path"
NOISE_FILTERS = ("cleanlab", "none")
#: Reasons a row is dropped (the rejects' ``reason`` starts with them).
LOW_SCORE = "mapper's confidence below --min-map-score"
NO_PATH = "no path in the mapping"
NOISY = "label issue (cleanlab)"


@dataclass
class LabelsFromResult:
    """The training, and what became of DATA's rows: joined, dropped per reason, used."""

    train: TrainResult
    rows_read: int
    joined_by: str
    dropped: dict[str, int] = field(default_factory=dict)
    #: The model (and, where the validation rows are in MAPPING, the mapper) on ``valid``'s true labels.
    mapper_validation: EvaluationResult | None = None


def read_mapping(path: str | Path) -> pd.DataFrame:
    """A ``skutag map`` output as written, ``_source`` / ``_row`` included (the catalogue reader would replace them
    with its own numbering of the mapping file); CSV values stay text (ids keep their leading zeros)."""
    info = sniff_format(path)
    try:
        if info.fmt == "parquet":
            return pd.read_parquet(path)
        if info.fmt in ("json", "jsonl"):
            return pd.read_json(path, lines=info.fmt == "jsonl", dtype=False, compression=info.compression)
        return pd.read_csv(path, sep=info.delimiter, dtype=str, keep_default_na=False, compression=info.compression)
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot read the mapping: {exc}", source=str(path)) from exc


def _ordinals(sources: pd.Series) -> pd.Series:
    order = {s: i for i, s in enumerate(dict.fromkeys(sources.astype(str)))}
    return sources.astype(str).map(order)


def join_mapping(
    data: pd.DataFrame, mapping: pd.DataFrame, id_column: str | None, source: str, mapping_source: str
) -> tuple[pd.DataFrame, str]:
    """``data`` with the mapping's ``path`` (as :data:`LABEL`) and ``path_score`` joined in, and how it was joined.
    Rows of ``data`` are all kept (NaN where the mapping has none: the caller decides)."""
    if "path" not in mapping.columns:
        raise MissingColumnError(
            "MAPPING has no 'path' column: give the output of `skutag map`", source=mapping_source, column="path"
        )
    data_cols = [str(c) for c in data.columns]
    id_col = find_column(id_column, data_cols, source) if id_column else detect_id_column(data_cols)
    score = mapping["path_score"] if "path_score" in mapping.columns else pd.Series(np.nan, index=mapping.index)
    right = pd.DataFrame({LABEL: mapping["path"], "_map_score": pd.to_numeric(score, errors="coerce")})
    if id_col is not None and id_col in mapping.columns:
        keys = mapping[id_col].astype(str)
        dup = keys[keys.duplicated()]
        if len(dup):
            raise InputError(
                f"MAPPING lists product id(s) more than once in {id_col!r} (e.g. {', '.join(dup.head(3))}): the join "
                "by id would be ambiguous",
                source=mapping_source,
            )
        right.index = pd.Index(keys)
        joined = right.reindex(data[id_col].astype(str))
        how = f"id column {id_col!r}"
    elif id_column is not None:
        raise MissingColumnError(
            f"MAPPING has no id column {id_col!r} to join on", source=mapping_source, column=str(id_col)
        )
    elif ROW_COL in mapping.columns and SOURCE_COL in mapping.columns:
        right.index = pd.MultiIndex.from_arrays([_ordinals(mapping[SOURCE_COL]), mapping[ROW_COL].astype(int)])
        key = pd.MultiIndex.from_arrays([_ordinals(data[SOURCE_COL]), data[ROW_COL].astype(int)])
        joined = right.reindex(key)
        how = "file and record number (_source, _row)"
    else:
        if len(mapping) != len(data):
            raise InputError(
                f"no id column to join on, and MAPPING has {len(mapping):,} rows where DATA has {len(data):,} rows "
                "with text: name the product id column (--id-column) or map this very file",
                source=mapping_source,
            )
        joined = right
        how = "row order"
    out = data.copy()
    out[LABEL] = joined[LABEL].to_numpy()
    out["_map_score"] = joined["_map_score"].to_numpy()
    return out, how


def _reject(sink: RejectSink, frame: pd.DataFrame, mask: np.ndarray, reason: str | list[str], column: str) -> None:
    reasons = [reason] * int(mask.sum()) if isinstance(reason, str) else reason
    for (_, row), why in zip(frame.loc[mask].iterrows(), reasons, strict=True):
        line = row.get(LINE_COL)
        sink.add(
            why,
            source=str(row[SOURCE_COL]) if SOURCE_COL in frame.columns else None,
            row=int(row[ROW_COL]) if ROW_COL in frame.columns else None,
            column=column,
            record=row.drop([c for c in (LINE_COL, "_map_score") if c in row.index]),
            line=None if line is None or pd.isna(line) else int(line),
        )


def noisy_rows(frame: pd.DataFrame, spec: ColumnSpec, folds: int = 3) -> tuple[np.ndarray, list[str]]:
    """Rows whose mapped path cleanlab flags (``label_issues`` check, finest level), and the reject reason of
    each (with the path a model trained on the other rows suggests)."""
    from skutag.quality.checks.label_issues import check_label_issues

    # without _row the check numbers the rows 1..n (a _row repeats across files)
    result = check_label_issues(
        frame.drop(columns=[ROW_COL], errors="ignore").reset_index(drop=True), spec, folds=folds
    )
    flags = np.asarray(result.flags, dtype=bool)
    suggested = {s["row"]: s for s in (result.details or {}).get("suggestions", [])}
    reasons = []
    for i in np.flatnonzero(flags):
        entry = next((v for k, v in suggested.get(int(i) + 1, {}).items() if k.startswith("level_")), None)
        hint = f": a model of the other rows says {entry['suggested']!r} ({entry['confidence']:.2f})" if entry else ""
        reasons.append(NOISY + hint)
    return flags, reasons


def train_from_mapping(
    data: str | Path | Sequence[str | Path],
    mapping: str | Path,
    *,
    out: str | Path | None = None,
    text: Sequence[str] = (),
    id_column: str | None = None,
    levels: int | None = None,
    model: str = "linear",
    params: dict[str, Any] | None = None,
    min_map_score: float | None = None,
    noise_filter: str = "cleanlab",
    folds: int = 3,
    valid: str | Path | Sequence[str | Path] | None = None,
    valid_label: Sequence[str] = (),
    valid_label_sep: str | None = None,
    rejects: str | Path | None = None,
    progress: Callable[[str], None] | bool | None = True,
) -> LabelsFromResult:
    """Train ``model`` on DATA with MAPPING's paths as labels (see the module; ``levels`` keeps their first levels
    only); ``valid`` (true labels in ``valid_label``) scores the model, and the mapper too where MAPPING holds the
    validation rows."""
    if noise_filter not in NOISE_FILTERS:
        raise ConfigError(f"noise filter must be one of {', '.join(NOISE_FILTERS)}, not {noise_filter!r}")
    if min_map_score is not None and not 0.0 <= min_map_score <= 1.0:
        raise ConfigError(f"--min-map-score must be in [0, 1], got {min_map_score}")
    if valid is not None and not valid_label:
        raise ConfigError("--valid with --labels-from needs --label: the validation file's true label column(s)")
    say = as_progress(progress)
    paths = as_paths(data)
    source = ", ".join(map(str, paths))
    with RejectSink(rejects) as sink:
        if say:
            say("reading data and mapping")
        frame = read_catalogue(paths, rejects=sink, lines=True)
        rows_read = len(frame) + sink.count
        mapped = read_mapping(mapping)
        text_cols = resolve_spec([str(c) for c in frame.columns], text=text, source=source).text
        spec = ColumnSpec(text=text_cols, label=(LABEL,), label_sep=PATH_SEP, levels=levels)
        texts = frame[list(spec.text)].astype(object)
        has_text = texts.apply(lambda r: any(isinstance(v, str) and v.strip() for v in r), axis=1).to_numpy(bool)
        frame, how = join_mapping(frame, mapped, id_column, source, str(mapping))
        missing = has_text & frame[LABEL].isna().to_numpy()
        if missing.any():
            where = frame.loc[missing, id_column or detect_id_column(list(frame.columns)) or ROW_COL].astype(str)
            raise InputError(
                f"{int(missing.sum()):,} of {int(has_text.sum()):,} rows with text have no row in MAPPING (joined by "
                f"{how}; first: {', '.join(where.head(5))}): was MAPPING made from this data?",
                source=str(mapping),
            )
        dropped: dict[str, int] = {}
        no_path = has_text & ~frame[LABEL].map(lambda v: isinstance(v, str) and bool(v.strip())).to_numpy(bool)
        if no_path.any():
            _reject(sink, frame, no_path, NO_PATH, "path")
            dropped[NO_PATH] = int(no_path.sum())
        frame = frame.loc[~no_path]
        if min_map_score is not None:
            low = (frame["_map_score"].fillna(0.0) < min_map_score).to_numpy(bool) & has_text[~no_path]
            _reject(sink, frame, low, f"{LOW_SCORE} ({min_map_score:g})", "path_score")
            dropped[LOW_SCORE] = int(low.sum())
            frame = frame.loc[~low]
        before = sink.count
        labelled = split_labelled(frame, spec, sink)  # no text (and any path the label rule refuses)
        dropped.update({k: v for k, v in labelled.rejected_by_reason.items() if v})
        kept = labelled.frame
        if noise_filter == "cleanlab" and len(kept):
            if say:
                say(f"filtering label noise with cleanlab ({folds}-fold linear model on {len(kept):,} rows)")
            flags, reasons = noisy_rows(kept, spec, folds)
            _reject(sink, kept, flags, reasons, "path")
            dropped[NOISY] = int(flags.sum())
            kept = kept.loc[~flags]
        log.info("labels from %s: %d rows joined by %s, %d dropped", mapping, len(frame), how, sink.count - before)
        with tempfile.TemporaryDirectory(prefix="skutag-labels-from-") as tmp:
            rows = Path(tmp) / "labelled.parquet"
            write_catalogue(kept[[*spec.text, LABEL]].reset_index(drop=True), rows)
            result = train_model(
                rows,
                text=spec.text,
                label=[LABEL],
                label_sep=PATH_SEP,
                levels=levels,
                model=model,
                params=params,
                rejects=sink,
                progress=say or False,
            )
        rejected = sink.count
    validation, mapper_validation = None, None
    if valid is not None:
        if say:
            say("evaluating on validation data")
        truth = load_labelled(valid, text=spec.text, label=valid_label, label_sep=valid_label_sep, levels=levels)
        validation, scored = evaluate_scored(result.model, truth.texts, truth.labels)
        result.validation = validation
        add_validation(result.meta, result.model, valid, ValidationScore(validation, scored, truth.rows_rejected))
        mapper_validation = mapper_on(truth.frame, truth.labels, mapped, id_column)
        if mapper_validation is not None:
            result.meta["validation"]["mapper_metrics"] = metrics_card(mapper_validation)
    result.meta.update(
        data=[str(p) for p in paths],
        data_sha256=data_hash(paths),
        rows_used=len(kept),
        rows_rejected=rejected,
        text_columns=list(spec.text),
        label_columns=["path"],
        labels_from={
            "mapping": str(mapping),
            "mapping_sha256": data_hash([mapping]),
            "joined_by": how,
            "rows_read": rows_read,
            "min_map_score": min_map_score,
            "noise_filter": noise_filter,
            "dropped": dropped,
        },
    )
    result.rows_used, result.rows_rejected = len(kept), rejected
    result.model.card_ = result.meta
    if out is not None:
        if say:
            say("saving")
        result.model_dir = result.model.save(out)
    return LabelsFromResult(result, rows_read, how, dropped, mapper_validation)


def mapper_on(
    frame: pd.DataFrame, labels: pd.DataFrame, mapping: pd.DataFrame, id_column: str | None
) -> EvaluationResult | None:
    """The mapping's own paths scored on the validation rows it holds (joined by id only); None when it holds none."""
    from skutag.evaluation.metrics import evaluate_predictions

    cols = [str(c) for c in frame.columns]
    id_col = find_column(id_column, cols) if id_column else detect_id_column(cols)
    if id_col is None or id_col not in mapping.columns:
        return None
    paths = mapping.drop_duplicates(id_col).set_index(mapping[id_col].drop_duplicates().astype(str))["path"]
    found = frame[id_col].astype(str).map(paths)
    have = found.notna().to_numpy()
    if not have.any():
        return None
    pred = [str(p).split(PATH_SEP) for p in found[have]]
    depth = labels.shape[1]
    pred_frame = pd.DataFrame([(p + [""] * depth)[:depth] for p in pred], columns=labels.columns)
    return evaluate_predictions(labels.loc[have].reset_index(drop=True), pred_frame)
