"""Run every benchmark: ``python -m benchmarks [--quick] [--only NAME ...]``.

Each ``benchmarks/bench_<name>.py`` exposes ``run(quick: bool = False) -> str`` returning a markdown table;
results (markdown + JSON, with the machine) go to ``bench-out/``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.common import OUT_DIR, machine_info


def discover() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name.removeprefix("bench_") for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_")
    )


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
    args = parser.parse_args(argv)
    started = time.time()

    names = args.only or discover()
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
