"""`skutag train --model transformer`: one process vs data-parallel on Ray Train (``--ray --workers 2``), same data,
same epochs, same settings.

Data: the first ``TRAIN_ROWS`` MWPD training offers (title only, three levels), scored on MWPD ``validation.json``
(mean over the levels of the weighted and macro F1, and level 3's). Each run is a fresh process calling the train
workflow as the CLI does: one process with both cores (``num_threads`` 2), and ``train_model_ray`` on a local Ray
cluster that the run starts itself (``num_cpus`` 2, no dashboard) with 2 workers of 1 CPU (1 thread) each, DDP over
gloo, checkpoints each epoch. A second one-process run with another seed gives the seed-to-seed spread, the yardstick
for "the same F1". Columns: wall time of the whole workflow (reading, fine-tuning, index, evaluation, saving; Ray's
includes starting and stopping its cluster), the fine-tuning loop's own seconds (Ray's: from connecting to the
cluster to the last checkpoint read back, worker start-up and model loads included), steps, F1. On one 2-core machine
two workers of one thread cannot beat one process of two threads (the same arithmetic plus gradient exchange and
Ray's start-up); the point is the same model quality from a run that can spread over machines. ``quick`` (part of
``make test``: it checks the harness, not the numbers): 100 offers, 100 validation offers, 16 tokens, the top layer
only, no neighbour index, no ONNX export, no second seed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, SHARED_DATA, markdown_table, save_results

TRAIN_ROWS = 2_000
QUICK_ROWS = 100
LEVELS = ["lvl1", "lvl2", "lvl3"]
#: One epoch over 2,000 titles at 32 tokens: about 2 minutes a run on 2 idle cores.
PARAMS: dict[str, Any] = {"epochs": 1, "batch_size": 32, "max_length": 32, "encoder_lr": 1e-4, "head_lr": 4e-3}
QUICK_PARAMS: dict[str, Any] = {**PARAMS, "max_length": 16, "train_layers": 1, "knn": 0, "runtime": "torch"}
OBJECT_STORE = 500 << 20

CHILD = """
import json, sys, time
args = json.loads(sys.argv[1])
common = {"text": ["Name"], "label": args["levels"], "model": "transformer", "params": args["params"],
          "out": args["out"], "valid": args["valid"], "rejects": args["out"] + ".rejects.jsonl", "progress": False}
t0 = time.perf_counter()
if args["ray"]:
    from skutag.workflows.train_ray import train_model_ray
    r = train_model_ray(args["train"], workers=2, cpus_per_worker=1.0,
                        ray_init={"num_cpus": 2, "object_store_memory": args["store"]}, **common)
else:
    from skutag.workflows.train import train_model
    r = train_model(args["train"], **common)
wall = time.perf_counter() - t0
v = r.validation
out = {"wall_s": wall, "loop_s": r.model.outcome_.seconds, "steps": r.model.outcome_.steps,
       "f1_weighted": v.mean["f1_weighted"], "f1_macro": v.mean["f1_macro"],
       "lvl3_f1_weighted": v.levels["level_3"]["f1_weighted"], "lvl3_f1_macro": v.levels["level_3"]["f1_macro"]}
print(json.dumps(out))
"""


def _child(**args: Any) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]), "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, env=env, cwd=str(REPO)
    )
    if proc.returncode != 0:
        raise RuntimeError(f"run {args} failed:\n{proc.stderr[-4000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _data(directory: Path, quick: bool) -> tuple[str, str]:
    """The first training offers and the validation offers (all, or the first ``QUICK_ROWS`` when quick), as JSON
    Lines."""
    import pandas as pd

    mwpd = SHARED_DATA / "mwpd2020"
    train = pd.read_json(mwpd / "train.json", lines=True, dtype=False).head(QUICK_ROWS if quick else TRAIN_ROWS)
    valid = pd.read_json(mwpd / "validation.json", lines=True, dtype=False)
    if quick:
        valid = valid.head(QUICK_ROWS)
    paths = (directory / "train.jsonl", directory / "valid.jsonl")
    for frame, path in zip((train, valid), paths, strict=True):
        frame[["ID", "Name", *LEVELS]].to_json(path, orient="records", lines=True, force_ascii=False)
    return str(paths[0]), str(paths[1])


def run(quick: bool = False) -> str:
    if importlib.util.find_spec("ray") is None:
        return "skipped: Ray is not installed (pip install 'skutag[ray]')"
    if not (SHARED_DATA / "mwpd2020" / "train.json").is_file():
        return f"skipped: MWPD not found under {SHARED_DATA}"
    params = QUICK_PARAMS if quick else PARAMS
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="skutag-bench-ray-train-") as tmp:
        d = Path(tmp)
        train, valid = _data(d, quick)
        common = {"train": train, "valid": valid, "levels": LEVELS, "store": OBJECT_STORE}
        runs: list[tuple[str, dict[str, Any]]] = [
            ("one process, 2 threads", {"ray": False, "params": {**params, "num_threads": 2}}),
            ("Ray Train, 2 workers x 1 thread (DDP, gloo)", {"ray": True, "params": params}),
        ]
        if not quick:
            runs.append(
                ("one process, 2 threads, seed 1", {"ray": False, "params": {**params, "num_threads": 2, "seed": 1}})
            )
        for i, (name, args) in enumerate(runs):
            r = _child(**common, **args, out=str(d / f"model-{i}"))
            results.append({"run": name, **r})
    one, ddp = results[0], results[1]
    summary = {
        "ddp_minus_one_f1_weighted_points": 100 * (ddp["f1_weighted"] - one["f1_weighted"]),
        "ddp_minus_one_f1_macro_points": 100 * (ddp["f1_macro"] - one["f1_macro"]),
        "ddp_wall_ratio": ddp["wall_s"] / one["wall_s"],
    }
    if len(results) > 2:
        seed = results[2]
        summary["seed_spread_f1_weighted_points"] = 100 * (seed["f1_weighted"] - one["f1_weighted"])
        summary["seed_spread_f1_macro_points"] = 100 * (seed["f1_macro"] - one["f1_macro"])
    table = markdown_table(
        results,
        ["run", "wall_s", "loop_s", "steps", "f1_weighted", "f1_macro", "lvl3_f1_weighted", "lvl3_f1_macro"],
        {
            "wall_s": "wall s (whole train)",
            "loop_s": "fine-tuning s (Ray: from ray.init)",
            "f1_weighted": "weighted F1 (mean of levels)",
            "f1_macro": "macro F1 (mean of levels)",
            "lvl3_f1_weighted": "level 3 weighted F1",
            "lvl3_f1_macro": "level 3 macro F1",
        },
    )
    table += "\n\n" + ", ".join(f"{k}: {v:+.2f}" if "points" in k else f"{k}: {v:.2f}" for k, v in summary.items())
    rows = QUICK_ROWS if quick else TRAIN_ROWS
    save_results(
        "ray_train", {"quick": quick, "train_rows": rows, "params": params, "results": results, **summary}, table
    )
    return table
