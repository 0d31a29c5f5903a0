"""How cost grows with the catalogue: train and predict time and peak RSS at 10K, 100K and 1M rows.

Catalogues are resampled real MWPD titles with perturbations (``benchmarks/synth.py``, Parquet, seed 0);
every system trains on the title (Name) and the three MWPD levels, saves its model, and then a second
fresh process loads the model and predicts every row of the same file in chunks of 50,000 rows (reading
the file is part of both). Systems: skutag linear, scikit-learn TF-IDF + LinearSVC, fastText (hand-set).

Before each size above the smallest two, time and peak RSS are projected from the previous two sizes
(power law through them). A run projected past ``MAX_TRAIN_S`` or past 60% of the machine's memory is not
started; its row says so, with the projection, instead of a figure. ``python -m benchmarks.bench_cost
--sizes 10000,100000`` runs chosen sizes; ``--force`` runs whatever the projection says.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.bench_peers import QUICK_FASTTEXT
from benchmarks.common import OUT_DIR, markdown_table, measure, measure_here, save_results
from benchmarks.peers_tasks import mwpd_available

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (200, 400)
SYSTEMS = {"skutag-linear": "skutag linear", "sklearn-svc": "sklearn TF-IDF + LinearSVC", "fasttext": "fastText"}
LEVELS = ["lvl1", "lvl2", "lvl3"]
CHUNK = 50_000
MAX_TRAIN_S = 20 * 60.0
MEMORY_SHARE = 0.6


def cost_train(kind: str, data: str, model_dir: str, options: dict[str, Any]) -> dict[str, Any]:
    """Read the catalogue, fit ``kind`` on Name -> lvl1..3, save it; fit time and model size."""
    from benchmarks.peers_systems import dir_size_mb, make_system

    df = pd.read_parquet(data, columns=["Name", *LEVELS])
    system = make_system(kind, options)
    t0, cpu0 = time.perf_counter(), time.process_time()
    system.fit(df[["Name"]], df[LEVELS], None)
    fit_s, fit_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    system.save(Path(model_dir))
    out = {"fit_s": fit_s, "fit_cpu_s": fit_cpu_s, "size_mb": dir_size_mb(Path(model_dir))}
    solver = getattr(getattr(system, "model", None), "solver_", None)
    return out | ({"note": f"{solver} solver"} if solver else {})


def cost_predict(kind: str, data: str, model_dir: str) -> dict[str, Any]:
    """Load the saved model and predict every row of the catalogue, ``CHUNK`` rows a call."""
    from benchmarks.peers_systems import make_system

    system = make_system(kind, {})
    t0 = time.perf_counter()
    system.load(Path(model_dir))
    load_s = time.perf_counter() - t0
    df = pd.read_parquet(data, columns=["Name"])
    t0, cpu0 = time.perf_counter(), time.process_time()
    for s in range(0, len(df), CHUNK):
        system.predict(system.inputs(df.iloc[s : s + CHUNK]))
    pred_s = time.perf_counter() - t0
    return {"load_s": load_s, "predict_s": pred_s, "predict_cpu_s": time.process_time() - cpu0}


def project(points: list[tuple[int, float]], n: int) -> float | None:
    """Value at ``n`` on the power law through the last two (size, value) points (None with fewer)."""
    if len(points) < 2:
        return None
    (n1, v1), (n2, v2) = points[-2], points[-1]
    if v1 <= 0 or v2 <= 0 or n1 == n2:
        return None
    k = math.log(v2 / v1) / math.log(n2 / n1)
    return v2 * (n / n2) ** k


def available_mb() -> float:
    """MemAvailable in MB (inf when unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return math.inf


def regime(system: str, n: int) -> str:
    """The solver ``system`` uses at ``n`` rows ('' when it has one): projections extrapolate within one."""
    if system != SYSTEMS["skutag-linear"]:
        return ""
    from skutag.models.linear.model import LinearModel

    return LinearModel().solver_for(n)


def _skip_reason(history: list[dict[str, Any]], n: int) -> str | None:
    if history:
        system = str(history[0].get("system", ""))
        history = [r for r in history if regime(system, r["rows"]) == regime(system, n)]
    train = [(r["rows"], r["train_wall_s"]) for r in history if r.get("train_wall_s")]
    rss = [(r["rows"], r["train_peak_rss_mb"]) for r in history if r.get("train_peak_rss_mb")]
    t, m = project(train, n), project(rss, n)
    if t is not None and t > MAX_TRAIN_S:
        return f"not run: training projected at {t / 60:.0f} min (> {MAX_TRAIN_S / 60:.0f} min)"
    if m is not None and m > MEMORY_SHARE * available_mb():
        return f"not run: peak RSS projected at {m / 1024:.1f} GB (> {MEMORY_SHARE:.0%} of free memory)"
    return None


def run_sizes(
    sizes: tuple[int, ...],
    quick: bool,
    force: bool = False,
    earlier: list[dict[str, Any]] | None = None,
    systems: tuple[str, ...] | None = None,
    on_row: Callable[[list[dict[str, Any]]], object] | None = None,
) -> list[dict[str, Any]]:
    """Every system at every size (after ``earlier`` rows, which also feed the projections): one row per
    size and system with train/predict wall s, CPU s, peak RSS and model size, or a note why not."""
    from benchmarks.synth import make_catalogue

    fn = measure_here if quick else measure
    chosen = {k: v for k, v in SYSTEMS.items() if systems is None or k in systems}
    redo = {(n, name) for n in sizes for name in chosen.values()}
    rows: list[dict[str, Any]] = [r for r in earlier or [] if (r["rows"], r["system"]) not in redo]
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as tmp:
        for n in sizes:
            data = make_catalogue(n, Path(tmp) / f"catalogue-{n}.parquet", seed=0)
            for kind, name in chosen.items():
                row: dict[str, Any] = {"rows": n, "system": name}
                reason = None if force else _skip_reason([r for r in rows if r["system"] == name], n)
                print(f"  cost: {name} at {n:,} rows{' - ' + reason if reason else ''}", flush=True)
                if reason:
                    rows.append({**row, "note": reason})
                    continue
                if on_row:
                    on_row([*rows, {**row, "note": "running"}])
                model_dir = str(Path(tmp) / f"{kind}-{n}")
                try:
                    opts = dict(QUICK_FASTTEXT) if quick and kind == "fasttext" else {}
                    tr = fn(cost_train, kind, str(data), model_dir, opts)
                    pr = fn(cost_predict, kind, str(data), model_dir)
                except Exception as exc:  # one failure must not lose the other figures
                    traceback.print_exc()
                    rows.append({**row, "note": f"failed: {type(exc).__name__}: {exc}"})
                    continue
                rows.append(
                    {
                        **row,
                        "train_wall_s": tr.wall_s,
                        "train_peak_rss_mb": tr.peak_rss_mb,
                        "predict_wall_s": pr.wall_s,
                        "predict_peak_rss_mb": pr.peak_rss_mb,
                        "predict_rows_s": n / pr.value["predict_s"],
                        **tr.value,
                        **pr.value,
                    }
                )
                if on_row:
                    on_row(rows)
            data.unlink()
    return rows


COLUMNS = [
    "rows",
    "system",
    "fit_s",
    "fit_cpu_s",
    "train_peak_rss_mb",
    "predict_s",
    "predict_rows_s",
    "predict_peak_rss_mb",
    "size_mb",
    "note",
]
LABELS = {
    "fit_s": "train s",
    "fit_cpu_s": "train CPU s",
    "train_peak_rss_mb": "train peak RSS MB",
    "predict_s": "predict s",
    "predict_rows_s": "predict rows/s",
    "predict_peak_rss_mb": "predict peak RSS MB",
    "size_mb": "model MB",
}


def render(rows: list[dict[str, Any]]) -> str:
    return markdown_table([{**r, "rows": f"{r['rows']:,}"} for r in rows], COLUMNS, LABELS)


def run(
    quick: bool = False,
    sizes: tuple[int, ...] | None = None,
    force: bool = False,
    merge_from: tuple[str, ...] = (),
    systems: tuple[str, ...] | None = None,
    save_as: str | None = None,
    combine: bool = False,
) -> str:
    """``merge_from``: saved result names (e.g. ``cost``) whose other rows are kept and feed the projections;
    ``systems``: kinds to run (default all); ``save_as``: result name (default ``cost``/``cost-quick``);
    ``combine``: run nothing, save the merged rows (with a note for each missing size and system)."""
    if not mwpd_available():
        return "shared data not available: skipped"
    earlier: dict[tuple[int, str], dict[str, Any]] = {}
    for name in merge_from:
        saved = OUT_DIR / f"{name}.json"
        if saved.is_file():
            earlier |= {(r["rows"], r["system"]): r for r in json.loads(saved.read_text()).get("rows", [])}
    name = save_as or ("cost-quick" if quick else "cost")

    def save(rows: list[dict[str, Any]]) -> str:
        rows = sorted(rows, key=lambda r: (r["rows"], list(SYSTEMS.values()).index(r["system"])))
        md = (
            "Cost curve: resampled MWPD titles (benchmarks/synth.py), title only, 3 levels; train = fit in a fresh "
            "process (peak RSS includes reading the file), predict = load the saved model and predict every row "
            f"in another fresh process.\n\n{render(rows)}"
        )
        save_results(name, {"quick": quick, "rows": rows}, md)
        return md

    if combine:  # no run: the merged rows, and a note for every size and system without figures
        rows = list(earlier.values())
        for n in SIZES:
            for sys_name in SYSTEMS.values():
                if (n, sys_name) not in earlier:
                    history = [r for r in rows if r["system"] == sys_name and r["rows"] < n]
                    note = _skip_reason(history, n) or "not measured in this run"
                    rows.append({"rows": n, "system": sys_name, "note": note})
        return save(rows)
    sizes = sizes or (QUICK_SIZES if quick else SIZES)
    rows = run_sizes(sizes, quick, force, list(earlier.values()), systems, on_row=save)
    md = save(rows)
    return md


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_cost", description=__doc__)
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated row counts")
    ap.add_argument("--force", action="store_true", help="run sizes even when projected too slow or too large")
    ap.add_argument("--merge-from", default="", help="saved result names whose other rows are kept, e.g. cost")
    ap.add_argument("--systems", default="", help=f"kinds to run, comma-separated (default all: {', '.join(SYSTEMS)})")
    ap.add_argument("--save-as", default=None, help="result name in bench-out/ (default cost)")
    ap.add_argument("--combine", action="store_true", help="run nothing: merge --merge-from results and save")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(",") if s.strip())
    merge = tuple(s for s in args.merge_from.split(",") if s)
    systems = tuple(s for s in args.systems.split(",") if s) or None
    print(run(args.quick, sizes, args.force, merge, systems, args.save_as, args.combine))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
