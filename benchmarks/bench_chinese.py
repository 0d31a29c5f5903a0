"""Chinese attributes: the character CRF tagger (``skutag.models.crf.CharCRFTagger``) on Taobao NER.

Train on ``taobao-ner-zh/train.txt`` (6,000 titles), score on ``test.txt`` (1,000): entity-level micro
precision/recall/F1 (a predicted span counts when its start, end and type all match a gold span), per entity
type, and on the test titles whose text does not occur in train (many do: those scores reward memory).
Training wall and CPU time; prediction sentences/s (``predict_spans`` on the test titles, numpy decoding);
agreement of the numpy decoding with crfsuite's own tagger. A peer in the same run: a dictionary of the
training entities, longest match first.

``python -m benchmarks.bench_chinese`` prints the table and writes ``bench-out/chinese.{json,md}``;
``--tune`` first runs the small c1/c2/feature grid on dev (scored on the dev titles not in train) and writes
``bench-out/chinese-tune.json``; ``--quick`` uses tiny slices (checks the harness, not the numbers).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from benchmarks.common import SHARED_DATA, markdown_table, save_results

#: Chosen on dev (``--tune``; see docs/benchmarks.md), never on test.
PARAMS: dict[str, Any] = {"c1": 0.05, "c2": 0.01, "max_iterations": 150}
TUNE_GRID: list[dict[str, Any]] = [
    {"c1": 0.01, "c2": 0.01},
    {"c1": 0.05, "c2": 0.01},
    {"c1": 0.2, "c2": 0.01},
    {"c1": 0.05, "c2": 0.1},
    {"c1": 0.05, "c2": 0.01, "words": False},
    {"c1": 0.05, "c2": 0.01, "bigrams": False},
    {"c1": 0.05, "c2": 0.01, "window": 3},
]
QUICK = {"train": 300, "test": 100, "max_iterations": 30}
SPEED_REPEATS = 3

Spans = list[tuple[str, int, int]]


def load_split(split: str, limit: int | None = None) -> tuple[list[str], list[Spans]]:
    from skutag.datasets.taobao import bio_spans, load_taobao

    sentences, _ = load_taobao(path=SHARED_DATA / "taobao-ner-zh" / f"{split}.txt")
    sentences = sentences[:limit] if limit else sentences
    return ["".join(c) for c, _ in sentences], [bio_spans(t) for _, t in sentences]


def score(gold: list[Spans], pred: list[list[tuple[str, int, int, float]]]) -> dict[str, Any]:
    """Entity-level micro P/R/F1 (exact start, end and type) overall and per type, with counts."""
    g = {(i, a, s, e) for i, row in enumerate(gold) for a, s, e in row}
    p = {(i, a, s, e) for i, row in enumerate(pred) for a, s, e, *_ in row}

    def prf(gs: set[Any], ps: set[Any]) -> dict[str, Any]:
        tp = len(gs & ps)
        prec = tp / len(ps) if ps else 0.0
        rec = tp / len(gs) if gs else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        return {"precision": prec, "recall": rec, "f1": f1, "gold": len(gs), "predicted": len(ps), "correct": tp}

    out = prf(g, p)
    out["per_type"] = {
        t: prf({x for x in g if x[1] == t}, {x for x in p if x[1] == t}) for t in sorted({x[1] for x in g})
    }
    return out


class DictionaryPeer:
    """Every entity string of the training set with its most frequent type; tags the longest match first,
    left to right (what memorising the training titles gives)."""

    def fit(self, texts: list[str], spans: list[Spans]) -> DictionaryPeer:
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for text, row in zip(texts, spans, strict=True):
            for a, s, e in row:
                counts[text[s:e]][a] += 1
        self.types = {v: c.most_common(1)[0][0] for v, c in counts.items() if v.strip()}
        self.longest = max((len(v) for v in self.types), default=0)
        return self

    def predict_spans(self, texts: list[str]) -> list[list[tuple[str, int, int, float]]]:
        out = []
        for text in texts:
            row, i = [], 0
            while i < len(text):
                for n in range(min(self.longest, len(text) - i), 0, -1):
                    t = self.types.get(text[i : i + n])
                    if t is not None:
                        row.append((t, i, i + n, 1.0))
                        i += n
                        break
                else:
                    i += 1
            out.append(row)
        return out


def unseen(texts: list[str], train_texts: list[str]) -> list[int]:
    seen = set(train_texts)
    return [i for i, t in enumerate(texts) if t not in seen]


def subset(xs: list[Any], idx: list[int]) -> list[Any]:
    return [xs[i] for i in idx]


def tune(quick: bool = False) -> list[dict[str, Any]]:
    """Each grid point: train on train, score dev (all titles, and those not in train)."""
    from skutag.models.crf import CharCRFTagger

    lim_train, lim_dev = (QUICK["train"], QUICK["test"]) if quick else (None, None)
    tr_x, tr_y = load_split("train", lim_train)
    dv_x, dv_y = load_split("dev", lim_dev)
    new = unseen(dv_x, tr_x)
    rows = []
    for point in TUNE_GRID[:2] if quick else TUNE_GRID:
        params = {**PARAMS, **point, **({"max_iterations": QUICK["max_iterations"]} if quick else {})}
        model = CharCRFTagger(**params)
        t0 = time.perf_counter()
        model.fit(tr_x, tr_y)
        train_s = time.perf_counter() - t0
        pred = model.predict_spans(dv_x)
        all_ = score(dv_y, pred)
        fresh = score(subset(dv_y, new), subset(pred, new))
        rows.append(
            {
                "params": ", ".join(f"{k}={v}" for k, v in point.items()),
                "dev_f1": all_["f1"],
                "dev_unseen_f1": fresh["f1"],
                "train_s": train_s,
                "features": len(model.attributes_),
            }
        )
    table = markdown_table(rows, ["params", "dev_f1", "dev_unseen_f1", "train_s", "features"])
    save_results("chinese-tune", {"quick": quick, "dev_unseen_titles": len(new), "rows": rows}, table)
    return rows


def run(quick: bool = False) -> str:
    """Train on train, score test; table of the CRF and the dictionary peer (all test titles and unseen)."""
    if not (SHARED_DATA / "taobao-ner-zh" / "train.txt").is_file():
        return "shared data not available: skipped"
    from skutag.models.crf import CharCRFTagger

    lim_train, lim_test = (QUICK["train"], QUICK["test"]) if quick else (None, None)
    tr_x, tr_y = load_split("train", lim_train)
    te_x, te_y = load_split("test", lim_test)
    new = unseen(te_x, tr_x)
    params = {**PARAMS, **({"max_iterations": QUICK["max_iterations"]} if quick else {})}

    model = CharCRFTagger(**params)
    t0, cpu0 = time.perf_counter(), time.process_time()
    model.fit(tr_x, tr_y)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - cpu0

    pred = model.predict_spans(te_x)  # also warms jieba and the caches before timing
    speeds = []
    for _ in range(SPEED_REPEATS):
        t0, cpu0 = time.perf_counter(), time.process_time()
        model.predict_spans(te_x)
        speeds.append((len(te_x) / (time.perf_counter() - t0), len(te_x) / (time.process_time() - cpu0)))
    per_s, per_cpu_s = max(speeds)

    numpy_labels = model.predict_labels(te_x)
    crf_labels = model.crfsuite_labels(te_x)
    same_seq = sum(a == b for a, b in zip(numpy_labels, crf_labels, strict=True))
    same_char = sum(x == y for a, b in zip(numpy_labels, crf_labels, strict=True) for x, y in zip(a, b, strict=True))
    n_chars = sum(len(t) for t in te_x)

    with tempfile.TemporaryDirectory() as tmp:
        path = model.save(Path(tmp) / "crf")
        size_mb = sum(p.stat().st_size for p in Path(path).resolve().rglob("*") if p.is_file()) / 1e6
        t0 = time.perf_counter()
        loaded = CharCRFTagger.load(path)
        load_s = time.perf_counter() - t0
        same_after_load = loaded.predict_spans(te_x) == pred

    peer = DictionaryPeer().fit(tr_x, tr_y)
    peer_pred = peer.predict_spans(te_x)

    crf_all, crf_new = score(te_y, pred), score(subset(te_y, new), subset(pred, new))
    dic_all, dic_new = score(te_y, peer_pred), score(subset(te_y, new), subset(peer_pred, new))
    rows = [
        {"system": "skutag CRF (characters + jieba words)", "test": "all", **_prf(crf_all)},
        {"system": "skutag CRF (characters + jieba words)", "test": "not in train", **_prf(crf_new)},
        {"system": "dictionary of training entities (peer)", "test": "all", **_prf(dic_all)},
        {"system": "dictionary of training entities (peer)", "test": "not in train", **_prf(dic_new)},
    ]
    types = [
        {
            "type": t,
            "gold": crf_all["per_type"][t]["gold"],
            "f1_all": crf_all["per_type"][t]["f1"],
            "f1_unseen": crf_new["per_type"].get(t, {}).get("f1"),
            "peer_f1_all": dic_all["per_type"][t]["f1"],
        }
        for t in crf_all["per_type"]
    ]
    speed = {
        "train_s": train_s,
        "train_cpu_s": train_cpu,
        "predict_sentences_per_s": per_s,
        "predict_sentences_per_cpu_s": per_cpu_s,
        "model_mb": size_mb,
        "load_s": load_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "weighted_features": len(model.attributes_),
        "crfsuite_iterations": model.history_[0]["iterations"],
    }
    agreement = {
        "sentences_identical": same_seq / len(te_x),
        "characters_identical": same_char / n_chars,
        "predictions_identical_after_load": same_after_load,
    }
    table = "\n\n".join(
        [
            markdown_table(rows, ["system", "test", "precision", "recall", "f1", "gold", "predicted"]),
            markdown_table(types, ["type", "gold", "f1_all", "f1_unseen", "peer_f1_all"]),
            markdown_table([speed], list(speed)),
            f"Taobao NER{' (quick slice)' if quick else ''}: train {len(tr_x):,} titles, test {len(te_x):,} "
            f"({len(new):,} not in train); params {params}. numpy decoding = crfsuite's tagger on "
            f"{agreement['sentences_identical']:.2%} of test titles ({agreement['characters_identical']:.3%} of "
            f"characters); saved and loaded model predicts the same: {same_after_load}.",
        ]
    )
    payload = {
        "quick": quick,
        "params": params,
        "train_titles": len(tr_x),
        "test_titles": len(te_x),
        "test_unseen_titles": len(new),
        "crf": {"all": crf_all, "unseen": crf_new},
        "dictionary": {"all": dic_all, "unseen": dic_new},
        "speed": speed,
        "agreement": agreement,
    }
    save_results("chinese", payload, table)
    return table


def _prf(s: dict[str, Any]) -> dict[str, Any]:
    return {k: s[k] for k in ("precision", "recall", "f1", "gold", "predicted")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_chinese", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny slices: checks the harness, not the numbers")
    parser.add_argument("--tune", action="store_true", help="first run the c1/c2/feature grid on dev")
    args = parser.parse_args(argv)
    if args.tune:
        rows = tune(args.quick)
        print(markdown_table(rows, ["params", "dev_f1", "dev_unseen_f1", "train_s", "features"]), end="\n\n")
    print(run(args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
