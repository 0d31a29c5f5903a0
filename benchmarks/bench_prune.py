"""Pruning's accuracy/speed curve on MWPD: ``skutag compress --prune-layers K --prune-heads F --recover FILE``.

The base: the bundled MiniLM-L6 fine-tuned once on MWPD train (title only, :data:`BASE_PARAMS`: 1 epoch, 32 tokens,
no neighbour index, so the curve is the network's) and cached in ``bench-out/prune/base``. Each variant keeps K of its
6 encoder layers (greedy on held-out recovery rows unless the row says ``even``) and removes the fraction F of its 72
attention heads (gradient importance), then recovers for one epoch on :data:`RECOVER_ROWS` random MWPD train offers
(distilling the unpruned model), and is exported fp32 (``--int8 none``) and int8 (``--int8 dynamic``, from the fp32
edge directory). ``recovery: none`` rows rank with the same rows but do not fine-tune (``--recover-epochs 0``).

Figures: weighted / macro F1 (mean over the three levels) on all of MWPD validation; titles/s at batch 1 (one title
a call) and 64 (calls of 64 titles) through the edge model's ``predict_path_proba`` (tokenising, ONNX Runtime, path
decoding) on :data:`THREADS` thread, the best of :data:`ROUNDS` interleaved rounds (the machine is shared: best-of
rounds are the least disturbed); ``model.onnx`` size. Results are cached per variant in ``bench-out/prune/results.json``
(a rerun skips what is done).

``python -m benchmarks.bench_prune [--quick]``; ``run(quick)`` is the harness entry point.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.common import OUT_DIR, SHARED_DATA, markdown_table, save_results

LEVELS = ("lvl1", "lvl2", "lvl3")
#: the base transformer: title only, short titles, one epoch (2 shared cores); no neighbour index
BASE_PARAMS: dict[str, Any] = {
    "epochs": 1,
    "max_length": 32,
    "batch_size": 32,
    "encoder_lr": 1e-4,
    "head_lr": 4e-3,
    "knn": 0,
    "num_threads": 2,
    "progress_bar": False,
    "log_every": 20,
}
QUICK_PARAMS: dict[str, Any] = {**BASE_PARAMS, "max_length": 16, "max_steps": 4, "batch_size": 16}
RECOVER_ROWS = 2_000
QUICK_ROWS = 160
THREADS = 1
ROUNDS = 3
BATCH1_TITLES = 200
BATCH64_TITLES = 1_024
#: (layers kept, heads removed, layer choice, recovery epochs), most telling first (a run can stop part way: every
#: variant is saved when built and scored)
GRID: list[tuple[int, float, str, int]] = [
    (6, 0.0, "greedy", 1),  # the control: recovery alone, nothing pruned
    (2, 0.5, "greedy", 1),
    (4, 0.0, "greedy", 1),
    (3, 0.0, "greedy", 1),
    (2, 0.0, "greedy", 1),
    (6, 0.5, "greedy", 1),
    (6, 0.25, "greedy", 1),
    (2, 0.0, "even", 1),
    (3, 0.0, "even", 1),
    (2, 0.5, "greedy", 0),
    (4, 0.25, "greedy", 1),
    (4, 0.5, "greedy", 1),
    (3, 0.25, "greedy", 1),
    (3, 0.5, "greedy", 1),
    (2, 0.25, "greedy", 1),
    (4, 0.0, "greedy", 0),
]
QUICK_GRID: list[tuple[int, float, str, int]] = [(2, 0.5, "greedy", 1), (2, 0.5, "greedy", 0)]


def _work(quick: bool) -> Path:
    return OUT_DIR / ("prune-quick" if quick else "prune")


def _mwpd(split: str, n: int | None = None) -> pd.DataFrame:
    frame = pd.read_json(SHARED_DATA / "mwpd2020" / f"{split}.json", lines=True, dtype=False)
    frame = frame[["Name", *LEVELS]].fillna("").astype(str)
    return frame.head(n) if n else frame


def base_model(quick: bool) -> Path:
    """The fine-tuned base transformer, trained once (``skutag train`` on MWPD train) and cached."""
    from skutag.workflows.train import train_model

    out = _work(quick) / "base"
    if (out / "meta.json").is_file():
        return out
    data = _work(quick) / "train.jsonl"
    train = _mwpd("train", QUICK_ROWS if quick else None)
    train.to_json(data, orient="records", lines=True)
    train_model(
        data,
        text=["Name"],
        label=list(LEVELS),
        model="transformer",
        params=dict(QUICK_PARAMS if quick else BASE_PARAMS),
        out=out,
        progress=not quick,
    )
    return out


def recover_file(quick: bool) -> Path:
    """``RECOVER_ROWS`` random MWPD train offers (seed 0): rows the base model was trained on, as a user would
    recover on their training data."""
    path = _work(quick) / "recover.jsonl"
    if not path.is_file():
        train = _mwpd("train")
        n = QUICK_ROWS if quick else RECOVER_ROWS
        train.sample(n=n, random_state=0).to_json(path, orient="records", lines=True)
    return path


def variant_name(k: int, f: float, choice: str, epochs: int) -> str:
    return f"L{k}-H{round(f * 100)}-{choice}-e{epochs}"


def build_variant(base: Path, recover: Path, k: int, f: float, choice: str, epochs: int, quick: bool) -> dict[str, Any]:
    """The fp32 and int8 edge directories of one variant (pruned and recovered once); what pruning reported."""
    from skutag.workflows.compress import compress_model

    name = variant_name(k, f, choice, epochs)
    fp32, int8 = _work(quick) / f"{name}-fp32", _work(quick) / f"{name}-int8"
    t0 = time.perf_counter()
    stats = compress_model(
        base,
        fp32,
        int8="none",
        prune_layers=k,
        prune_heads=f,
        recover=recover,
        recover_epochs=epochs,
        layer_choice=choice,
    )
    seconds = time.perf_counter() - t0
    compress_model(fp32, int8, int8="dynamic")
    pruning = stats.pruning or {}
    return {
        "name": name,
        "layers": k,
        "heads_removed": f,
        "layer_choice": choice,
        "recovery_epochs": epochs,
        "layers_kept": [i + 1 for i in pruning.get("layers_kept", [])],
        "heads_after": pruning.get("heads_after"),
        "held_out": pruning.get("held_out"),
        "prune_s": round(seconds, 1),
        "dirs": {"fp32": str(fp32), "int8": str(int8)},
    }


def base_variant(base: Path, quick: bool) -> dict[str, Any]:
    from skutag.workflows.compress import compress_model

    fp32, int8 = _work(quick) / "base-fp32", _work(quick) / "base-int8"
    compress_model(base, fp32, int8="none")
    compress_model(base, int8, int8="dynamic")
    return {
        "name": "base",
        "layers": 6,
        "heads_removed": 0.0,
        "layer_choice": "-",
        "recovery_epochs": None,
        "heads_after": 72,
        "dirs": {"fp32": str(fp32), "int8": str(int8)},
    }


def score(model_dir: str, valid: pd.DataFrame) -> dict[str, float]:
    from skutag.models.registry import load_model
    from skutag.workflows.evaluate import evaluate_model

    model = load_model(model_dir)
    labels = valid[list(LEVELS)].set_axis(["level_1", "level_2", "level_3"], axis=1)
    result = evaluate_model(model, valid[["Name"]], labels)
    return {
        "f1_weighted": round(float(result.mean["f1_weighted"]), 4),
        "f1_macro": round(float(result.mean["f1_macro"]), 4),
    }


def throughput(dirs: dict[str, str], titles: list[str], rounds: int) -> dict[str, dict[str, float]]:
    """Per directory: titles/s at batch 1 and 64 through the edge model's ``predict_path_proba`` (tokenising, ONNX
    Runtime, path decoding), and milliseconds per batch of ONNX Runtime alone (``ort_*``: the session's ``run`` on
    pre-tokenised titles, what pruning changes); best of ``rounds`` interleaved rounds."""
    from skutag.models.neural.text import tokenize
    from skutag.models.registry import load_model

    models = {}
    for key, path in dirs.items():
        model: Any = load_model(path)
        model.set_params(num_threads=THREADS)
        model.predict_path_proba(titles[:64])  # warm: the session is built, the first runs allocate
        models[key] = model
    one = titles[:BATCH1_TITLES]
    many = (titles * (1 + BATCH64_TITLES // max(1, len(titles))))[:BATCH64_TITLES]
    first = next(iter(models.values()))
    one_ids = tokenize(first.tokenizer_, one, int(first.max_length))
    many_ids = tokenize(first.tokenizer_, many, int(first.max_length))
    pad = first.tokenizer_.pad_token_id
    timers = ("b1", "b64", "ort_b1", "ort_b64")
    best: dict[str, dict[str, float]] = {k: dict.fromkeys(timers, float("inf")) for k in models}

    for _ in range(rounds):
        for key, model in models.items():
            for timer, seconds in _timed(model, one, many, one_ids, many_ids, pad).items():
                best[key][timer] = min(best[key][timer], seconds)
    out = {}
    for key, t in best.items():
        out[key] = {
            "b1_titles_s": round(len(one) / t["b1"], 1),
            "b64_titles_s": round(len(many) / t["b64"], 1),
            "b1_ms": round(1000 * t["b1"] / len(one), 2),
            "b64_ms_per_batch": round(1000 * t["b64"] / (len(many) / 64), 1),
            "ort_b1_ms": round(1000 * t["ort_b1"] / len(one), 2),
            "ort_b64_ms_per_batch": round(1000 * t["ort_b64"] / (len(many) / 64), 1),
        }
    return out


def _timed(model: Any, one: list[str], many: list[str], one_ids: list, many_ids: list, pad: int) -> dict[str, float]:
    """Seconds of one round: ``one`` title a call, ``many`` in calls of 64, then the same through the ORT session."""
    runner = model._runner()
    out = {}
    t0 = time.perf_counter()
    for title in one:
        model.predict_path_proba([title])
    out["b1"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(0, len(many), 64):
        model.predict_path_proba(many[i : i + 64])
    out["b64"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for ids in one_ids:
        runner.run([ids], 1, pad)
    out["ort_b1"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(0, len(many_ids), 64):
        runner.run(many_ids[i : i + 64], 64, pad)
    out["ort_b64"] = time.perf_counter() - t0
    return out


def _score_row(row: dict[str, Any], valid: pd.DataFrame) -> None:
    for precision, path in row["dirs"].items():
        if f"{precision}_f1_weighted" not in row:
            row.update({f"{precision}_{k}": v for k, v in score(path, valid).items()})
            row[f"{precision}_onnx_mb"] = round((Path(path) / "model.onnx").stat().st_size / 1e6, 1)


def measure_speed(results: dict[str, Any], titles: list[str], rounds: int, group: int = 6) -> None:
    """Throughput of every variant not measured yet, ``group`` variants at a time (memory), each group timed with the
    base in the same interleaved rounds: ``*_speedup`` is a variant's titles/s over the base's of the same precision
    in its own rounds, fair on a machine whose load drifts between groups."""
    todo = [n for n, r in results.items() if n != "base" and "fp32_b64_titles_s" not in r]
    first = "fp32_b64_titles_s" not in results["base"]
    for i in range(0, max(1, len(todo)), group):
        chunk = todo[i : i + group]
        if not chunk and not first:
            break
        dirs = {f"{n}:{p}": d for n in ["base", *chunk] for p, d in results[n]["dirs"].items()}
        speeds = throughput(dirs, titles, rounds)
        load = round(os.getloadavg()[0], 2)
        for name in ["base", *chunk] if first else chunk:
            row = results[name]
            for precision in row["dirs"]:
                figures = speeds[f"{name}:{precision}"]
                row.update({f"{precision}_{k}": v for k, v in figures.items()})
                base = speeds[f"base:{precision}"]
                for batch in ("b1", "b64"):
                    row[f"{precision}_{batch}_speedup"] = round(
                        figures[f"{batch}_titles_s"] / base[f"{batch}_titles_s"], 3
                    )
                for timer in ("ort_b1_ms", "ort_b64_ms_per_batch"):
                    row[f"{precision}_{timer}_speedup"] = round(base[timer] / figures[timer], 3)
            row["load_avg_1m"] = load
        first = False


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _save(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def run(quick: bool = False, build: bool = True) -> str:
    """Build and score what is missing (``build``), measure the throughput of what is built, write the table."""
    work = _work(quick)
    work.mkdir(parents=True, exist_ok=True)
    results_path = work / "results.json"
    results = _load(results_path)
    valid = _mwpd("validation", QUICK_ROWS if quick else None)
    if build:
        base = base_model(quick)
        recover = recover_file(quick)
        if "base" not in results:
            results["base"] = base_variant(base, quick)
            _save(results_path, results)
        for k, f, choice, epochs in QUICK_GRID if quick else GRID:
            name = variant_name(k, f, choice, epochs)
            if name not in results:
                print(f"pruning {name}", flush=True)
                results[name] = build_variant(base, recover, k, f, choice, epochs, quick)
                _save(results_path, results)
            _score_row(results[name], valid)
            _save(results_path, results)
    _score_row(results["base"], valid)
    _save(results_path, results)
    titles = valid["Name"].tolist()
    load0 = os.getloadavg()[0]
    measure_speed(results, titles, 1 if quick else ROUNDS)
    _save(results_path, results)
    rows = table_rows(results)
    md = markdown_table(rows, COLUMNS, LABELS)
    md += "\n\nONNX Runtime alone (ms per call on pre-tokenised titles; speed-up over the base in brackets):\n\n"
    md += markdown_table(rows, ORT_COLUMNS, LABELS)
    note = (
        f"\n\nBase: MiniLM-L6 fine-tuned on MWPD train ({json.dumps(QUICK_PARAMS if quick else BASE_PARAMS)}); "
        f"recovery on {QUICK_ROWS if quick else RECOVER_ROWS} MWPD train offers; F1 on {len(valid)} validation offers; "
        f"titles/s on {THREADS} thread, best of {1 if quick else ROUNDS} rounds, load average "
        f"{load0:.1f} at the start."
    )
    save_results("prune-quick" if quick else "prune", {"quick": quick, "rows": list(results.values())}, md + note)
    return md + note


COLUMNS = [
    "variant",
    "heads",
    "fp32_f1_weighted",
    "fp32_f1_macro",
    "int8_f1_weighted",
    "int8_f1_macro",
    "fp32_b1_titles_s",
    "fp32_b64_titles_s",
    "int8_b1_titles_s",
    "int8_b64_titles_s",
    "fp32_onnx_mb",
    "int8_onnx_mb",
]
ORT_COLUMNS = [
    "variant",
    "heads",
    "fp32_ort_b1_ms",
    "fp32_ort_b64_ms_per_batch",
    "int8_ort_b1_ms",
    "int8_ort_b64_ms_per_batch",
]
LABELS = {
    "fp32_ort_b1_ms": "fp32 ms, batch 1",
    "fp32_ort_b64_ms_per_batch": "fp32 ms, batch 64",
    "int8_ort_b1_ms": "int8 ms, batch 1",
    "int8_ort_b64_ms_per_batch": "int8 ms, batch 64",
    "fp32_f1_weighted": "fp32 wF1",
    "fp32_f1_macro": "fp32 mF1",
    "int8_f1_weighted": "int8 wF1",
    "int8_f1_macro": "int8 mF1",
    "fp32_b1_titles_s": "fp32 titles/s b1",
    "fp32_b64_titles_s": "fp32 titles/s b64",
    "int8_b1_titles_s": "int8 titles/s b1",
    "int8_b64_titles_s": "int8 titles/s b64",
    "fp32_onnx_mb": "fp32 MB",
    "int8_onnx_mb": "int8 MB",
}


def table_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []

    def order(r: dict[str, Any]) -> tuple[Any, ...]:
        return (
            r["name"] != "base",
            -r["layers"],
            r["layer_choice"] != "greedy",
            -(r["recovery_epochs"] or 0),
            r["heads_removed"],
        )

    for r in sorted(results.values(), key=order):
        if r["name"] == "base":
            label = "base (6 layers, no pruning, no recovery)"
        else:
            recovery = "recovered 1 epoch" if r["recovery_epochs"] else "no recovery"
            label = f"{r['layers']} layers ({r['layer_choice']}: {', '.join(map(str, r['layers_kept']))}), "
            label += f"{round(r['heads_removed'] * 100)}% heads off, {recovery}"
        cells = {}
        for precision in ("fp32", "int8"):
            for batch in ("b1", "b64"):
                rate, ratio = r.get(f"{precision}_{batch}_titles_s"), r.get(f"{precision}_{batch}_speedup")
                if rate is not None:
                    cells[f"{precision}_{batch}_titles_s"] = f"{rate:.0f}" + (f" ({ratio:.2f}×)" if ratio else "")
            for timer in ("ort_b1_ms", "ort_b64_ms_per_batch"):
                ms, ratio = r.get(f"{precision}_{timer}"), r.get(f"{precision}_{timer}_speedup")
                if ms is not None:
                    cells[f"{precision}_{timer}"] = f"{ms:.2f}" + (f" ({ratio:.2f}×)" if ratio else "")
        rows.append({**r, **cells, "variant": label, "heads": r.get("heads_after")})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_prune", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--measure-only", action="store_true", help="no new variants: time and tabulate the built ones")
    args = parser.parse_args(argv)
    print(run(quick=args.quick, build=not args.measure_only))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
