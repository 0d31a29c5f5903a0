"""Train/validation/test splits stratified on labels that never cut a duplicate group in two."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import RESERVED_COLUMNS
from skutag.errors import ConfigError, EmptyInputError
from skutag.fsutil import atomic_path, atomic_write_text
from skutag.log import get_logger

log = get_logger(__name__)

SPLIT_NAMES = ("train", "validation", "test")


def stratification_keys(labels: Any, *, min_count: int) -> np.ndarray:
    """One stratum per row: its finest-level label when that class has at least ``min_count`` rows, else
    the finest coarser level that does, else one shared pool for everything rarer.

    ``labels`` is one label per row (1-D) or one column per level, coarsest first (2-D / DataFrame).
    Missing labels count as their own class (``""``).
    """
    frame = pd.DataFrame(labels) if not isinstance(labels, pd.DataFrame) else labels
    frame = frame.reset_index(drop=True)
    frame = frame.astype("str").where(frame.notna(), "")
    n = len(frame)
    keys = np.full(n, "<rare>", dtype=object)
    done = np.zeros(n, dtype=bool)
    path = pd.Series([""] * n, dtype="str")
    paths = []
    for j in range(frame.shape[1]):
        path = path + "\x1f" + frame.iloc[:, j]
        paths.append(path)
    for j in reversed(range(len(paths))):
        p = paths[j]
        ok = (p.map(p.value_counts()).to_numpy() >= min_count) & ~done
        keys[ok] = p.to_numpy()[ok]
        done |= ok
    return keys


def group_stratified_split(
    labels: Any,
    groups: Sequence[int] | np.ndarray,
    *,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    names: Sequence[str] = SPLIT_NAMES,
) -> np.ndarray:
    """Assign every row to a split (``"train"``/``"validation"``/``"test"``) so that

    * rows of one group (``groups[i]`` = group id, e.g. from :func:`skutag.dedup.exact_duplicate_groups`)
      always land in the same split, and
    * each label stratum gets close to ``fractions`` of its rows in each split. Strata are finest-level
      classes; rare classes fall back to coarser levels (see :func:`stratification_keys`), and
    * every finest-level class has at least one group in the largest split (training).

    Greedy: groups in random order, larger first, each to the split furthest below its target for the
    group's stratum (ties to the split furthest below its overall target). Deterministic for a ``seed``.
    """
    fr = np.asarray(fractions, dtype=float)
    if len(fr) != len(names) or (fr < 0).any() or not math.isclose(fr.sum(), 1.0, abs_tol=1e-6):
        raise ConfigError(f"fractions must be {len(names)} non-negative numbers summing to 1, got {list(fractions)}")
    g = np.asarray(groups)
    n = len(g)
    if n == 0:
        return np.array([], dtype=object)
    smallest = fr[fr > 0].min()
    keys = stratification_keys(labels, min_count=math.ceil(1.0 / smallest))
    if len(keys) != n:
        raise ConfigError(f"{len(keys)} labels but {n} group ids")
    gcodes = pd.factorize(pd.Series(g))[0]
    n_groups = int(gcodes.max()) + 1
    sizes = np.bincount(gcodes, minlength=n_groups)
    kcodes = pd.factorize(pd.Series(keys))[0]
    n_keys = int(kcodes.max()) + 1
    # A group's rows usually share a stratum; for groups that mix strata keep every (stratum, rows) pair.
    first_row = np.full(n_groups, n, dtype=np.int64)
    np.minimum.at(first_row, gcodes, np.arange(n))
    group_key = kcodes[first_row]
    mixed_rows = np.flatnonzero(kcodes != group_key[gcodes])
    mixed: dict[int, list[tuple[int, int]]] = {}
    if len(mixed_rows):
        mixed_groups = np.unique(gcodes[mixed_rows])
        sel = np.isin(gcodes, mixed_groups)
        pairs = pd.DataFrame({"g": gcodes[sel], "k": kcodes[sel]}).value_counts().reset_index()
        for grp, k, c in pairs.itertuples(index=False, name=None):
            mixed.setdefault(int(grp), []).append((int(k), int(c)))
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_groups)
    order = order[np.argsort(-sizes[order], kind="stable")]
    key_rows = np.bincount(kcodes, minlength=n_keys)
    target = (key_rows[:, None] * fr[None, :]).tolist()
    count = [[0.0] * len(fr) for _ in range(n_keys)]
    total_target = (fr * n).tolist()
    total = [0.0] * len(fr)
    assigned = np.empty(n_groups, dtype=np.int64)
    live = [s for s in range(len(fr)) if fr[s] > 0]
    sizes_l, gkey_l = sizes.tolist(), group_key.tolist()
    # The first group of every finest class goes to the largest split, so no class is missing from training.
    main = int(np.argmax(fr))
    fine = pd.factorize(pd.Series(_finest(labels)))[0][first_row].tolist()
    in_main = [False] * (max(fine) + 1)
    for grp in order.tolist():
        parts = mixed.get(grp) or [(gkey_l[grp], sizes_l[grp])]
        if not in_main[fine[grp]]:
            best = main
        else:
            best = max(
                live,
                key=lambda s: (
                    sum(c * (target[k][s] - count[k][s]) for k, c in parts),
                    total_target[s] - total[s],
                ),
            )
        in_main[fine[grp]] = in_main[fine[grp]] or best == main
        assigned[grp] = best
        for k, c in parts:
            count[k][best] += c
        total[best] += sizes_l[grp]
    return np.asarray(names, dtype=object)[assigned[gcodes]]


def _finest(labels: Any) -> np.ndarray:
    """The finest level of ``labels`` (1-D, or the last column of a 2-D frame/array) as strings."""
    frame = pd.DataFrame(labels) if not isinstance(labels, pd.DataFrame) else labels
    last = frame.iloc[:, -1].reset_index(drop=True)
    return last.astype("str").where(last.notna(), "").to_numpy()


@dataclass
class SplitSummary:
    """What `split_catalogue` wrote: rows per split, groups, per-level class coverage and output paths."""

    inputs: list[str]
    rows_read: int
    rows_rejected: int
    rows: dict[str, int]
    groups: int
    duplicate_groups: int
    straddling_groups: int
    fractions: list[float]
    seed: int
    max_class_share_deviation: dict[str, float] = field(default_factory=dict)
    classes_missing: dict[str, dict[str, int]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def split_catalogue(
    inputs: Sequence[str | Path],
    out_dir: Path,
    *,
    text: Sequence[str] = (),
    label: Sequence[str] = (),
    label_sep: str | None = None,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    near: bool = True,
    threshold: float = 0.8,
) -> SplitSummary:
    """Read ``inputs``, split them with :func:`group_stratified_split` (groups = near-duplicate titles, or
    exact duplicates only with ``near=False``) and write ``train``/``validation``/``test`` files (CSV for CSV/TSV
    input, Parquet for Parquet, JSON Lines otherwise), ``summary.json`` and ``rejects.jsonl`` into ``out_dir``.
    """
    from skutag.catalogue.columns import resolve_spec
    from skutag.catalogue.reader import read_catalogue
    from skutag.quality.columns import label_levels
    from skutag.quality.groups import exact_title_groups, in_group, near_title_groups

    paths = [Path(p) for p in inputs]
    if not paths:
        raise ConfigError("no input files given")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with RejectSink(out_dir / "rejects.jsonl") as rejects:
        df = read_catalogue(paths, rejects=rejects)
    if len(df) == 0:
        raise EmptyInputError("no usable rows", source=", ".join(map(str, paths)))
    df = df.reset_index(drop=True)
    spec = resolve_spec(list(df.columns), text=tuple(text), label=tuple(label), label_sep=label_sep)
    groups = near_title_groups(df, spec, threshold=threshold) if near else exact_title_groups(df, spec)
    labels = label_levels(df, spec)
    strata = labels if labels is not None else np.zeros(len(df), dtype=int)
    split = group_stratified_split(strata, groups, fractions=fractions, seed=seed)

    straddling = int((pd.DataFrame({"g": groups, "s": split}).groupby("g")["s"].nunique() > 1).sum())
    summary = SplitSummary(
        inputs=[str(p) for p in paths],
        rows_read=len(df),
        rows_rejected=rejects.count,
        rows={name: int((split == name).sum()) for name in SPLIT_NAMES},
        groups=len(np.unique(groups)),
        duplicate_groups=len(np.unique(groups[in_group(groups)])),
        straddling_groups=straddling,
        fractions=[float(f) for f in fractions],
        seed=seed,
    )
    if labels is not None:
        _class_stats(labels, split, np.asarray(fractions, dtype=float), summary)
    fmt = _output_format(paths[0])
    keep = [c for c in df.columns if c not in RESERVED_COLUMNS]
    for name in SPLIT_NAMES:
        target = out_dir / f"{name}.{fmt}"
        _write(df.loc[split == name, keep], target, fmt)
        summary.files[name] = str(target)
    summary.files["summary"] = str(out_dir / "summary.json")
    summary.files["rejects"] = str(out_dir / "rejects.jsonl")
    atomic_write_text(out_dir / "summary.json", json.dumps(summary.to_json(), indent=2, ensure_ascii=False) + "\n")
    log.debug("split %d rows: %s", len(df), summary.rows)
    return summary


def _class_stats(labels: pd.DataFrame, split: np.ndarray, fr: np.ndarray, summary: SplitSummary) -> None:
    """Largest deviation of a split's share from its fraction over classes with >= 50 rows; classes absent
    from a split, per level."""
    for level in labels.columns:
        tab = pd.crosstab(labels[level].to_numpy(), split)
        tab = tab.reindex(columns=list(SPLIT_NAMES), fill_value=0)
        big = tab[tab.sum(axis=1) >= 50]
        if len(big):
            share = big.div(big.sum(axis=1), axis=0).to_numpy()
            summary.max_class_share_deviation[level] = round(float(np.abs(share - fr[None, :]).max()), 4)
        summary.classes_missing[level] = {name: int((tab[name] == 0).sum()) for name in SPLIT_NAMES}


def _output_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if ".csv" in suffixes:
        return "csv"
    if ".tsv" in suffixes:
        return "tsv"
    if ".parquet" in suffixes:
        return "parquet"
    return "jsonl"


def _write(df: pd.DataFrame, target: Path, fmt: str) -> None:
    with atomic_path(target) as tmp:
        if fmt == "csv":
            df.to_csv(tmp, index=False)
        elif fmt == "tsv":
            df.to_csv(tmp, index=False, sep="\t")
        elif fmt == "parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_json(tmp, orient="records", lines=True, force_ascii=False)
