"""Rewrite the generated benchmark section of ``docs/benchmarks.md`` from ``bench-out/*.json``:
``python -m benchmarks.readme_table [--doc PATH]``.

Only the text between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` changes; running it twice on
the same results changes nothing. ``make bench`` runs it after a full (not quick) run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import OUT_DIR, REPO, markdown_table

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"
#: markers of the compression table (``benchmarks/bench_compress.py``), under its own heading
COMPRESS_START = "<!-- bench:compress:start -->"
COMPRESS_END = "<!-- bench:compress:end -->"
VERSIONS = ("numpy", "scikit-learn", "torch", "transformers", "fasttext-wheel")
#: The page whose section between the markers holds the generated tables.
DOC = REPO / "docs" / "benchmarks.md"


def replace_section(text: str, body: str, start: str = START, end: str = END) -> str:
    """``text`` with everything between the markers replaced by ``body`` (markers kept, on their own lines)."""
    i, j = text.find(start), text.find(end)
    if i < 0 or j < 0 or j < i:
        raise ValueError(f"the page needs the markers {start} and {end}, in that order")
    return text[: i + len(start)] + "\n" + body.strip("\n") + "\n" + text[j:]


def _load(out_dir: Path, name: str) -> dict[str, Any] | None:
    p = out_dir / f"{name}.json"
    return json.loads(p.read_text()) if p.is_file() else None


def machine_line(machine: dict[str, Any]) -> str:
    """One line: date, CPU, cores, memory, load at the start, CPU flags and library versions."""
    v = machine.get("versions", {})
    libs = ", ".join(f"{k} {v[k]}" for k in VERSIONS if k in v)
    flags = " ".join(machine.get("cpu_flags", []))
    load = machine.get("load_avg_1m")
    return (
        f"{str(machine.get('date', '?'))[:16].replace('T', ' ')} UTC · {machine.get('cpu', '?')} · "
        f"{machine.get('cores', '?')} cores · {machine.get('memory_gb', '?')} GB"
        + (f" · load average {load} at start" if load is not None else "")
        + f" · Python {machine.get('python', '?')} · {libs} · flags: {flags}"
    )


def build_section(out_dir: Path = OUT_DIR) -> str:
    """The markdown of the section from the saved peers, demo and cost results (missing ones say so)."""
    from benchmarks.bench_cost import render
    from benchmarks.peers_report import peer_table

    parts = ["_Written by `python -m benchmarks.readme_table` from `bench-out/` (`make bench`); do not edit._"]
    peers, demo, cost = _load(out_dir, "peers"), _load(out_dir, "demo"), _load(out_dir, "cost")
    if peers:
        parts += [
            "**MWPD 2020, train → validation**, mean over the 3 levels; each cell: value (ratio to the best "
            "peer: highest F1 and rows/s, lowest time, memory and size). Peak RSS is the whole fresh process.",
            f"Machine: {machine_line(peers['machine'])}",
            peer_table(peers["mwpd"]),
            "**WDC-PAVE attribute extraction**, test split:",
            markdown_table(peers.get("pave", []), ["system", "precision", "recall", "f1"], {"f1": "micro F1"}),
        ]
    else:
        parts.append("MWPD / WDC-PAVE peers: not run yet (`make bench`).")
    if demo:
        parts += [
            "**Demo catalogue** (Sample Superstore, 1,850 products, split like `skutag split`), train → test, "
            f"mean over Category and Sub-Category. Machine: {machine_line(demo['machine'])}",
            peer_table(demo["rows"]),
        ]
    else:
        parts.append("Demo catalogue: not run yet (`make bench`).")
    if cost:
        parts += [
            "**Cost curve**: resampled real MWPD titles (`benchmarks/synth.py`), title only; train and predict "
            f"each in a fresh process. Machine: {machine_line(cost['machine'])}",
            render(cost["rows"]),
        ]
    else:
        parts.append("Cost curve: not run yet (`make bench`).")
    solver = _load(out_dir, "solver")
    if solver:
        from benchmarks.bench_solver import render as render_solver

        parts += [
            "**Linear model solvers** (`python -m benchmarks --only solver`): liblinear against averaged SGD on "
            "MWPD validation, title only; 100K and 1M rows resampled from MWPD train only; each fit in a fresh "
            f"process. Machine: {machine_line(solver['machine'])}",
            render_solver(solver["rows"]),
        ]
    else:
        parts.append("Linear model solvers: not run yet (`make bench`).")
    return "\n\n".join(parts)


def update_doc(doc: Path = DOC, out_dir: Path = OUT_DIR) -> bool:
    """Rewrite the generated section of ``doc`` (default docs/benchmarks.md); True when the file changed."""
    from skutag.fsutil import atomic_write_text

    old = doc.read_text(encoding="utf-8")
    rebuilt = replace_section(old, build_section(out_dir))  # also checks the markers
    # a machine holding none of the section's results (one that ran a single benchmark) leaves it as it is
    held = any((out_dir / f"{name}.json").is_file() for name in ("peers", "demo", "cost", "solver"))
    new = rebuilt if held else old
    compress = _load(out_dir, "compress")
    if compress and COMPRESS_START in new:
        from benchmarks.bench_compress import section

        new = replace_section(new, section(compress), COMPRESS_START, COMPRESS_END)
    if new != old:
        atomic_write_text(doc, new)
    return new != old


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.readme_table", description=__doc__)
    ap.add_argument("--doc", type=Path, default=DOC, help="page holding the markers (default docs/benchmarks.md)")
    ap.add_argument("--results", type=Path, default=OUT_DIR, help="folder of the benchmark JSON files")
    args = ap.parse_args(argv)
    try:
        changed = update_doc(args.doc, args.results)
    except ValueError as exc:
        print(f"{args.doc}: {exc}", file=sys.stderr)
        return 2
    print(f"{args.doc}: {'benchmark section rewritten' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
