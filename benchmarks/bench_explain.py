"""Faithfulness and cost of skutag's explanations on MWPD validation, against random words and LIME.

For the linear model (full MWPD train, Name + Description, as bench_serve trains it) and the transformer
(MiniLM fine-tuned 50 steps on 2,000 titles, as bench_serve's): every method skutag offers for the kind, random
words and LIME (``lime.lime_text.LimeTextExplainer``, words as features, same rows, same predicted paths) are scored
by ERASER comprehensiveness and sufficiency with the top 20% of words (and, against LIME, the mean row-by-row
difference in comprehensiveness with a 95% bootstrap interval), and timed per explanation (wall and CPU).
The fast model (frozen MiniLM + heads, 2,000 titles) gets the same; the ensemble (that linear model + that
transformer + hybrid neighbour votes, weights tuned on 300 validation titles) its methods and random words, no LIME.
Then ``POST /v1/explain`` latency for the linear model, one product a call, through the real app and worker.

Every method explains the same row in turn before the next row (a noisy neighbour slows all methods alike), with
one BLAS/OpenMP thread, as the serving worker runs explanations. Descriptions are cut to their first 300
characters (what the linear model reads), so the words scored are words the model sees.
Run: ``python -m benchmarks.bench_explain [--quick]``; results in bench-out/explain.{json,md}.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import SHARED_DATA, markdown_table, save_results

FRACTION = 0.2
_SEP = "\n\x1f\n"  # between fields in LIME's single string: never a word, so never removed


def _rows(n: int, columns: list[str]) -> pd.DataFrame:
    from skutag.catalogue.reader import read_catalogue

    df = read_catalogue(SHARED_DATA / "mwpd2020" / "validation.json")
    df = df.sample(n=min(n, len(df)), random_state=0)
    out = pd.DataFrame({c: df[c].fillna("").astype(str) for c in columns})
    if "Description" in out.columns:
        out["Description"] = out["Description"].str.slice(0, 300)
    return out.reset_index(drop=True)


def _lime_weights(model: Any, texts: list[str], path: list[str], samples: int) -> list[float]:
    from lime.lime_text import LimeTextExplainer

    from skutag.explain.scoring import path_probability
    from skutag.explain.spans import tokens

    cols = list(model.text_columns_)

    def classify(strings: list[str]) -> np.ndarray:
        frame = pd.DataFrame([s.split("\x1f") for s in strings], columns=cols, dtype=object)
        frame = frame.apply(lambda c: c.str.strip("\n"))
        p = path_probability(model, frame, [path] * len(strings))
        return np.column_stack([1 - p, p])

    explainer = LimeTextExplainer(split_expression=r"\W+", bow=False, mask_string=" ", random_state=0)
    joined = _SEP.join(texts)
    n_words = len(tokens(texts, cols))
    ex = explainer.explain_instance(joined, classify, labels=(1,), num_features=n_words, num_samples=samples)
    weights = dict(ex.as_map()[1])
    return [float(weights.get(i, 0.0)) for i in range(n_words)]


def _run_methods(
    model: Any, frame: pd.DataFrame, methods: list[str], lime_samples: int, label: str
) -> list[dict[str, Any]]:
    """Each of ``methods``, random words and (``lime_samples`` > 0) LIME on every row of ``frame``, the methods
    taking turns row by row; ERASER scores and time per explanation, one table row per method."""
    from tqdm import tqdm

    from skutag.explain import explain
    from skutag.explain.faithfulness import faithfulness
    from skutag.explain.scoring import best_paths
    from skutag.explain.spans import tokens

    paths = best_paths(model, frame)
    cols = list(model.text_columns_)
    n_words = [len(tokens([str(v) for v in r], cols)) for r in frame.itertuples(index=False, name=None)]
    rng = np.random.default_rng(0)
    names = [*methods, "random", *(["lime"] if lime_samples else [])]
    for method in methods:  # warm-up (caches, lazy imports)
        explain(model, frame.head(2), method=method, neighbours=0)
    weights: dict[str, list[list[float]]] = {m: [] for m in names}
    wall: dict[str, list[float]] = {m: [] for m in names}
    cpu: dict[str, list[float]] = {m: [] for m in names}
    for i in tqdm(range(len(frame)), desc=label, leave=False):
        row = frame.iloc[[i]]
        texts = [str(v) for v in row.iloc[0].tolist()]
        for method in names:
            t0, c0 = time.perf_counter(), time.process_time()
            if method == "random":
                w = rng.random(n_words[i]).tolist()
            elif method == "lime":
                w = _lime_weights(model, texts, paths[i], lime_samples)
            else:
                w = [s.weight for s in explain(model, row, path=paths[i], method=method, neighbours=0)[0].spans]
            wall[method].append(time.perf_counter() - t0)
            cpu[method].append(time.process_time() - c0)
            weights[method].append(w)
    rows = []
    scores = {m: faithfulness(model, frame, paths, weights[m], FRACTION) for m in names}
    for method in names:
        f = scores[method]
        timed = method != "random"
        rows.append(
            {
                "model": label,
                "method": method if method != "lime" else f"LIME ({lime_samples} samples)",
                "rows": len(frame),
                "words": float(np.mean(n_words)),
                "comprehensiveness": f.mean_comprehensiveness,
                "sufficiency": f.mean_sufficiency,
                "ms_p50": 1000 * float(np.percentile(wall[method], 50)) if timed else None,
                "ms_p99": 1000 * float(np.percentile(wall[method], 99)) if timed else None,
                "cpu_ms_mean": 1000 * float(np.mean(cpu[method])) if timed else None,
                "comp −LIME 95% CI": _paired_ci(f.comprehensiveness, scores["lime"].comprehensiveness)
                if lime_samples and method not in ("lime", "random")
                else None,
            }
        )
    base = next(r for r in rows if r["method"] == "random")
    lime = rows[-1] if lime_samples else None
    for r in rows:
        r["comp ×random"] = r["comprehensiveness"] / base["comprehensiveness"] if base["comprehensiveness"] else None
        r["comp ×LIME"] = r["comprehensiveness"] / lime["comprehensiveness"] if lime else None
        r["time ×LIME"] = r["ms_p50"] / lime["ms_p50"] if lime and r["ms_p50"] is not None else None
    return rows


def _paired_ci(ours: np.ndarray, theirs: np.ndarray, n_boot: int = 10_000) -> str:
    """Mean row-by-row difference with a 95% bootstrap interval (rows resampled), as text."""
    d = np.asarray(ours) - np.asarray(theirs)
    rng = np.random.default_rng(0)
    means = d[rng.integers(0, len(d), (n_boot, len(d)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return f"{d.mean():+.3f} [{lo:+.3f}, {hi:+.3f}]"


def _api_latency(model_dir: Path, frame: pd.DataFrame, work: Path, n: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from skutag.serving.app import create_app
    from skutag.serving.settings import ServeSettings

    settings = ServeSettings(model_dir=model_dir, db_url=f"sqlite:///{work / 'explain.db'}", api_keys="k")  # type: ignore[call-arg]
    auth = {"Authorization": "Bearer k"}
    products = [
        {"id": str(i), "name": r.get("Name", ""), "description": r.get("Description", "")}
        for i, r in enumerate(frame.to_dict("records"))
    ]
    times = []
    with TestClient(create_app(settings)) as client:
        for p in products[:5]:
            client.post("/v1/explain", json={"products": [p]}, headers=auth)
        for i in range(n):
            t0 = time.perf_counter()
            r = client.post("/v1/explain", json={"products": [products[i % len(products)]]}, headers=auth)
            times.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
    return {
        "calls": n,
        "p50_ms": 1000 * float(np.percentile(times, 50)),
        "p99_ms": 1000 * float(np.percentile(times, 99)),
    }


def _linear_model(quick: bool, work: Path) -> Path:
    """Linear on MWPD train (Name + Description; all 10K offers, 600 with --quick), one fit without calibration
    folds (explanations do not need the temperatures), cached in bench-out/."""
    from benchmarks.bench_serve import _slice
    from benchmarks.common import OUT_DIR
    from skutag.workflows.train import train_model

    data = SHARED_DATA / "mwpd2020" / "train.json"
    out = work / "linear" if quick else OUT_DIR / "explain-linear"
    if (out / "meta.json").is_file():
        return out
    train = _slice(data, work / "train.json", 600) if quick else data
    params = {"calibration_fraction": 0.0}
    train_model(train, text=["Name", "Description"], label=["lvl1", "lvl2", "lvl3"], params=params, out=out,
                rejects=work / "rejects.jsonl")  # fmt: skip
    return out


def _fast_model(quick: bool, work: Path) -> Path:
    """A FastModel (frozen default encoder + heads, nearest-neighbour votes) on 2,000 MWPD titles (400 with
    --quick), cached in bench-out/."""
    from benchmarks.bench_serve import _slice
    from benchmarks.common import OUT_DIR
    from skutag.workflows.train import train_model

    data = SHARED_DATA / "mwpd2020"
    out = work / "fast" if quick else OUT_DIR / "explain-fast"
    if (out / "meta.json").is_file():
        return out
    n_train = 400 if quick else 2000
    train_model(
        _slice(data / "train.json", work / "fast-train.json", n_train),
        text=["Name"],
        label=["lvl1", "lvl2", "lvl3"],
        model="fast",
        params={"fields": "title", "cache_dir": str(work / "embeddings"), "num_threads": 1},
        valid=_slice(data / "validation.json", work / "fast-valid.json", 300),
        out=out,
        rejects=work / "fast-rejects.jsonl",
    )
    return out


def _ensemble(linear: Any, transformer: Any, quick: bool) -> Any:
    """The linear model and the transformer blended with hybrid neighbour votes over 2,000 training offers (400
    with --quick), weights tuned on 300 validation offers (60): the default ensemble's shape, built in memory."""
    from skutag.catalogue.reader import read_catalogue
    from skutag.models.ensemble import EnsembleModel

    levels = ["lvl1", "lvl2", "lvl3"]
    train = read_catalogue(SHARED_DATA / "mwpd2020" / "train.json").head(400 if quick else 2000)
    valid = read_catalogue(SHARED_DATA / "mwpd2020" / "validation.json").head(60 if quick else 300)
    ens = EnsembleModel.from_members([linear, transformer], grid_step=0.1)

    def texts(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({c: df[c].fillna("").astype(str) for c in ens.text_columns_})

    def labels(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({c: df[c].fillna("").astype(str) for c in levels})

    ens.build_neighbours(texts(train), labels(train))
    ens.tune(texts(valid), labels(valid))
    return ens


def run(quick: bool) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    from benchmarks.bench_serve import _transformer_model
    from skutag.models.registry import load_model

    out: dict[str, Any] = {"quick": quick, "fraction": FRACTION}
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1):
        work = Path(tmp)
        lin_dir = _linear_model(quick, work)
        lin = load_model(lin_dir)
        lin_rows = _rows(12 if quick else 300, list(lin.text_columns_))
        table = _run_methods(lin, lin_rows, ["linear", "occlusion", "erasure"], 5000, "linear")
        out["api"] = _api_latency(lin_dir, lin_rows, work, 20 if quick else 300)
        tr = load_model(_transformer_model(work))
        tr_rows = _rows(4 if quick else 60, list(tr.text_columns_))
        table += _run_methods(tr, tr_rows, ["erasure", "occlusion", "ig", "gradient"], 500, "transformer")
        fast = load_model(_fast_model(quick, work))
        fast.set_params(cache_dir=None)  # predictions computed, not read from (or written to) the embedding cache
        table += _run_methods(fast, _rows(4 if quick else 60, list(fast.text_columns_)), ["erasure", "occlusion"],
                              500, "fast")  # fmt: skip
        ens = _ensemble(lin, tr, quick)
        out["ensemble"] = {"weights": list(ens.weights_), "blend": ens.blend_}
        table += _run_methods(ens, _rows(3 if quick else 30, list(ens.text_columns_)), ["blend", "occlusion"], 0,
                              "ensemble")  # fmt: skip
    out["rows"] = table
    return out


def _markdown(result: dict[str, Any]) -> str:
    cols = [
        "model", "method", "rows", "words", "comprehensiveness", "sufficiency", "comp ×random", "comp ×LIME",
        "comp −LIME 95% CI", "ms_p50", "ms_p99", "cpu_ms_mean", "time ×LIME",
    ]  # fmt: skip
    api = result["api"]
    return "\n\n".join(
        [
            f"ERASER faithfulness (top {int(100 * FRACTION)}% of words; comprehensiveness: higher is better, "
            "sufficiency: lower is better) and time per explanation",
            markdown_table(result["rows"], cols),
            f"POST /v1/explain, linear model, one product a call: p50 {api['p50_ms']:.1f} ms, "
            f"p99 {api['p99_ms']:.1f} ms over {api['calls']} calls",
        ]
    )


def main(argv: list[str] | None = None, progress: Callable[[str], None] = print) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="Fewer rows, small models: a smoke run.")
    args = parser.parse_args(argv)
    result = run(args.quick)
    md = _markdown(result)
    path = save_results("explain" + ("-quick" if args.quick else ""), result, md)
    progress(md)
    progress(f"-> {path}")


if __name__ == "__main__":
    main()
