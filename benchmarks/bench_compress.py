"""Compression and distillation on MWPD (issue 20): the teacher, its students, their quantised (and pruned) variants
side by side, in one run.

Every model learns from MWPD ``train.json`` (title only, three levels) through the user's doors
(:func:`skutag.workflows.train.train_model`, :func:`~skutag.workflows.distill.distill_model`,
:func:`~skutag.workflows.compress.compress_model`) and is scored on all of ``validation.json`` (3,000 offers): mean
over the levels of weighted and macro F1. Each model is then loaded in a fresh process (:func:`score_model`) that
predicts validation once (F1), then times one title a call (``predict_one``: batch 1, on ``B1_TITLES`` titles) and
calls of 64 titles (``predict`` on a 64-row frame: batch 64, all 3,000 titles); peak RSS is that process's, size on
disk the model directory's. Ratios are to the teacher.

Rows: the teacher (``skutag train --model ensemble`` end to end: members fitted on 90% of train, weights tuned on
the other 10%, the linear member refitted on all), the linear model on the same labelled rows (baseline), the
linear student, the 3-layer transformer student, its dynamic and static int8 variants (``skutag compress``), and the
pruned variants (marked place below); also the teacher compressed (its transformer member int8), which is not a
student and so no candidate for the targets. Trained models are cached under ``bench-out/compress/`` keyed by their
configuration: a rerun only scores them.

Targets (issue 20): a student within 0.5 weighted F1 points of the teacher at >= 10x its batch-64 throughput; a
student at the linear model's speed (>= 20K titles/s, read as the whole list in one call, as bench_linear times the
linear model) beating the linear model by >= 1 weighted / >= 2 macro points; the linear model's raw one-title calls/s
>= 0.5x fastText's (``bench_linear.one_title_calls``, in its own process of the same run).

``python -m benchmarks.bench_compress [--quick] [--fit NAMES] [--no-score] [--no-one-title] [--docs]``;
``run(quick)`` is the harness entry point (``python -m benchmarks --only compress``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import OUT_DIR, SHARED_DATA, markdown_table, measure, measure_here, save_results

LABELS = ["lvl1", "lvl2", "lvl3"]
TEXT = ["Name"]
#: one title a call is timed on this many validation titles (the slow models take ~10 ms a call)
B1_TITLES = 500
BATCH = 64
#: rows of the one-call batch for the fast models (validation repeated), as bench_linear's throughput
BIG_ROWS = 21_000
TARGET_WEIGHTED_GAP = 0.005
TARGET_SPEEDUP = 10.0
TARGET_LINEAR_RATE = 20_000.0
TARGET_OVER_LINEAR = (0.01, 0.02)
TARGET_ONE_TITLE = 0.5

#: The teacher: ``skutag train --model ensemble`` with its defaults (the transformer member without a progress bar).
TEACHER_PARAMS: dict[str, Any] = {
    "members": [
        {"model": "linear", "params": {"class_weight": "balanced"}},
        {"model": "transformer", "params": {"progress_bar": False}},
    ]
}
#: The cascade's threshold: the default of ``skutag cascade`` (no tuning rows: the table scores validation).
CASCADE_THRESHOLD = 0.6
#: The transformer student: MiniLM's layers 1, 3 and 6 (``encoder_layers: 3``), heads without neighbour votes.
TF_STUDENT_PARAMS: dict[str, Any] = {"encoder_layers": 3, "knn": 0, "epochs": 4, "progress_bar": False}


def _data(split: str) -> Path:
    return SHARED_DATA / "mwpd2020" / f"{split}.json"


# ---- the models ---------------------------------------------------------------------------------------------------
def fit_train(out: str, model: str, params: dict[str, Any], train: list[str], valid: list[str]) -> dict[str, Any]:
    """``skutag train`` (its workflow) on ``train``, evaluated on ``valid``, saved to ``out``."""
    from skutag.workflows.train import train_model

    t0, cpu0 = time.perf_counter(), time.process_time()
    res = train_model(
        train, text=TEXT, label=LABELS, model=model, params=params, out=out, valid=valid, progress=_progress(out)
    )
    return {"train_s": time.perf_counter() - t0, "train_cpu_s": time.process_time() - cpu0, **_mean(res.validation)}


def fit_distill(
    out: str,
    teacher: str,
    student: str,
    params: dict[str, Any],
    train: list[str],
    valid: list[str],
    unlabelled: list[str],
    unlabelled_text: list[str],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """``skutag distill`` (its workflow): ``teacher`` teaches a ``student`` on ``train`` and ``unlabelled``."""
    from skutag.models.distill import DistillSettings
    from skutag.workflows.distill import distill_model

    t0, cpu0 = time.perf_counter(), time.process_time()
    res = distill_model(
        teacher,
        train,
        student=student,
        text=TEXT,
        label=LABELS,
        unlabelled=unlabelled or None,
        unlabelled_text=unlabelled_text,
        params=params,
        settings=DistillSettings(**settings),
        out=out,
        valid=valid,
        progress=_progress(out),
    )
    return {
        "train_s": time.perf_counter() - t0,
        "train_cpu_s": time.process_time() - cpu0,
        "unlabelled_used": res.unlabelled_used,
        "unlabelled_left_out": res.unlabelled_left_out,
        **_mean(res.validation),
    }


def fit_compress(
    out: str, source: str, int8: str, calibration: list[str], prune: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``skutag compress`` (its workflow) of the transformer or ensemble at ``source``; ``prune``: its pruning keywords
    (``prune_layers``, ``prune_heads``, ``recover``, ...)."""
    from skutag.workflows.compress import compress_model

    t0 = time.perf_counter()
    stats = compress_model(source, out, int8=int8, calibration=calibration or None, **(prune or {}))
    return {"train_s": time.perf_counter() - t0, "bytes_before": stats.bytes_before, "bytes_after": stats.bytes_after}


def fit_cascade(out: str, fast: str, slow: str, threshold: float) -> dict[str, Any]:
    """``skutag cascade FAST SLOW --threshold T`` (its workflow): no tuning rows, so nothing is chosen on the
    validation rows the table scores."""
    from skutag.workflows.cascade import build_cascade

    t0 = time.perf_counter()
    build_cascade(fast, slow, out, threshold=threshold)
    return {"train_s": time.perf_counter() - t0}


def _progress(out: str) -> Callable[[str], None]:
    name = Path(out).name
    start = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{name} {time.perf_counter() - start:7.1f} s] {message}", file=sys.stderr, flush=True)

    return say


def _mean(result: Any) -> dict[str, float]:
    if result is None:
        return {}
    return {k: round(float(result.mean[k]), 4) for k in ("f1_weighted", "f1_macro")}


# ---- scoring in a fresh process -----------------------------------------------------------------------------------
def score_model(model_dir: str, valid: str, n_valid: int | None, b1_titles: int) -> dict[str, Any]:
    """Load the model, predict the validation rows (weighted / macro F1, mean over levels), then time batch 1 (one
    title a call, ``predict_one``) on ``b1_titles`` titles, calls of 64 (``predict`` on 64-row frames) and the whole
    list in one call (``rows_s_big``); peak RSS of this process."""
    import pandas as pd

    from skutag.datasets.mwpd import load_mwpd
    from skutag.models.registry import load_model
    from skutag.workflows.evaluate import evaluate_model

    t0 = time.perf_counter()
    model = load_model(model_dir)
    load_s = time.perf_counter() - t0
    va, _ = load_mwpd(path=valid)
    if n_valid:
        va = va.head(n_valid)
    texts = va[TEXT].fillna("").astype(str).reset_index(drop=True)
    labels = va[LABELS].set_axis([f"level_{i + 1}" for i in range(len(LABELS))], axis=1).reset_index(drop=True)
    result = evaluate_model(model, texts, labels)
    titles = texts[TEXT[0]].tolist()
    model.predict_one(titles[0])  # warm-up: graphs, path tables
    t0 = time.perf_counter()
    for t in titles[:b1_titles]:
        model.predict_one(t)
    b1 = min(b1_titles, len(titles)) / (time.perf_counter() - t0)
    chunks = [texts.iloc[i : i + BATCH] for i in range(0, len(texts), BATCH)]
    t0 = time.perf_counter()
    for c in chunks:
        model.predict(c)
    b64 = len(texts) / (time.perf_counter() - t0)
    # the whole list in one call (a batch job): repeated to BIG_ROWS rows for the fast models, as bench_linear times
    big_rows = pd.concat([texts] * -(-BIG_ROWS // len(texts)), ignore_index=True) if b64 > 2_000 else texts
    t0 = time.perf_counter()
    model.predict(big_rows)
    big = len(big_rows) / (time.perf_counter() - t0)
    return {
        **_mean(result),
        "rows_s_b1": b1,
        "rows_s_b64": b64,
        "rows_s_big": big,
        "load_s": load_s,
        "size_mb": _dir_bytes(Path(model_dir)) / 1e6,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "load_avg_1m": os.getloadavg()[0],
        "kind": model.kind,
    }


def _dir_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (links not followed: a saved directory's versions are real folders)."""
    total = 0
    for root, _dirs, files in os.walk(folder.resolve()):
        for f in files:
            p = Path(root) / f
            if not p.is_symlink():
                total += p.stat().st_size
    return total


# ---- unlabelled text for the students -----------------------------------------------------------------------------
def unlabelled_rows(train: Path, pave: list[Path], max_words: int = 24) -> list[dict[str, str]]:
    """Product text without labels, as titles (the students read the title): each MWPD training offer's description
    (its first ``max_words`` words) and its URL's words (path segments split on punctuation, the shop's domain and
    numeric ids dropped), and the WDC-PAVE offers' titles. The teacher labels them; its confidence decides which
    count (``--min-confidence``)."""
    import re

    import pandas as pd

    rows: list[dict[str, str]] = []
    frame = pd.read_json(train, lines=True)
    for desc, url in zip(frame["Description"].fillna(""), frame["URL"].fillna(""), strict=True):
        words = str(desc).split()
        if len(words) >= 3:
            rows.append({"Name": " ".join(words[:max_words]), "source": "mwpd description"})
        path = re.sub(r"^[a-z]+://[^/]+", "", str(url).lower())
        tokens = [t for t in re.split(r"[^a-z0-9]+", path) if t and not t.isdigit() and t not in _URL_NOISE]
        if len(tokens) >= 2:
            rows.append({"Name": " ".join(tokens), "source": "mwpd url"})
    for p in pave:
        if p.is_file():
            for title in pd.read_json(p, lines=True)["input_title"].fillna(""):
                if str(title).strip() and str(title).strip() != "Null":
                    rows.append({"Name": str(title), "source": "wdc-pave title"})
    return rows


_URL_NOISE = frozenset(
    {"html", "htm", "php", "aspx", "asp", "www", "com", "product", "products", "p", "dp", "item", "en"}
)


def write_unlabelled(folder: Path, train: Path, n: int | None = None) -> Path:
    """The unlabelled file (JSON Lines, column ``Name``) under ``folder`` (bench output, never the repository)."""
    pave = [SHARED_DATA / "wdc-pave" / "raw" / f for f in ("train_large.jsonl", "test.jsonl")]
    rows = unlabelled_rows(train, pave)[:n] if n else unlabelled_rows(train, pave)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "unlabelled.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return path


# ---- the systems --------------------------------------------------------------------------------------------------
def systems(models: Path, train: str, valid: str, unlabelled: str, quick_encoder: str | None) -> list[dict[str, Any]]:
    """What the table holds, in order: name, description, how it is made (a fit function and its arguments) and
    what it is made from (``after``: names whose models it reads). A quick run swaps in a tiny random encoder."""
    teacher_params = json.loads(json.dumps(TEACHER_PARAMS))
    tf_params = dict(TF_STUDENT_PARAMS)
    if quick_encoder:
        tiny = {"encoder": quick_encoder, "epochs": 1, "max_length": 24, "progress_bar": False}
        teacher_params["members"][1]["params"] = {**tiny, "knn": 5}
        tf_params = {**tiny, "encoder_layers": 2, "knn": 0}
    m = {name: str(models / name) for name in ("teacher", "linear", "linear-student", "tf-student")}
    prune_heads = {"prune_heads": 0.5, "recover": [train], "recover_epochs": 1}
    prune_layers = {"prune_layers": 1 if quick_encoder else 2, "recover": [train], "recover_epochs": 1}
    return [
        {
            "name": "teacher",
            "what": "teacher: ensemble end to end (`skutag train --model ensemble`: linear + MiniLM + neighbour votes)",
            "fit": fit_train,
            "args": [m["teacher"], "ensemble", teacher_params, [train], [valid]],
        },
        {
            "name": "teacher-int8",
            "what": "teacher, its MiniLM member dynamic int8 (`skutag compress` of the ensemble; not a student)",
            "fit": fit_compress,
            "args": [str(models / "teacher-int8"), m["teacher"], "dynamic", []],
            "after": ["teacher"],
            "student": False,
        },
        {
            "name": "linear",
            "what": "linear model, the same labelled rows (`skutag train`; baseline)",
            "fit": fit_train,
            "args": [m["linear"], "linear", {}, [train], [valid]],
        },
        {
            "name": "cascade",
            "what": "cascade: the linear model answers, the titles it gives under 0.6 go to the int8 teacher "
            "(`skutag cascade linear teacher-int8 --threshold 0.6`; not a student)",
            "fit": fit_cascade,
            "args": [str(models / "cascade"), m["linear"], str(models / "teacher-int8"), CASCADE_THRESHOLD],
            "after": ["linear", "teacher-int8"],
            "student": False,
        },
        {
            "name": "linear-student",
            "what": "linear student (`skutag distill --student linear`, + unlabelled text)",
            "fit": fit_distill,
            "args": [m["linear-student"], m["teacher"], "linear", {}, [train], [valid], [unlabelled], [], {}],
            "after": ["teacher"],
        },
        {
            "name": "tf-student",
            "what": "transformer student, 3 of MiniLM's 6 layers (`skutag distill --student transformer`), fp32",
            "fit": fit_distill,
            "args": [m["tf-student"], m["teacher"], "transformer", tf_params, [train], [valid], [unlabelled], [], {}],
            "after": ["teacher"],
        },
        {
            "name": "tf-student-int8",
            "what": "transformer student, dynamic int8 (`skutag compress`)",
            "fit": fit_compress,
            "args": [str(models / "tf-student-int8"), m["tf-student"], "dynamic", []],
            "after": ["tf-student"],
        },
        {
            "name": "tf-student-int8-static",
            "what": "transformer student, static int8 (`skutag compress --int8 static --calibration train.json`)",
            "fit": fit_compress,
            "args": [str(models / "tf-student-int8-static"), m["tf-student"], "static", [train]],
            "after": ["tf-student"],
        },
        {
            "name": "tf-student-pruned-heads",
            "what": "transformer student, half its attention heads pruned, 1 recovery epoch, dynamic int8 "
            "(`skutag compress --prune-heads 0.5 --recover train.json`)",
            "fit": fit_compress,
            "args": [str(models / "tf-student-pruned-heads"), m["tf-student"], "dynamic", [], prune_heads],
            "after": ["tf-student"],
        },
        {
            "name": "tf-student-2-layers",
            "what": "transformer student cut to 2 layers, 1 recovery epoch, dynamic int8 "
            "(`skutag compress --prune-layers 2 --recover train.json`)",
            "fit": fit_compress,
            "args": [str(models / "tf-student-2-layers"), m["tf-student"], "dynamic", [], prune_layers],
            "after": ["tf-student"],
        },
    ]


def _config(system: dict[str, Any], stamps: dict[str, float]) -> dict[str, Any]:
    """What a cached model must match to be reused: the fit, its arguments and its sources' fit times."""
    return {
        "fit": system["fit"].__name__,
        "args": json.loads(json.dumps(system["args"])),
        "after": {d: stamps.get(d) for d in system.get("after", [])},
    }


def fit_all(
    specs: list[dict[str, Any]], fits: Path, quick: bool, only: set[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Fit every system whose cached fit (``fits/NAME.json`` and its model directory) does not match its config;
    each fit in a fresh process (quick: in this one). ``only``: fit these names alone (the others are taken from
    the cache when it matches, else left out). Returns each system's fit record."""
    fits.mkdir(parents=True, exist_ok=True)
    records: dict[str, dict[str, Any]] = {}
    stamps: dict[str, float] = {}
    for s in specs:
        name, config = s["name"], _config(s, stamps)
        path = fits / f"{name}.json"
        cached = json.loads(path.read_text()) if path.is_file() and not quick else None
        model_dir = Path(s["args"][0])
        if cached and cached.get("config") == config and (model_dir / "meta.json").is_file():
            records[name] = cached
        elif only is not None and name not in only:
            print(f"{name}: no cached fit matches its configuration; left out", file=sys.stderr, flush=True)
            continue
        else:
            print(f"fitting {name} ...", file=sys.stderr, flush=True)
            m = (measure_here if quick else measure)(s["fit"], *s["args"])
            records[name] = {
                "config": config,
                "fit": m.value,
                "wall_s": m.wall_s,
                "peak_rss_mb": m.peak_rss_mb,
                "stamp": time.time(),
                "load_avg_1m": os.getloadavg()[0],
            }
            if not quick:
                path.write_text(json.dumps(records[name], indent=1, default=str))
        stamps[name] = records[name].get("stamp", 0.0)
    return records


def score_all(specs: list[dict[str, Any]], valid: str, quick: bool) -> dict[str, dict[str, Any]]:
    """Each system scored and timed in a fresh process (quick: in this one, on a few titles)."""
    out = {}
    for s in specs:
        print(f"scoring {s['name']} ...", file=sys.stderr, flush=True)
        args = (s["args"][0], valid, None, 20 if quick else B1_TITLES)
        m = measure_here(score_model, *args) if quick else measure(score_model, *args)
        out[s["name"]] = {**m.value, "score_wall_s": m.wall_s}
    return out


# ---- the table ----------------------------------------------------------------------------------------------------
COLUMNS = [
    "system",
    "f1_weighted",
    "f1_macro",
    "rows_s_b1",
    "rows_s_b64",
    "rows_s_big",
    "size_mb",
    "peak_rss_mb",
    "train_s",
]
LABELS_MD = {
    "f1_weighted": "weighted F1",
    "f1_macro": "macro F1",
    "rows_s_b1": "titles/s batch 1",
    "rows_s_b64": "titles/s batch 64",
    "rows_s_big": "titles/s one call",
    "size_mb": "size MB",
    "peak_rss_mb": "peak RSS MB",
    "train_s": "fit s (wall)",
}
#: columns shown with their ratio to the teacher
RATIO_COLUMNS = ("rows_s_b1", "rows_s_b64", "rows_s_big", "size_mb", "peak_rss_mb")


def table_rows(specs: list[dict[str, Any]], fits: dict[str, Any], scores: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for s in specs:
        fit, score = fits.get(s["name"], {}), scores.get(s["name"], {})
        row = {"name": s["name"], "system": s["what"], **score, "train_s": fit.get("wall_s")}
        rows.append(row | {"student": s.get("student", s["name"] not in ("teacher", "linear"))})
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    """The markdown table: F1 as values (points against the teacher), speed / size / RSS with ``(ratio×)`` to it."""
    teacher = next((r for r in rows if r["name"] == "teacher"), {})
    cells = []
    for r in rows:
        d = dict(r)
        for c in ("f1_weighted", "f1_macro"):
            v, t = r.get(c), teacher.get(c)
            if isinstance(v, float) and isinstance(t, float) and r is not teacher:
                d[c] = f"{v:.3f} ({100 * (v - t):+.1f})"
        for c in RATIO_COLUMNS:
            v, t = r.get(c), teacher.get(c)
            if isinstance(v, float) and isinstance(t, float) and t and r is not teacher:
                d[c] = f"{_num(v)} ({v / t:.2f}×)" if v / t < 10 else f"{_num(v)} ({v / t:.0f}×)"
            elif isinstance(v, float):
                d[c] = _num(v)
        cells.append(d)
    return markdown_table(cells, COLUMNS, LABELS_MD)


def _below(points: float) -> str:
    return f"{abs(points):.1f} weighted F1 points {'below' if points > 0 else 'above'} the teacher"


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.1f}" if abs(v) >= 10 else f"{v:.2f}"


def targets(rows: list[dict[str, Any]], one_title: dict[str, Any] | None) -> dict[str, Any]:
    """Issue 20's three targets, each with the best candidate, its figures and whether it is met."""
    by = {r["name"]: r for r in rows}
    teacher, linear = by.get("teacher", {}), by.get("linear", {})
    students = [r for r in rows if r.get("student", r["name"] not in ("teacher", "linear")) and "f1_weighted" in r]
    out: dict[str, Any] = {}
    if teacher.get("rows_s_b64") and students:
        near = []
        for r in students:
            gap = teacher["f1_weighted"] - r["f1_weighted"]
            speed = r["rows_s_b64"] / teacher["rows_s_b64"]
            near.append({"system": r["name"], "weighted_gap_points": round(100 * gap, 2), "speedup_b64": speed})
        met = [
            n
            for n in near
            if n["weighted_gap_points"] <= 100 * TARGET_WEIGHTED_GAP and n["speedup_b64"] >= TARGET_SPEEDUP
        ]
        out["near_teacher_at_10x"] = {"met": bool(met), "candidates": near}
    if linear.get("f1_weighted") is not None and students:
        fast = []
        for r in students:
            fast.append(
                {
                    "system": r["name"],
                    "rows_s_big": r.get("rows_s_big"),
                    "over_linear_weighted_points": round(100 * (r["f1_weighted"] - linear["f1_weighted"]), 2),
                    "over_linear_macro_points": round(100 * (r["f1_macro"] - linear["f1_macro"]), 2),
                }
            )
        met = [
            f
            for f in fast
            if (f["rows_s_big"] or 0) >= TARGET_LINEAR_RATE
            and f["over_linear_weighted_points"] >= 100 * TARGET_OVER_LINEAR[0]
            and f["over_linear_macro_points"] >= 100 * TARGET_OVER_LINEAR[1]
        ]
        out["beats_linear_at_its_speed"] = {"met": bool(met), "candidates": fast}
    named = {"teacher", "linear", *(r["name"] for r in students)}
    others = [r for r in rows if r["name"] not in named and "f1_weighted" in r and teacher.get("rows_s_b64")]
    if others:
        out["not_students"] = [
            {
                "system": r["name"],
                "weighted_gap_points": round(100 * (teacher["f1_weighted"] - r["f1_weighted"]), 2),
                "speedup_b64": r["rows_s_b64"] / teacher["rows_s_b64"],
                "rows_s_big": r.get("rows_s_big"),
            }
            for r in others
        ]
    if one_title:
        ratio = one_title["rows"][0]["x_fasttext"]
        out["one_title_vs_fasttext"] = {"ratio": ratio, "met": ratio >= TARGET_ONE_TITLE}
    return out


def targets_text(t: dict[str, Any]) -> str:
    lines = []
    if "near_teacher_at_10x" in t:
        best = min(t["near_teacher_at_10x"]["candidates"], key=lambda c: c["weighted_gap_points"])
        fastest_close = [c for c in t["near_teacher_at_10x"]["candidates"] if c["speedup_b64"] >= TARGET_SPEEDUP]
        lines.append(
            f"- Student within 0.5 weighted F1 points of the teacher at >= 10x its batch-64 throughput: "
            f"{'**met**' if t['near_teacher_at_10x']['met'] else '**not met**'}. Closest student: {best['system']} "
            f"({_below(best['weighted_gap_points'])}, {best['speedup_b64']:.1f}x)"
            + (
                "; closest at >= 10x: "
                + ", ".join(f"{c['system']} ({_below(c['weighted_gap_points'])})" for c in fastest_close)
                if fastest_close
                else ""
            )
            + "."
        )
    if "beats_linear_at_its_speed" in t:
        cands = sorted(t["beats_linear_at_its_speed"]["candidates"], key=lambda c: -(c["rows_s_big"] or 0))
        c = cands[0]
        lines.append(
            f"- Student at the linear model's speed (>= {TARGET_LINEAR_RATE:,.0f} titles/s in one call) beating it "
            f"by >= 1 weighted / >= 2 macro points: "
            f"{'**met**' if t['beats_linear_at_its_speed']['met'] else '**not met**'}. Fastest student: "
            f"{c['system']} at {c['rows_s_big'] or 0:,.0f} titles/s, {c['over_linear_weighted_points']:+.1f} weighted "
            f"/ {c['over_linear_macro_points']:+.1f} macro points over the linear model."
        )
    if "not_students" in t:
        lines.append(
            "- Not students (the teacher itself, compressed or behind the linear model), so outside the two targets "
            "above: "
            + "; ".join(
                f"{c['system']} {_below(c['weighted_gap_points'])} at {c['speedup_b64']:.1f}x its batch-64 speed"
                for c in t["not_students"]
            )
            + "."
        )
    if "one_title_vs_fasttext" in t:
        o = t["one_title_vs_fasttext"]
        lines.append(
            f"- Linear raw one-title calls/s >= {TARGET_ONE_TITLE}x fastText's `predict(str)` in the same run: "
            f"{'**met**' if o['met'] else '**not met**'} ({o['ratio']:.2f}x)."
        )
    return "\n".join(lines)


# ---- entry points -------------------------------------------------------------------------------------------------
def _quick_files(work: Path) -> tuple[str, str, str, str]:
    """Tiny MWPD slices (train 300, validation 100, unlabelled 100 rows) and a tiny random encoder, under ``work``."""
    import pandas as pd

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_transformer_helpers import tiny_encoder

    work.mkdir(parents=True, exist_ok=True)
    paths = []
    for split, n in (("train", 300), ("validation", 100)):
        frame = pd.read_json(_data(split), lines=True, nrows=n)
        path = work / f"{split}.json"
        frame.to_json(path, orient="records", lines=True)
        paths.append(str(path))
    unl = write_unlabelled(work, Path(paths[0]), n=100)
    return paths[0], paths[1], str(unl), tiny_encoder(work / "tiny-encoder")


def run(quick: bool = False, fit_only: set[str] | None = None, one_title: bool = True, score: bool = True) -> str:
    """Fit what the cache lacks, score every system in its own process, time the one-title calls, save
    ``bench-out/compress.{json,md}`` (quick: ``compress-quick``, tiny slices in a temporary folder, no cache)."""
    import tempfile

    if not _data("train").is_file():
        return "shared data not available: skipped"
    if quick:
        work = Path(tempfile.mkdtemp(prefix="bench-compress-"))
        train, valid, unl, encoder = _quick_files(work)
        models, fits = work / "models", work / "fits"
    else:
        base = OUT_DIR / "compress"
        train, valid, encoder = str(_data("train")), str(_data("validation")), None
        unl_path = base / "data" / "unlabelled.jsonl"
        unl = str(unl_path if unl_path.is_file() else write_unlabelled(base / "data", _data("train")))
        models, fits = base / "models", base / "fits"
    specs = systems(models, train, valid, unl, encoder)
    started = time.time()
    fit_records = fit_all(specs, fits, quick, fit_only)
    if not score:
        return json.dumps({k: v["fit"] for k, v in fit_records.items()}, indent=1, default=str)
    specs = [s for s in specs if s["name"] in fit_records]
    scores = score_all(specs, valid, quick)
    one = None
    if one_title:
        from benchmarks.bench_linear import one_title_calls

        one = (measure_here if quick else measure)(one_title_calls, quick).value
    rows = table_rows(specs, fit_records, scores)
    goal = targets(rows, one)
    md = render(rows) + "\n\n" + targets_text(goal)
    if one:
        from benchmarks.bench_linear import one_title_table

        md += "\n\n" + one_title_table(one)
    payload = {
        "quick": quick,
        "rows": rows,
        "fits": {
            k: {kk: vv for kk, vv in v.items() if kk != "config"} | {"config": v.get("config")}
            for k, v in fit_records.items()
        },
        "targets": goal,
        "one_title": one,
        "run_s": time.time() - started,
        "unlabelled": unl,
    }
    save_results("compress-quick" if quick else "compress", payload, md)
    if quick:
        shutil.rmtree(work, ignore_errors=True)
    return md


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_compress", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="tiny slices and a tiny encoder: checks the harness runs")
    ap.add_argument(
        "--fit",
        default=None,
        help="fit only these systems when their cache is stale (comma-separated); the others come from the cache",
    )
    ap.add_argument("--no-score", action="store_true", help="fit (what is stale), score nothing")
    ap.add_argument("--no-one-title", action="store_true", help="skip the linear vs fastText one-title calls")
    ap.add_argument("--docs", action="store_true", help="then rewrite the compression table of docs/benchmarks.md")
    args = ap.parse_args(argv)
    only = {s.strip() for s in args.fit.split(",")} if args.fit else None
    print(run(args.quick, only, not args.no_one_title, not args.no_score))
    if args.docs and not args.quick:
        from benchmarks.readme_table import DOC, update_doc

        print(f"{DOC}: {'rewritten' if update_doc(DOC) else 'already up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def section(saved: dict[str, Any]) -> str:
    """The generated part of docs/benchmarks.md from ``bench-out/compress.json``: machine, table, targets."""
    from benchmarks.readme_table import machine_line

    parts = [
        "_Written by `python -m benchmarks --only compress --docs` from `bench-out/compress.json`; do not edit._",
        f"Machine: {machine_line(saved['machine'])}",
        render(saved["rows"]),
        targets_text(saved["targets"]),
    ]
    return "\n\n".join(parts)
