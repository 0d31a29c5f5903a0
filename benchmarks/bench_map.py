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

``crosswalk`` (onto the classes): the shop's ``CategoryText`` as more evidence. Naively (``title | CategoryText``
as the query), and by ``skutag map --crosswalk CategoryText`` (:mod:`skutag.models.mapping.crosswalk`: each
normalised shop category mapped once by its own text and its products' mean retrieval probabilities, each row
mixing its category's evidence in at ``--crosswalk-weight``; 1 = every row takes its category's path); and with
``--catalogue-prior 0.5`` (EM over the whole catalogue). Titles/s count the encoding of the products and of the
shop categories.

``labels-from`` (onto the classes): ``skutag train --labels-from``: MWPD *train* offers (10,012, labels dropped
before anything reads them) mapped by ``skutag map`` (teachers: plain, with the crosswalk, with the crosswalk and
the catalogue prior), a linear model trained on
those paths (title only; label noise filtered by cleanlab, or not), then scored on validation against the truth,
beside the mapper that taught it. Titles/s: the linear model's prediction of the validation titles.

``python -m benchmarks.bench_map [--sample N] [--fields title|all] [--only classes,gs1,crosswalk,labels-from,llm]``
prints the table and writes ``bench-out/map.{json,md}``; ``--train-sample N`` teaches the linear model on N train
offers; ``--quick`` maps 200 offers onto the classes only, with the crosswalk and the prior, and teaches on 300
(checks the harness, not the numbers).

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
SETTINGS = ("classes", "gs1", "crosswalk", "labels-from")
#: ``skutag map`` two-pass variants: (name, ``--crosswalk-weight`` (0: no crosswalk), ``--catalogue-prior``).
CROSSWALK_VARIANTS = (
    ("--crosswalk CategoryText (weight 0.7)", 0.7, 0.0),
    ("--crosswalk CategoryText --crosswalk-weight 1", 1.0, 0.0),
    ("--catalogue-prior 0.5", 0.0, 0.5),
    ("--crosswalk CategoryText --catalogue-prior 0.5", 0.7, 0.5),
)
#: ``labels-from`` teachers: name -> (``--crosswalk-weight`` with ``--crosswalk CategoryText``, 0: without;
#: ``--catalogue-prior``).
TEACHERS: dict[str, tuple[float, float]] = {"plain": (0.0, 0.0), "crosswalk": (0.7, 0.0), "crosswalk+prior": (0.7, 0.5)}


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


def classes_taxonomy(tmp: Path) -> tuple[Any, Any]:
    """The ``classes`` taxonomy file written to ``tmp``: its source and a function path -> GPC codes."""
    from skutag.taxonomy.sources import load_taxonomy_source

    paths = class_paths()
    file = tmp / "gs1-classes.txt"
    file.write_text("\n".join(" > ".join(p) for p in paths) + "\n", encoding="utf-8")
    return load_taxonomy_source(file), paths.__getitem__


def _gold(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [tuple(str(r[lv]).split("_", 1)[0] for lv in LEVELS) for r in rows]


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
    gold = _gold(rows)
    with tempfile.TemporaryDirectory() as tmp:
        if setting == "classes":
            source, codes = classes_taxonomy(Path(tmp))
            levels = 3
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


def run_crosswalk(rows: list[dict[str, Any]], fields: str, quick: bool = False) -> list[dict[str, Any]]:
    """The shop's ``CategoryText`` as evidence, onto the classes: as part of the query, and by the crosswalk (at
    each of :data:`CROSSWALK_VARIANTS`); titles/s count the products' encoding (done once, shared) and the rest."""
    from skutag.models.mapping import TaxonomyMapper
    from skutag.models.mapping.crosswalk import CrosswalkBuilder

    queries = _queries(rows, fields)
    shop = [_fix(str(r.get("CategoryText") or "")) for r in rows]
    gold = _gold(rows)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        source, codes = classes_taxonomy(Path(tmp))
        mapper = TaxonomyMapper(source)
        t0 = time.perf_counter()
        joined = [f"{q} | {c}" if c.strip() else q for q, c in zip(queries, shop, strict=True)]
        result = mapper.map(joined, k=1)
        variants: list[tuple[str, Any, float, dict[str, int]]] = [
            ("query: title | CategoryText", result, time.perf_counter() - t0, {})
        ]
        t0 = time.perf_counter()
        vectors = mapper.embed(queries)
        encode_s = time.perf_counter() - t0
        for name, weight, prior in CROSSWALK_VARIANTS[-1:] if quick else CROSSWALK_VARIANTS:
            t0 = time.perf_counter()
            builder = CrosswalkBuilder(mapper, group_weight=weight, prior_weight=prior)
            builder.add(queries, shop if weight > 0 else [None] * len(queries), vectors)
            table = builder.finish(k=1)
            prob, _ = builder.row_probabilities(len(queries))
            result = mapper.map(queries, k=1, prob=prob)
            extra = {"shop_categories": len(table.keys)} if weight > 0 else {}
            variants.append((name, result, time.perf_counter() - t0 + encode_s, extra))
        for name, result, wall, extra in variants:
            pred = [codes(p[0]) for p in result.paths]
            row: dict[str, Any] = {"taxonomy": "classes", "variant": name, **_score(gold, pred, 3), **extra}
            row["titles_s"] = len(queries) / wall
            out.append(row)
            print(markdown_table([row], list(row)), flush=True)
    return out


def _unlabelled(rows: list[dict[str, Any]], path: Path) -> Path:
    """Offers without their labels, as a catalogue file (what a cold-start shop has)."""
    keep = ("ID", "Name", "Description", "CategoryText", "URL")
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps({k: r.get(k) for k in keep}, ensure_ascii=False) + "\n")
    return path


def run_labels_from(
    rows: list[dict[str, Any]], train_sample: int | None, teachers: tuple[str, ...] = (), quick: bool = False
) -> list[dict[str, Any]]:
    """``skutag train --labels-from``: linear models taught by the mapper's paths for MWPD train (no labels read),
    scored on the validation ``rows`` against the truth. The train titles are encoded once for every teacher (on
    a loaded 2-core machine ``skutag map`` of 10,012 titles takes ~15 min per run, nearly all of it encoding); each
    teacher's mapping is made by the functions ``skutag map`` runs and written in its format, then
    :func:`train_from_mapping` (``skutag train --labels-from``) reads it from the file."""
    import pandas as pd

    from skutag.models.mapping import TaxonomyMapper
    from skutag.models.mapping.crosswalk import CrosswalkBuilder
    from skutag.workflows.map import result_frame
    from skutag.workflows.train_labels_from import train_from_mapping

    train = _read("train")
    if train_sample is not None and train_sample < len(train):
        train = random.Random(0).sample(train, train_sample)
    gold = _gold(rows)
    valid = pd.DataFrame({"Name": _queries(rows, "title")})
    titles = _queries(train, "title")
    shop = [_fix(str(r.get("CategoryText") or "")) for r in train]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        source, codes = classes_taxonomy(Path(tmp))
        data = _unlabelled(train, Path(tmp) / "train.jsonl")
        mapper = TaxonomyMapper(source)
        t0 = time.perf_counter()
        vectors = mapper.embed(titles)
        encode_s = time.perf_counter() - t0
        for teacher in teachers or tuple(TEACHERS):
            weight, prior = TEACHERS[teacher]
            t0 = time.perf_counter()
            if weight == 0 and prior == 0:
                result = mapper.map(titles, k=1, vectors=vectors)
            else:
                builder = CrosswalkBuilder(mapper, group_weight=weight, prior_weight=prior)
                builder.add(titles, shop if weight > 0 else [None] * len(titles), vectors)
                builder.finish(k=1)
                result = mapper.map(titles, k=1, prob=builder.row_probabilities(len(titles))[0])
            map_s = time.perf_counter() - t0 + encode_s
            mapping = Path(tmp) / f"mapping-{teacher}.csv"
            frame = pd.concat([pd.DataFrame({"ID": [r["ID"] for r in train]}), result_frame(result, mapper)], axis=1)
            frame.to_csv(mapping, index=False)
            for noise in ("cleanlab",) if quick or teacher == "plain" else ("cleanlab", "none"):
                t0 = time.perf_counter()
                res = train_from_mapping(data, mapping, text=["Name"], noise_filter=noise, progress=False)
                train_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                pred = res.train.model.predict(valid)
                wall = time.perf_counter() - t0
                paths = [codes(tuple(p)) for p in pred.itertuples(index=False, name=None)]
                row: dict[str, Any] = {
                    "taxonomy": "classes",
                    "variant": f"linear --labels-from (teacher: {teacher}; noise filter {noise})",
                    **_score(gold, paths, 3),
                    "train_rows": res.rows_read,
                    "rows_used": res.train.rows_used,
                    "dropped": sum(res.dropped.values()),
                    "map_train_s": map_s,
                    "train_s": train_s,
                    "titles_s": len(rows) / wall,
                }
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
    train_sample: int | None = None,
    teachers: tuple[str, ...] = (),
    llm_sample: int = 200,
) -> str:
    if not (SHARED_DATA / "mwpd2020" / "validation.json").is_file():
        return "shared data not available: skipped"
    rows = _read("validation")
    n = 200 if quick else sample
    if n is not None and n < len(rows):
        rows = random.Random(0).sample(rows, n)
    results = []
    # quick: no 9,734 GS1 texts to encode
    for setting in only or (("classes", "crosswalk", "labels-from") if quick else SETTINGS):
        if setting == "llm":
            results += run_llm(random.Random(1).sample(rows, min(llm_sample, len(rows))), fields)
        elif setting == "crosswalk":
            results += run_crosswalk(rows, fields, quick)
        elif setting == "labels-from":
            results += run_labels_from(
                rows, 300 if quick else train_sample, ("crosswalk",) if quick else teachers, quick
            )
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
    columns += [c for c in ("shop_categories", "rows_used", "dropped", "train_s") if any(c in r for r in results)]
    table = markdown_table(results, columns)
    note = f"MWPD validation, {len(rows):,} offers{' (random sample, seed 0)' if n else ''}, mapped by {fields}"
    save_results("map", {"rows": len(rows), "fields": fields, "threshold": THRESHOLD, "results": results}, table)
    return f"{note}\n\n{table}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sample", type=int, default=None, help="Map a fixed random sample of this many offers.")
    parser.add_argument("--fields", choices=("title", "all"), default="title")
    parser.add_argument(
        "--only", default="", help="Comma-separated settings: " + ", ".join(SETTINGS) + ", llm (not by default)."
    )
    parser.add_argument("--train-sample", type=int, default=None, help="labels-from: teach on this many train offers.")
    parser.add_argument("--llm-sample", type=int, default=200, help="Offers the llm setting maps (a sample).")
    parser.add_argument("--teachers", default="", help="labels-from: " + ", ".join(TEACHERS) + " (default: all).")
    args = parser.parse_args()
    only = tuple(s for s in args.only.split(",") if s)
    teachers = tuple(t for t in args.teachers.split(",") if t)
    print(run(args.quick, args.sample, args.fields, only, args.train_sample, teachers, args.llm_sample))


if __name__ == "__main__":
    main()
