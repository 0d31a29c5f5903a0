"""Run every benchmark: ``python -m benchmarks [--quick] [--only NAME ...]``.

Each ``benchmarks/bench_<name>.py`` exposes ``run(quick: bool = False) -> str`` returning a markdown table;
results (markdown + JSON, with the machine) go to ``bench-out/``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path

from benchmarks.common import OUT_DIR, machine_info


def discover() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name.removeprefix("bench_") for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny slices: checks the harness runs, not the numbers")
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names to run (default: all)")
    args = parser.parse_args(argv)

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
    print(f"written: {summary}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
