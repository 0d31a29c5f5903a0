"""Synthetic catalogues of any size, resampled from real MWPD offers with light perturbations.

``make_catalogue(n_rows, path, seed)`` writes JSON Lines (or Parquet / CSV by extension) with the MWPD
fields. Each row is a real offer with word drops/swaps, case changes, typos, and occasionally HTML
markup, U+FFFD, blank descriptions or placeholders, so most rows are unique but near-duplicates abound.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import SHARED_DATA

FIELDS = ["ID", "Name", "Description", "CategoryText", "lvl1", "lvl2", "lvl3"]
_CHUNK = 50_000


def load_source(parts: tuple[str, ...] = ("train.json", "validation.json")) -> pd.DataFrame:
    """MWPD offers of ``parts`` (the pool that rows are resampled from; train only when a model trained on
    the resampled rows is then scored on validation)."""
    frames = []
    for name in parts:
        p = SHARED_DATA / "mwpd2020" / name
        if p.exists():
            frames.append(pd.read_json(p, lines=True, dtype=False))
    if not frames:
        raise FileNotFoundError(f"MWPD data not found under {SHARED_DATA}")
    df = pd.concat(frames, ignore_index=True)
    for c in FIELDS:
        if c not in df.columns:
            df[c] = ""
    return df[FIELDS].astype("str")


def _perturb(text: str, rng: np.random.Generator) -> str:
    words = text.split(" ")
    if len(words) > 3 and rng.random() < 0.5:
        del words[int(rng.integers(len(words)))]
    if len(words) > 3 and rng.random() < 0.4:
        i = int(rng.integers(len(words) - 1))
        words[i], words[i + 1] = words[i + 1], words[i]
    if words and rng.random() < 0.4:
        i = int(rng.integers(len(words)))
        w = words[i]
        if len(w) > 2:
            j = int(rng.integers(len(w) - 1))
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    if rng.random() < 0.3:
        words.append(str(int(rng.integers(1, 10_000))))
    out = " ".join(words)
    r = rng.random()
    if r < 0.05:
        out = out.upper()
    elif r < 0.1:
        out = out.lower()
    return out


def _chunk(src: pd.DataFrame, n: int, start: int, rng: np.random.Generator) -> pd.DataFrame:
    pick = rng.integers(0, len(src), size=n)
    df = src.iloc[pick].reset_index(drop=True).copy()
    names = df["Name"].tolist()
    descs = df["Description"].tolist()
    for i in range(n):
        if rng.random() < 0.9:
            names[i] = _perturb(names[i], rng)
        if rng.random() < 0.5:
            descs[i] = _perturb(descs[i], rng)
        r = rng.random()
        if r < 0.03:
            descs[i] = f"<p>{descs[i]}</p><ul><li>{names[i]}</li></ul>"
        elif r < 0.04:
            names[i] = names[i].replace(" ", "\ufffd", 1)
        elif r < 0.05:
            descs[i] = ""
        elif r < 0.052:
            descs[i] = "N/A"
        elif r < 0.0525:
            names[i] = "  "
    df["Name"] = names
    df["Description"] = descs
    df["ID"] = [str(start + i) for i in range(n)]
    return df


def make_catalogue(
    n_rows: int, path: str | Path, seed: int = 0, parts: tuple[str, ...] = ("train.json", "validation.json")
) -> Path:
    """Write an ``n_rows`` synthetic catalogue resampled from the MWPD ``parts`` to ``path`` (.jsonl/.json,
    .parquet or .csv)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    src = load_source(parts)
    rng = np.random.default_rng(seed)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer: pq.ParquetWriter | None = None
        try:
            for s in range(0, n_rows, _CHUNK):
                table = pa.Table.from_pandas(_chunk(src, min(_CHUNK, n_rows - s), s, rng), preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        return path
    with path.open("w", encoding="utf-8", newline="") as fh:
        for s in range(0, n_rows, _CHUNK):
            df = _chunk(src, min(_CHUNK, n_rows - s), s, rng)
            if suffix == ".csv":
                df.to_csv(fh, index=False, header=(s == 0))
            else:
                for rec in df.to_dict(orient="records"):
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path
