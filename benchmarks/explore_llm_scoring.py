"""Exploration: how should the LLM reranker read a small instruct model? Two ways, on the same shortlists:

``choice``
    what ``skutag map --rerank llm`` does: the ``top_n`` candidates lettered in one chat prompt, the
    log-probabilities of the first answer token read for the letters (one request per product; works on
    OpenAI, vLLM and llama-cpp-python's chat completions).
``likelihood``
    the log-likelihood of each candidate's path after ``Product: <title>\\nCategory:`` (``/v1/completions``
    with ``echo`` and ``logprobs``: ``top_n`` requests per product, not served by hosted chat APIs), summed
    over the path's tokens (``sum``) or averaged (``mean``, which does not favour short paths).

Both are normalised over the candidates and blended with the hierarchical retrieval score at a few weights.
MWPD validation offers (a seeded sample) onto the GS1 classes file of ``bench_map`` (names only, no label
used); accuracy per level and the seconds the LLM took. The local default (SmolLM2-135M-Instruct in
llama-cpp-python's server) answers.

``python -m benchmarks.explore_llm_scoring [--sample 40] [--top-n 5]``
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_map import LEVELS, _queries, _read, class_paths
from benchmarks.common import markdown_table

PREFIX = "Product: {title}\nCategory:"


def _normalise(raw: np.ndarray) -> np.ndarray:
    z = raw - raw.max()
    return np.asarray(z - np.log(np.exp(z).sum()))


def likelihoods(llm: Any, title: str, paths: list[tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """Summed and mean log-probability of each path's tokens after the product's prefix, computed in process
    (llama-cpp-python's server sorts the whole vocabulary for every echoed token: ~20 s per candidate on this
    machine); the prefix is evaluated once and each path continues from it."""
    prefix = llm.tokenize(PREFIX.format(title=title).encode("utf-8"))
    llm.reset()
    llm.eval(prefix)
    sums, means = [], []
    for path in paths:
        tokens = llm.tokenize((" " + " > ".join(path)).encode("utf-8"), add_bos=False)
        llm.n_tokens = len(prefix)  # rewind to the end of the prefix (eval drops the cache past it)
        llm.eval(tokens)
        logits = np.asarray(llm.scores[len(prefix) - 1 : len(prefix) + len(tokens) - 1], dtype=np.float64)
        top = logits.max(axis=1, keepdims=True)
        logprobs = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
        picked = logprobs[np.arange(len(tokens)), tokens]
        sums.append(float(picked.sum()))
        means.append(float(picked.mean()))
    return np.array(sums), np.array(means)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=40)
    parser.add_argument("--top-n", type=int, default=5)
    parser.add_argument("--no-likelihood", action="store_true", help="Only the choice (the likelihood is slow).")
    args = parser.parse_args()

    from skutag.models.mapping import HierarchicalReranker, TaxonomyMapper
    from skutag.models.mapping.llm import LLMReranker
    from skutag.models.mapping.llm_server import LOCAL_MODEL, LocalLLMServer
    from skutag.taxonomy.sources import load_taxonomy_source

    rows = random.Random(2).sample(_read("validation"), args.sample)
    queries = _queries(rows, "title")
    gold = [tuple(str(r[lv]).split("_", 1)[0] for lv in LEVELS) for r in rows]
    codes = class_paths()
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "gs1-classes.txt"
        file.write_text("\n".join(" > ".join(p) for p in codes) + "\n", encoding="utf-8")
        mapper = TaxonomyMapper(load_taxonomy_source(file))
        cands = mapper._shortlists(queries, mapper.embed(queries))
    base = HierarchicalReranker().rerank(queries, cands)
    orders = [np.argsort(-b, kind="stable")[: args.top_n] for b in base]
    llm: dict[str, list[np.ndarray]] = {"choice": [], "likelihood sum": [], "likelihood mean": []}
    seconds: dict[str, float] = {}
    with LocalLLMServer() as server:
        reranker = LLMReranker(server.url, LOCAL_MODEL, top_n=args.top_n, weight=1.0, cache_dir=None)
        t0 = time.perf_counter()
        full = reranker.rerank(queries, cands)
        seconds["choice"] = time.perf_counter() - t0
        llm["choice"] = [f[o] for f, o in zip(full, orders, strict=True)]
        # the letters' prior (a small model favours "A" whatever the product), estimated over the sample
        prior = np.mean(llm["choice"], axis=0)
        llm["choice, letter prior removed"] = [_normalise(c - prior) for c in llm["choice"]]
        seconds["choice, letter prior removed"] = seconds["choice"]
    if not args.no_likelihood:
        from llama_cpp import Llama

        from skutag.models.mapping.llm_server import default_gguf

        model = Llama(str(default_gguf()), n_ctx=512, n_threads=2, logits_all=True, verbose=False)
        t0 = time.perf_counter()
        for q, row, o in zip(queries, cands, orders, strict=True):
            s, m = likelihoods(model, q, [row[j].path for j in o])
            llm["likelihood sum"].append(_normalise(s))
            llm["likelihood mean"].append(_normalise(m))
        seconds["likelihood sum"] = seconds["likelihood mean"] = time.perf_counter() - t0

    def score(name: str, picks: list[int]) -> dict[str, Any]:
        pred = [codes[row[j].path] for row, j in zip(cands, picks, strict=True)]
        out: dict[str, Any] = {"scoring": name}
        for lv in range(3):
            out[f"l{lv + 1}_acc"] = float(np.mean([p[lv] == g[lv] for p, g in zip(pred, gold, strict=True)]))
        return out

    results = [score("hybrid + hierarchical", [int(o[0]) for o in orders])]
    top = [int(np.argmax(c)) for c in llm["choice"]]
    print(f"the LLM's first choice is letter A for {np.mean([t == 0 for t in top]):.0%} of the products")
    for name, scores in [(n, s) for n, s in llm.items() if s]:
        for w in (1.0, 0.75, 0.5, 0.25):
            picks = [int(o[np.argmax((1 - w) * b[o] + w * s)]) for b, o, s in zip(base, orders, scores, strict=True)]
            results.append({**score(f"{name}, weight {w}", picks), "llm_s": round(seconds[name], 1)})
    print(f"MWPD validation, {len(rows)} offers (seed 2), GS1 classes, top {args.top_n} candidates\n")
    print(markdown_table(results, ["scoring", "l1_acc", "l2_acc", "l3_acc", "llm_s"]))


if __name__ == "__main__":
    main()
