"""`skutag predict` (linear, and the transformer on ONNX Runtime) and `skutag clean` with and without Ray on this
machine: rows/s, Ray's fixed start-up cost, 1 vs 2 workers, and the CPU each costs (the per-worker rates of the
cost model in docs/cluster.md).

Input: MWPD offers (train + validation) resampled with replacement to ``FULL_ROWS`` rows in ``SHARDS`` Parquet
files (a catalogue on a cluster comes in several files; one read task per file). Model: the linear model on
MWPD train, title only (no calibration folds: they do not change predicting). Every run is a fresh process:
one-process ``predict_files`` into one Parquet file, and ``predict_files_ray`` on a local Ray cluster that the run
starts itself (``num_cpus=2``, object store 500 MB, no dashboard) with 1 worker (1 CPU) or 2 workers (0.75 CPU
each, so both fit beside the read tasks), into Parquet shards. Columns: wall time of the whole run (Ray's
includes starting and stopping the cluster), rows/s over that wall time, ``ray.init`` seconds, and the seconds
from the first block to the last answer (actor start-up and model load included). The fixed cost is a Ray run
on ``SMALL_ROWS`` rows minus a one-process run on the same rows. CPU seconds (the driver process, plus each
actor process's own total: imports and model load included; Ray's daemons and read tasks not counted) give
rows per CPU-second, the fairer figure on a machine shared with other jobs. ``quick``: 10,000 rows in chunks
of 2,500, a model on 1,000 offers, the one-process run and Ray with 2 workers only (no transformer, no clean).

The full run adds ``TRANSFORMER_ROWS`` offers predicted by the serving benchmark's MiniLM transformer (fine-tuned
50 steps, cached in ``bench-out/serve-transformer``; ONNX Runtime fp32) in chunks of ``TRANSFORMER_CHUNK``, and
``CLEAN_ROWS`` synthetic offers (``benchmarks.synth``: resampled MWPD offers with perturbed texts, in ``SHARDS``
Parquet files) cleaned with near-duplicate removal (``--dedup near``): one process against ``--ray`` with 1 and
2 workers. 100K transformer rows would take about 15 minutes per run on these 2 cores, so the count is smaller;
the cost model scales the measured rate. ``store``: the predictions a second one driver writes into the tag store
(``predict --ray --db``), SQLite and PostgreSQL.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, markdown_table, save_results

FULL_ROWS = 1_000_000
QUICK_ROWS = 10_000
QUICK_CHUNK = 2_500
SMALL_ROWS = 1_000
SHARDS = 8
CHUNK = 50_000
OBJECT_STORE = 500 << 20
TRANSFORMER_ROWS = 100_000
TRANSFORMER_CHUNK = 5_000
CLEAN_ROWS = 200_000
CLEAN_SHARDS = 4
CLEAN_CHUNK = 25_000
STORE_ROWS = 50_000

CHILD = """
import json, sys, threading, time
import psutil
args = json.loads(sys.argv[1])
seen = {}
def sample():  # the CPU of every process under this one (Ray's daemons, read tasks and workers), twice a second
    me = psutil.Process()
    while True:
        for p in me.children(recursive=True):
            try:
                t = p.cpu_times()
                seen[p.pid] = t.user + t.system
            except psutil.Error:
                pass
        time.sleep(0.5)
threading.Thread(target=sample, daemon=True).start()
t0 = time.perf_counter()
init = {"num_cpus": 2, "object_store_memory": args["store"]}
extra = {}
if args.get("clean"):
    opts = {"label": ["lvl1", "lvl2", "lvl3"], "dedup": "near", "chunksize": args["chunk"]}
    if args["ray"]:
        from skutag.workflows.clean_ray import clean_catalogue_ray
        s = clean_catalogue_ray(args["files"], args["out"], workers=args["workers"], cpus_per_worker=args["cpus"],
                                ray_init=init, **opts)
        extra = {"startup_s": s.startup_s, "run_s": s.duration_s - s.startup_s, "shards": s.shards}
    else:
        from skutag.workflows.clean import clean_catalogue
        s = clean_catalogue(args["files"], args["out"], workers=1, **opts)
    stats = {"rows_read": s.rows_in, "rows_written": s.rows_out, "timings_s": s.timings_s}
elif args["ray"]:
    from skutag.workflows.predict_ray import predict_files_ray
    s = predict_files_ray(args["model"], args["files"], args["out"], chunksize=args["chunk"], workers=args["workers"],
                          cpus_per_worker=args["cpus"], ray_init=init)
    extra = {"startup_s": s.startup_s, "run_s": s.run_s, "shards": s.shards, "nodes": len(s.nodes),
             "worker_cpu_s": s.worker_cpu_s}
    stats = {"rows_read": s.rows_read, "rows_written": s.rows_written}
else:
    from skutag.workflows.predict import predict_files
    s = predict_files(args["model"], args["files"], args["out"], chunksize=args["chunk"])
    stats = {"rows_read": s.rows_read, "rows_written": s.rows_written}
wall = time.perf_counter() - t0
cpu = time.process_time()
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "children_cpu_s": sum(seen.values()), **stats, **extra}))
"""


def _child(**args: Any) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, env=env, cwd=str(REPO)
    )
    if proc.returncode != 0:
        raise RuntimeError(f"run {args} failed:\n{proc.stderr[-4000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _inputs(n: int, directory: Path, seed: int = 0) -> list[str]:
    """``n`` MWPD offers resampled with replacement into ``SHARDS`` Parquet files (one when ``n`` is small)."""
    import numpy as np

    from benchmarks.synth import load_source

    pool = load_source()
    rng = np.random.default_rng(seed)
    rows = pool.iloc[rng.integers(0, len(pool), size=n)].reset_index(drop=True)
    rows["ID"] = [f"r{i}" for i in range(n)]
    shards = SHARDS if n >= SHARDS * CHUNK else 1
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for i, part in enumerate(np.array_split(np.arange(n), shards)):
        path = directory / f"part-{i:02d}.parquet"
        rows.iloc[part].to_parquet(path, index=False)
        files.append(str(path))
    return files


def _model(directory: Path, quick: bool) -> str:
    from benchmarks.synth import load_source
    from skutag.workflows.train import train_model

    train = load_source(("train.json",))
    if quick:
        train = train.iloc[:1_000]
    src = directory / "train.parquet"
    train.to_parquet(src, index=False)
    out = directory / "model"
    train_model(
        src,
        text=["Name"],
        label=["lvl1", "lvl2", "lvl3"],
        model="linear",
        out=out,
        params={"calibration_fraction": 0},
        rejects=directory / "train-rejects.jsonl",
        progress=False,
    )
    return str(out)


def _runs(files: list[str], d: Path, name: str, chunk: int, extra: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """One process, then Ray with 1 worker (1 CPU) and 2 workers (0.75 CPU each), on the same files."""
    common = {"files": files, "chunk": chunk, **extra}
    out = "one.parquet"
    return [
        (f"{name}: one process", {**common, "ray": False, "out": str(d / f"{name}-{out}")}),
        (f"{name}: Ray, 1 worker", {**common, "ray": True, "out": str(d / f"{name}-r1"), "workers": 1, "cpus": 1.0}),
        (f"{name}: Ray, 2 workers", {**common, "ray": True, "out": str(d / f"{name}-r2"), "workers": 2, "cpus": 0.75}),
    ]


def _store_runs(d: Path) -> list[dict[str, Any]]:
    """What one driver writes into the tag store (``predict --ray --db``): ``STORE_ROWS`` predictions of MWPD offers
    in transactions of ``STORE_BATCH``, into SQLite and into PostgreSQL when ``scripts/ci-services.sh`` starts one
    (with fsync off, as the tests run it: an upper bound)."""
    from benchmarks.synth import load_source
    from skutag.store import PredictionRecord, TagStore
    from skutag.workflows.predict_ray import STORE_BATCH

    pool = load_source(("validation.json",))
    rows = pool.iloc[[i % len(pool) for i in range(STORE_ROWS)]]
    records = [
        PredictionRecord(
            external_id=f"p{i}", fields={"name": str(r.Name), "description": str(r.Description)[:500]},
            path=[str(r.lvl1), str(r.lvl2), str(r.lvl3)], level_scores=[0.9, 0.8, 0.7], path_score=0.7,
            topk=[{"path": [str(r.lvl1), str(r.lvl2), str(r.lvl3)], "score": 0.7}], decision="needs_review",
            threshold=0.9, model_version="linear-bench",
        )
        for i, r in enumerate(rows.itertuples(index=False))
    ]  # fmt: skip
    urls = [("SQLite", f"sqlite:///{d / 'store.db'}")]
    pg = Path(tempfile.mkdtemp(prefix="skutag-bench-pg-"))  # not under d: the postgres user must reach it
    script = REPO / "scripts" / "ci-services.sh"
    started = subprocess.run(["bash", str(script), "pg-start", str(pg)], capture_output=True, text=True)
    if started.returncode == 0:
        urls.append(("PostgreSQL (fsync off)", started.stdout.strip().splitlines()[-1]))
    out = []
    try:
        for name, url in urls:
            with TagStore(url) as store:
                t0 = time.perf_counter()
                for i in range(0, len(records), STORE_BATCH):
                    store.record_predictions(records[i : i + STORE_BATCH], actor="batch:bench")
                wall = time.perf_counter() - t0
            out.append(
                {"run": f"store: {name}", "rows": len(records), "wall_s": wall, "rows_per_s": len(records) / wall}
            )
    finally:
        if started.returncode == 0:
            subprocess.run(["bash", str(script), "pg-stop", str(pg)], capture_output=True, check=False)
    return out


def _clean_inputs(directory: Path) -> list[str]:
    from benchmarks.synth import make_catalogue

    n = CLEAN_ROWS // CLEAN_SHARDS
    return [str(make_catalogue(n, directory / f"part-{i}.parquet", seed=i)) for i in range(CLEAN_SHARDS)]


STAGES = ("linear", "transformer", "clean", "store")
#: The cost model's price of a core-hour (USD): about what on-demand compute-optimised x86 instances cost per vCPU
#: in 2026 in us-east-1 (c7i: $0.714 an hour for 16 vCPU). An assumption to replace with one's own price.
PRICE_PER_CORE_HOUR = 0.045
PROJECT_ROWS = (10_000_000, 100_000_000)
PROJECT_WORKERS = (1, 8, 32, 128)
#: task in the results -> (name in the cost table, prefix of its runs)
TASKS = {"linear": ("predict, linear", ""), "transformer": ("predict, transformer", "transformer: "),
         "clean": ("clean --dedup near", "clean: ")}  # fmt: skip


def cost_model(
    results: list[dict[str, Any]], fixed_s: float, basis: str = "wall", price: float = PRICE_PER_CORE_HOUR
) -> str:
    """Hours and cost of a run over 10M and 100M rows on W one-core workers: W workers make ``W * r1 * e`` rows a
    second (``e`` = 1 for one worker) after ``fixed_s`` of Ray start-up; the cost is W core-hours an hour at
    ``price``. ``basis="wall"``: r1 the rows/s of one worker while working, e the measured 1 -> 2 worker scaling
    (rows/s of 2 workers over twice one's). ``basis="cpu"``: r1 the rows per CPU-second of every process of the
    one-worker run (Ray's daemons included), e the CPU per row of one worker over that of two: what dedicated
    cores would give, where the shared machine's wall clock cannot tell."""
    by = {r["run"]: r for r in results}
    key = "rows_per_s_predicting" if basis == "wall" else "rows_per_all_cpu_s"
    lines = []
    for name, prefix in TASKS.values():
        one, two = by.get(f"{prefix}Ray, 1 worker"), by.get(f"{prefix}Ray, 2 workers")
        if one is None or two is None or not one.get(key) or not two.get(key):
            continue
        r1 = float(one[key])
        # on CPU, two workers can look cheaper per row than one (the fixed start-up spread wider): never above 1
        eff = float(two[key]) / (2 * r1) if basis == "wall" else min(1.0, float(two[key]) / r1)
        for n in PROJECT_ROWS:
            cells = []
            for w in PROJECT_WORKERS:
                hours = (n / (w * r1 * (eff if w > 1 else 1.0)) + fixed_s) / 3600
                dollars = hours * w * price
                cells.append(
                    f"{hours:,.2f} h, ${dollars:,.2f}" if dollars < 100 else f"{hours:,.1f} h, ${dollars:,.0f}"
                )
            lines.append(f"| {name} | {n // 1_000_000}M | {r1:,.0f} | {eff:.2f} | " + " | ".join(cells) + " |")
    unit = "rows/s, 1 worker" if basis == "wall" else "rows per CPU-s, 1 worker"
    workers = " | ".join(f"{w} worker{'s' if w > 1 else ''}" for w in PROJECT_WORKERS)
    head = f"| task | rows | {unit} | efficiency 1→2 | {workers} |"
    return "\n".join([head, "| --- " * (4 + len(PROJECT_WORKERS)) + "|", *lines])


def run(quick: bool = False, stages: tuple[str, ...] = STAGES) -> str:
    if importlib.util.find_spec("ray") is None:
        return "skipped: Ray is not installed (pip install 'skutag[ray]')"
    n = QUICK_ROWS if quick else FULL_ROWS
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="skutag-bench-ray-") as tmp:
        d = Path(tmp)
        common: dict[str, Any] = {"chunk": QUICK_CHUNK if quick else CHUNK, "store": OBJECT_STORE}
        runs: list[tuple[str, dict[str, Any]]] = []
        models = []
        if "linear" in stages:
            model = _model(d, quick)
            files = _inputs(n, d / "in")
            common["model"] = model
            models.append(model)
            runs += [
                ("one process", {"ray": False, "files": files, "out": str(d / "one.parquet")}),
                ("Ray, 2 workers", {"ray": True, "files": files, "out": str(d / "r2"), "workers": 2, "cpus": 0.75}),
            ]
        if "linear" in stages and not quick:
            one = {"ray": True, "files": files, "out": str(d / "r1"), "workers": 1, "cpus": 1.0}
            runs.insert(1, ("Ray, 1 worker", one))
            small = _inputs(SMALL_ROWS, d / "small", seed=1)
            small_one = {"ray": False, "files": small, "out": str(d / "s.parquet")}
            small_ray = {"ray": True, "files": small, "out": str(d / "s2"), "workers": 2, "cpus": 0.75}
            runs += [
                (f"one process, {SMALL_ROWS:,} rows", small_one),
                (f"Ray, 2 workers, {SMALL_ROWS:,} rows", small_ray),
            ]
        if "transformer" in stages and not quick:
            from benchmarks.bench_serve import _transformer_model

            transformer = str(_transformer_model(d))
            models.append(transformer)
            t_files = _inputs(TRANSFORMER_ROWS, d / "t-in", seed=2)
            runs += _runs(t_files, d, "transformer", TRANSFORMER_CHUNK, {"model": transformer})
        if "clean" in stages and not quick:
            runs += _runs(_clean_inputs(d / "c-in"), d, "clean", CLEAN_CHUNK, {"clean": True})
        for name, args in runs:
            t0 = time.perf_counter()
            r = _child(**{**common, "workers": None, "cpus": 1.0, **args})
            rows = r["rows_read"]
            # the workers' CPU is known for predict only (clean's shuffle and write tasks run in shared processes)
            cpu = None if args.get("clean") and args["ray"] else r["cpu_s"] + r.get("worker_cpu_s", 0.0)
            # every process of the run: the driver and all of Ray's (daemons, read tasks, workers), sampled twice a
            # second (a process's last half second may be missed)
            all_cpu = r["cpu_s"] + r["children_cpu_s"]
            results.append(
                {
                    "run": name,
                    "rows": rows,
                    "wall_s": r["wall_s"],
                    "rows_per_s": rows / r["wall_s"],
                    "ray_init_s": r.get("startup_s"),
                    "predict_s": r.get("run_s"),
                    "rows_per_s_predicting": rows / r["run_s"] if r.get("run_s") else None,
                    "cpu_s": cpu,
                    "rows_per_cpu_s": rows / cpu if cpu else None,
                    "all_cpu_s": all_cpu,
                    "rows_per_all_cpu_s": rows / all_cpu,
                    "process_s": time.perf_counter() - t0,
                    "load_avg": os.getloadavg()[0],
                    "timings_s": r.get("timings_s"),
                }
            )
        if "store" in stages and not quick:
            results += _store_runs(d)
        from skutag.workflows.predict_ray import model_home, model_key

        for m in models:
            shutil.rmtree(model_home(model_key(Path(m))[1]), ignore_errors=True)  # the workers' unpacked copies
    by = {r["run"]: r for r in results}
    summary: dict[str, Any] = {}
    if not quick and "linear" in stages:
        small_one = by[f"one process, {SMALL_ROWS:,} rows"]["wall_s"]
        summary["ray_fixed_cost_s"] = by[f"Ray, 2 workers, {SMALL_ROWS:,} rows"]["wall_s"] - small_one
        summary["scaling_1_to_2_workers"] = by["Ray, 2 workers"]["rows_per_s"] / by["Ray, 1 worker"]["rows_per_s"]
    for task in ("transformer", "clean"):
        if not quick and task in stages:
            one, two = by[f"{task}: Ray, 1 worker"], by[f"{task}: Ray, 2 workers"]
            summary[f"{task}_scaling_1_to_2_workers"] = two["rows_per_s_predicting"] / one["rows_per_s_predicting"]
    table = markdown_table(
        results,
        [
            "run",
            "rows",
            "wall_s",
            "rows_per_s",
            "ray_init_s",
            "predict_s",
            "rows_per_s_predicting",
            "cpu_s",
            "rows_per_cpu_s",
            "all_cpu_s",
            "rows_per_all_cpu_s",
            "load_avg",
        ],
        {
            "wall_s": "wall s",
            "rows_per_s": "rows/s (wall)",
            "ray_init_s": "ray.init s",
            "predict_s": "first block to last answer s",
            "rows_per_s_predicting": "rows/s (working)",
            "cpu_s": "CPU s (driver + workers)",
            "rows_per_cpu_s": "rows per CPU s",
            "all_cpu_s": "CPU s (all processes)",
            "rows_per_all_cpu_s": "rows per CPU s (all)",
            "load_avg": "load avg (1 min) after",
        },
    )
    if summary:
        table += "\n\n" + ", ".join(f"{k}: {v:.2f}" for k, v in summary.items())
    if "ray_fixed_cost_s" in summary:
        for basis in ("wall", "cpu"):
            table += f"\n\ncost model ({basis}):\n\n" + cost_model(results, summary["ray_fixed_cost_s"], basis)
    name = "ray" + ("" if stages == STAGES else "-" + "-".join(stages))
    save_results(name, {"quick": quick, "rows": n, "shards": SHARDS, "results": results, **summary}, table)
    return table


if __name__ == "__main__":
    if "--cost" in sys.argv:  # the cost table again, from the saved results of a full run
        from benchmarks.common import OUT_DIR

        saved = json.loads((OUT_DIR / "ray.json").read_text())
        for basis in ("wall", "cpu"):
            print(f"cost model ({basis}):\n" + cost_model(saved["results"], saved["ray_fixed_cost_s"], basis) + "\n")
        sys.exit(0)
    chosen = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--stages=")), ",".join(STAGES))
    print(run(quick="--quick" in sys.argv, stages=tuple(chosen.split(","))))
