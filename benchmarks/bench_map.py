"""Cold-start mapping (``skutag map``): MWPD 2020 validation offers mapped onto GS1 with no MWPD label used.

MWPD labels each offer with GS1 GPC codes and names: segment (level 1), family (level 2) and *class*
(level 3). Two honest comparisons, since the GS1 file in ``../shared/data`` has no usable class level (its
``class`` records repeat the family and no brick says which class it belongs to):

``classes``
    the taxonomy is a file of GS1 paths ``segment > family > class`` as MWPD names them: the set of label
    names of MWPD train + validation (282 paths; U+FFFD in the names read as ``-``), names only, no
    definitions, no product-to-label pair. Scored on all three levels by GPC code.
``gs1``
    the whole GS1 GPC file (``--taxonomy gs1``: 39 segments, 139 families, 4,867 bricks with Includes /
    Excludes definitions). A product gets a brick; its segment and family are scored against MWPD's levels 1
    and 2 by GPC code (the file is a later GPC release: MWPD's segment 54 Baby Care is not in it, 0.3% of the
    rows, and some families were reorganised). Bricks sit below classes, so level 3 is not comparable.

Per variant (lexical only, dense only, hybrid, hybrid + hierarchical rerank; and with the Excludes penalty
on ``gs1``, off by default): accuracy and weighted / macro F1 per level, ``recall@20`` (the gold node of the
deepest scored level is among the 20 shortlisted leaves' nodes: what a reranker could still pick, the ceiling of
the LLM stage), titles/s (product encoding + retrieval + reranking; the taxonomy's embeddings come from the
cache, built once), and at threshold 0.5 (``--threshold 0.5``; by default ``skutag map`` auto-accepts
nothing) the share of rows auto-accepted and their level-1 / deepest-level accuracy.

``python -m benchmarks.bench_map [--sample N] [--fields title|all] [--only classes,gs1]`` prints the table and
writes ``bench-out/map.{json,md}``; ``--quick`` maps 200 offers onto the classes only (checks the harness, not
the numbers).

``llm`` (``--only llm [--llm-sample N]``, not in the default run: a CPU LLM maps a title or two a second) maps a
sample (default 200) onto the classes with ``--rerank llm`` and its local default (SmolLM2-135M-Instruct in
llama-cpp-python's server, started once), beside hybrid + hierarchical on the same sample; the LLM's answers
are cached in memory, so only the first LLM variant's titles/s counts the model (the others reuse its answers
and differ in ``top_n`` / ``weight``).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import SHARED_DATA, markdown_table, save_results

LEVELS = ("lvl1", "lvl2", "lvl3")
THRESHOLD = 0.5
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("lexical", {"method": "lexical", "reranker": "none"}),
    ("dense", {"method": "dense", "reranker": "none"}),
    ("hybrid", {"method": "hybrid", "reranker": "none"}),
    ("hybrid + hierarchical", {"method": "hybrid", "reranker": "hierarchical"}),
]
EXCLUDES = ("hybrid + hierarchical + Excludes penalty 0.5", {"method": "hybrid", "exclude_weight": 0.5})


def _fix(name: str) -> str:
    return name.replace("\ufffd", "-").strip()


def _read(split: str) -> list[dict[str, Any]]:
    with (SHARED_DATA / "mwpd2020" / f"{split}.json").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def class_paths() -> dict[tuple[str, ...], tuple[str, str, str]]:
    """MWPD's label vocabulary as GS1 paths: (segment, family, class) names -> their GPC codes."""
    out: dict[tuple[str, ...], tuple[str, str, str]] = {}
    for split in ("train", "validation"):
        for r in _read(split):
            parts = [str(r[lv]).split("_", 1) for lv in LEVELS]
            out[tuple(_fix(p[1]) for p in parts)] = (parts[0][0], parts[1][0], parts[2][0])
    return out


def _queries(rows: list[dict[str, Any]], fields: str) -> list[str]:
    def text(r: dict[str, Any]) -> str:
        title = _fix(str(r.get("Name") or ""))
        desc = _fix(str(r.get("Description") or ""))
        return " | ".join(t for t in (title, desc) if t) if fields == "all" else title or desc

    return [text(r) for r in rows]


def _score(gold: list[tuple[str, ...]], pred: list[tuple[str, ...]], levels: int) -> dict[str, float]:
    from skutag.evaluation.metrics import level_metrics

    out: dict[str, float] = {}
    for lv in range(levels):
        m = level_metrics([g[lv] for g in gold], [p[lv] for p in pred])
        out.update(
            {f"l{lv + 1}_acc": m["accuracy"], f"l{lv + 1}_wf1": m["f1_weighted"], f"l{lv + 1}_mf1": m["f1_macro"]}
        )
    return out


def run_setting(
    setting: str, rows: list[dict[str, Any]], fields: str, variants: list[tuple[str, dict[str, Any]]] | None = None
) -> list[dict[str, Any]]:
    from skutag.models.mapping import TaxonomyMapper
    from skutag.taxonomy.sources import load_taxonomy_source

    queries = _queries(rows, fields)
    gold = [tuple(str(r[lv]).split("_", 1)[0] for lv in LEVELS) for r in rows]
    with tempfile.TemporaryDirectory() as tmp:
        if setting == "classes":
            paths = class_paths()
            file = Path(tmp) / "gs1-classes.txt"
            file.write_text("\n".join(" > ".join(p) for p in paths) + "\n", encoding="utf-8")
            source = load_taxonomy_source(file)
            levels = 3

            def codes(path: tuple[str, ...]) -> tuple[str, ...]:
                return paths[path]
        else:
            source = load_taxonomy_source("gs1")
            levels = 2
            tree = source.tree

            def codes(path: tuple[str, ...]) -> tuple[str, ...]:
                return tuple(n.id for n in tree.ancestors(tree.id_of_path(path)))

        if variants is None:
            variants = VARIANTS + ([EXCLUDES] if setting == "gs1" else [])
        vectors: np.ndarray | None = None
        encode_s = 0.0
        out = []
        for name, params in variants:
            mapper = TaxonomyMapper(source, **params)
            t0 = time.perf_counter()
            if mapper.dense is not None and vectors is None:
                vectors = mapper.embed(queries)
                encode_s = time.perf_counter() - t0
                t0 = time.perf_counter()
            result = mapper.map(queries, k=1, vectors=vectors if mapper.dense is not None else None)
            wall = time.perf_counter() - t0 + (encode_s if mapper.dense is not None else 0.0)
            pred = [codes(p[0]) for p in result.paths]
            row: dict[str, Any] = {"taxonomy": setting, "variant": name, **_score(gold, pred, levels)}
            deepest = levels - 1
            hit = [{codes(p)[deepest] for p in s} for s in result.shortlists]
            row["recall@20"] = float(np.mean([g[deepest] in h for g, h in zip(gold, hit, strict=True)]))
            auto = result.scores[:, 0] >= THRESHOLD
            row["auto_share"] = float(auto.mean())
            ok1 = np.array([p[0] == g[0] for p, g in zip(pred, gold, strict=True)])
            okd = np.array([p[deepest] == g[deepest] for p, g in zip(pred, gold, strict=True)])
            row["auto_l1_acc"] = float(ok1[auto].mean()) if auto.any() else None
            row["auto_deep_acc"] = float(okd[auto].mean()) if auto.any() else None
            row["titles_s"] = len(queries) / wall
            out.append(row)
            print(markdown_table([row], list(row)), flush=True)
    return out


def llm_variants(url: str, cache: Path) -> list[tuple[str, dict[str, Any]]]:
    """Hybrid + hierarchical, then the LLM reranker over it against the server at ``url``, per ``top_n`` and
    weight; the answers go to the disk cache ``cache``, so a later weight reuses an earlier one's (its clients
    open the cache when their run starts)."""
    from skutag.models.mapping.llm import LLMReranker
    from skutag.models.mapping.llm_server import LOCAL_MODEL

    out: list[tuple[str, dict[str, Any]]] = [("hybrid + hierarchical", {"method": "hybrid"})]
    for top_n in (10, 5):
        for weight in (0.5, 0.25, 1.0):
            reused = " (answers cached)" if weight != 0.5 else ""
            name = f"hybrid + LLM choice (SmolLM2-135M, top {top_n}, weight {weight}){reused}"
            reranker = LLMReranker(url, LOCAL_MODEL, top_n=top_n, weight=weight, cache_dir=cache)
            out.append((name, {"method": "hybrid", "reranker": reranker}))
    return out


def run_llm(rows: list[dict[str, Any]], fields: str) -> list[dict[str, Any]]:
    """The ``llm`` setting: the local default LLM server started once for every LLM variant."""
    from skutag.models.mapping.llm_server import LocalLLMServer

    with LocalLLMServer() as server, tempfile.TemporaryDirectory() as cache:
        out = run_setting("classes", rows, fields, llm_variants(server.url, Path(cache)))
    return [{**r, "taxonomy": f"classes ({len(rows)} offers)"} for r in out]


def run(
    quick: bool = False,
    sample: int | None = None,
    fields: str = "title",
    only: tuple[str, ...] = (),
    llm_sample: int = 200,
) -> str:
    if not (SHARED_DATA / "mwpd2020" / "validation.json").is_file():
        return "shared data not available: skipped"
    rows = _read("validation")
    n = 200 if quick else sample
    if n is not None and n < len(rows):
        rows = random.Random(0).sample(rows, n)
    results = []
    for setting in only or (("classes",) if quick else ("classes", "gs1")):  # quick: no 9,734 GS1 texts to encode
        if setting == "llm":
            results += run_llm(random.Random(1).sample(rows, min(llm_sample, len(rows))), fields)
        else:
            results += run_setting(setting, rows, fields)
    columns = [
        "taxonomy",
        "variant",
        "l1_acc",
        "l1_wf1",
        "l1_mf1",
        "l2_acc",
        "l2_wf1",
        "l2_mf1",
        "l3_acc",
        "l3_wf1",
        "l3_mf1",
        "recall@20",
        "auto_share",
        "auto_l1_acc",
        "auto_deep_acc",
        "titles_s",
    ]
    table = markdown_table(results, columns)
    note = f"MWPD validation, {len(rows):,} offers{' (random sample, seed 0)' if n else ''}, mapped by {fields}"
    save_results("map", {"rows": len(rows), "fields": fields, "threshold": THRESHOLD, "results": results}, table)
    return f"{note}\n\n{table}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sample", type=int, default=None, help="Map a fixed random sample of this many offers.")
    parser.add_argument("--fields", choices=("title", "all"), default="title")
    parser.add_argument("--only", default="", help="Comma-separated settings: classes, gs1, llm.")
    parser.add_argument("--llm-sample", type=int, default=200, help="Offers the llm setting maps (a sample).")
    args = parser.parse_args()
    only = tuple(s for s in args.only.split(",") if s)
    print(run(args.quick, args.sample, args.fields, only, args.llm_sample))


if __name__ == "__main__":
    main()
