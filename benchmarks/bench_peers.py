"""Every skutag model against its peers on MWPD (categories) and WDC-PAVE (attributes), side by side.

MWPD 2020: train on ``train.json``, score on ``validation.json``, in two settings: title only (Name) and the
three fields Name, CategoryText, URL (peers get them joined into one string). Systems: skutag linear; the
peers scikit-learn TF-IDF + LinearSVC, fastText (hand-set, and autotuned on validation for
``AUTOTUNE_S`` seconds), a SetFit-style frozen all-MiniLM-L6-v2 + LogisticRegression per level. Each runs in a
fresh process: training wall time, mean weighted/macro F1 over the three levels, rows/s at batch 1 and 64,
peak RSS of the whole process and model size on disk. skutag's fast/transformer/ensemble rows and the
Hugging Face ``text-classification`` pipeline on the same fine-tuned weights come from
``bench-out/transformer.json`` (``python -m benchmarks --only transformer``), not re-run here.
Every metric also reads as a ratio to the best peer (highest F1 and rows/s, lowest time, memory, size).

WDC-PAVE: the extractor figures from the same JSON, beside a dictionary peer (values seen at least twice
in ``train_large`` for that category and attribute, matched verbatim in the text; no model).
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import SHARED_DATA, markdown_table, save_results
from benchmarks.peers_report import Spec, peer_table, run_specs, transformer_rows
from benchmarks.peers_tasks import MWPD_FIELDS, MWPD_TITLE, mwpd_available

AUTOTUNE_S = 300
QUICK_AUTOTUNE_S = 3
QUICK_AUTOTUNE_FIXED: dict[str, Any] = {"dim": 50}
#: the placeholder row when bench-out/transformer.json is absent
NOT_RUN = "skutag fast / transformer / ensemble, HF pipeline"
#: quick runs: a small hash table keeps fastText's model file at ~40 MB instead of ~800 MB
QUICK_FASTTEXT: dict[str, Any] = {"epoch": 5, "wordNgrams": 2, "minn": 3, "maxn": 5, "lr": 0.5, "bucket": 100_000}


def system_specs(columns: tuple[str, ...], quick: bool, autotune_s: int, encoder: str | None) -> list[Spec]:
    """skutag linear and every peer on ``columns`` (``encoder``: the SetFit encoder, None = bundled MiniLM)."""
    return [
        Spec("skutag linear", "skutag-linear", columns, peer=False),
        Spec("sklearn TF-IDF + LinearSVC", "sklearn-svc", columns),
        Spec("fastText", "fasttext", columns, dict(QUICK_FASTTEXT) if quick else {}),
        Spec(
            f"fastText autotuned {autotune_s} s on validation",
            "fasttext",
            columns,
            # quick: a 3 s search once reached 24 GB (buckets x dims) and the OOM killer stopped make test; dim is
            # held at 50 (at most 10M buckets x 50 = 2 GB); holding bucket too makes fastText's autotune crash (SIGFPE)
            {"autotune_s": autotune_s, **(QUICK_AUTOTUNE_FIXED if quick else {})},
        ),
        Spec("SetFit-style: frozen MiniLM + LogisticRegression", "setfit", columns, {"encoder": encoder}),
    ]


def mwpd_specs(quick: bool, encoder: str | None = None) -> list[Spec]:
    """The MWPD rows: every system in both settings (quick: the 3-field setting for the linear ones only)."""
    tune = QUICK_AUTOTUNE_S if quick else AUTOTUNE_S
    specs = system_specs(MWPD_TITLE, quick, tune, encoder) + system_specs(MWPD_FIELDS, quick, tune, encoder)
    if quick:  # the harness check needs each system once
        specs = [s for s in specs if s.columns == MWPD_TITLE or s.kind in ("skutag-linear", "sklearn-svc")]
    return specs


def quick_encoder() -> str:
    """A tiny random BERT for quick runs (the test helper's), so the SetFit path runs in seconds."""
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_transformer_helpers import tiny_encoder

    return tiny_encoder(Path(tempfile.mkdtemp(prefix="bench-peers-")) / "tiny-encoder")


def pave_rows(transformer: dict[str, Any] | None, quick: bool) -> list[dict[str, Any]]:
    """The extractor (from the transformer JSON) and the dictionary peer on WDC-PAVE test."""
    from skutag.datasets.pave import load_pave
    from skutag.extraction import pave_examples, score_extractions
    from skutag.extraction.gazetteer import build_gazetteer, fill_missing

    rows: list[dict[str, Any]] = []
    ext = (transformer or {}).get("extractor")
    if ext:
        rows.append({**ext, "system": "skutag extractor (fine-tuned MiniLM, BIO)"})
        if ext.get("with_gazetteer"):
            rows.append({**ext["with_gazetteer"], "system": "skutag extractor + dictionary fill-in"})
    else:
        rows.append({"system": "skutag extractor", "precision": "not run (bench-out/transformer.json absent)"})
    base = SHARED_DATA / "wdc-pave" / "raw"
    if (base / "train_large.jsonl").is_file():
        train = pave_examples(load_pave(path=base / "train_large.jsonl")[0])
        test = pave_examples(load_pave(path=base / "test.jsonl")[0])
        if quick:
            train, test = train[:100], test[:30]
        pred = fill_missing([{} for _ in test], test, build_gazetteer(train))
        rep = score_extractions([ex.gold for ex in test], pred)
        rows.append({"system": "dictionary of training values (peer)", **vars_of(rep)})
    return rows


def vars_of(report: Any) -> dict[str, float]:
    return {k: round(float(getattr(report, k)), 4) for k in ("precision", "recall", "f1")}


def run(quick: bool = False) -> str:
    if not mwpd_available():
        return "shared data not available: skipped"
    name = "peers-quick" if quick else "peers"

    def partial(rows: list[dict[str, Any]]) -> None:
        save_results(name, {"quick": quick, "partial": True, "mwpd": rows, "pave": []}, peer_table(list(rows)))

    rows = run_specs("mwpd", mwpd_specs(quick, quick_encoder() if quick else None), quick, on_row=partial)
    return _with_transformer(rows, quick, name)


def _with_transformer(rows: list[dict[str, Any]], quick: bool, name: str, machine: Any = None) -> str:
    """Fold the transformer JSON's rows into ``rows``, score the PAVE peer, save ``name``; the markdown."""
    extra, transformer = transformer_rows(quick)
    if not extra:
        extra = [{"system": NOT_RUN, "f1_weighted_note": "not run"}]
    rows = rows + extra
    table = peer_table(rows)
    pave = pave_rows(transformer, quick)
    pave_md = markdown_table(pave, ["system", "precision", "recall", "f1"], {"f1": "micro F1"})
    md = (
        f"MWPD 2020 {'(quick slice) ' if quick else ''}train -> validation, mean over 3 levels; "
        "(×) = ratio to the best peer in that column.\n\n"
        f"{table}\n\nWDC-PAVE attribute extraction, test split (micro P/R/F1):\n\n{pave_md}"
    )
    payload: dict[str, Any] = {"quick": quick, "mwpd": rows, "pave": pave}
    save_results(name, payload if machine is None else {"machine": machine, **payload}, md)
    return md


def refresh_transformer(quick: bool = False) -> str:
    """Re-read ``transformer.json`` into the saved peers results (the peer systems are not re-run; their rows
    and machine record stay): for a transformer benchmark run after the peers run."""
    import json

    from benchmarks.common import OUT_DIR

    name = "peers-quick" if quick else "peers"
    saved = json.loads((OUT_DIR / f"{name}.json").read_text())
    own = [r for r in saved["mwpd"] if "source" not in r and r.get("system") != NOT_RUN]
    return _with_transformer(own, quick, name, machine=saved.get("machine"))


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_peers", description=__doc__)
    ap.add_argument("--refresh-transformer", action="store_true", help="only re-read bench-out/transformer.json")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(refresh_transformer(args.quick) if args.refresh_transformer else run(args.quick))
