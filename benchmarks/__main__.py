"""Run every benchmark: ``python -m benchmarks [--quick] [--only NAME ...]``.

Each ``benchmarks/bench_<name>.py`` exposes ``run(quick: bool = False) -> str`` returning a markdown table;
results (markdown + JSON, with the machine) go to ``bench-out/``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import subprocess
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import OUT_DIR, machine_info


def discover() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name.removeprefix("bench_") for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_")
    )


#: benchmarks that share a cached model in bench-out/ (bench_serve's fine-tuned transformer): one after the other
CHAINS: tuple[tuple[str, ...], ...] = (("explain", "serve"),)


def _chains(names: list[str]) -> list[list[str]]:
    """``names`` cut into runs that may go side by side: each chain's members in one run, the rest alone."""
    runs: list[list[str]] = []
    for chain in CHAINS:
        if members := [n for n in names if n in chain]:
            runs.append(members)
    chained = {n for chain in CHAINS for n in chain}
    return runs + [[n] for n in names if n not in chained]


def _run_child(names: list[str], quick: bool) -> tuple[list[str], int, str, float]:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "benchmarks", "--only", *names, "--no-summary", *(["--quick"] if quick else [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return names, proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - t0


def run_side_by_side(names: list[str], quick: bool, jobs: int) -> int:
    """Each run of :func:`_chains` in its own ``python -m benchmarks`` process, ``jobs`` at a time; a run's output is
    printed whole when it ends. For ``make test``'s quick pass: the numbers of benchmarks sharing the CPU mean
    nothing, and their smoke runs finish sooner side by side (many are single-threaded)."""
    failed: list[str] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for done, rc, output, wall in pool.map(lambda r: _run_child(r, quick), _chains(names)):
            print(output, end="", flush=True)
            print(f"[{', '.join(done)}: {wall:.1f} s, exit {rc}]\n", flush=True)
            if rc != 0:
                failed += done
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def write_combined(path: Path, info: dict[str, Any], quick: bool, since: float) -> Path:
    """One JSON with the machine and every result file this run wrote (each keeps its own machine record)."""
    results = {}
    for p in sorted(OUT_DIR.glob("*.json")):
        if p.stat().st_mtime >= since and not p.name.startswith("summary"):
            results[p.stem] = json.loads(p.read_text())
    path.write_text(json.dumps({"machine": info, "quick": quick, "results": results}, indent=2, default=str))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny slices: checks the harness runs, not the numbers")
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names to run (default: all)")
    parser.add_argument(
        "--docs",
        action="store_true",
        help="then rewrite the generated section of docs/benchmarks.md (benchmarks.readme_table)",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="run up to this many benchmarks side by side, each in its own process"
    )
    # run_side_by_side's processes: no shared summary files (their parent prints every output)
    parser.add_argument("--no-summary", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    started = time.time()

    names = args.only or discover()
    if args.jobs > 1:
        return run_side_by_side(names, args.quick, args.jobs)
    info = machine_info()
    sections = [
        f"# skutag benchmarks{' (quick)' if args.quick else ''}",
        f"{info['date']} · {info['cpu']} · {info['cores']} cores · Python {info['python']}",
    ]
    failed = []
    for name in names:
        t0 = time.perf_counter()
        print(f"== {name} ==", flush=True)
        try:
            module = importlib.import_module(f"benchmarks.bench_{name}")
            table = module.run(quick=args.quick)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        print(table, flush=True)
        print(f"({time.perf_counter() - t0:.1f} s)\n", flush=True)
        sections.append(f"## {name}\n\n{table}")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    if args.no_summary:
        return 1 if failed else 0
    summary = OUT_DIR / ("summary-quick.md" if args.quick else "summary.md")
    summary.write_text("\n\n".join(sections) + "\n")
    combined = write_combined(summary.with_suffix(".json"), info, args.quick, started)
    print(f"written: {summary}, {combined}")
    if args.docs and not args.quick:
        from benchmarks.readme_table import DOC, update_doc

        changed = update_doc(DOC)
        print(f"{DOC}: {'benchmark section rewritten' if changed else 'already up to date'}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
