"""`skutag clean --ray` on a real two-node Ray cluster (two `ray start` processes on this machine, 1 CPU each): real
MWPD offers in three files, with exact and near duplicates spread across the files, a line that is no JSON and an
offer without text, cleaned with near-duplicate removal. The shards hold the rows, columns, values and duplicate
group ids one-process `clean` writes, the rejects are the same rows for the same reasons, the counts match, rows
in = rows out + rows rejected, and both nodes cleaned; a worker killed in the middle of the run changes nothing.

Select with ``-m ray``."""

from __future__ import annotations

import importlib.util
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from conftest_store import shared_data
from ray_support import LocalCluster, read_shards, reject_keys, skutag

pytestmark = [
    pytest.mark.ray,
    pytest.mark.timeout(600),
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra"),
]

ROWS = 1800
CHUNK = 300
#: near-duplicates are compared on title and description together (long texts: one word more stays similar)
OPTIONS = ["--text", "Name,Description", "--label", "lvl1,lvl2,lvl3", "--dedup", "near", "--dedup-on",
           "Name,Description", "--chunksize", str(CHUNK)]  # fmt: skip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three files of MWPD training offers: the second and third repeat offers of the first (exactly, or with a word
    added to the description), the third also repeats some of the second; plus one broken line, one empty offer."""
    path = shared_data() / "mwpd2020" / "train.json"
    if not path.is_file():
        pytest.skip(f"shared data not found at {path}")
    with path.open(encoding="utf-8") as fh:
        offers = [json.loads(line) for line in itertools.islice(fh, ROWS)]
    a, b, c = offers[:600], offers[600:1200], offers[1200:]
    near = [{**o, "Description": f"{o['Description'] or ''} {o['Name']} genuine"} for o in a[100:160]]
    b = b[:300] + a[:40] + near[:30] + b[300:]  # exact and near copies of file a, inside file b
    c = c[:200] + a[40:70] + b[:25] + near[30:] + c[200:]  # of files a and b, inside file c
    c[5] = {**c[5], "Name": "", "Description": "  "}  # no text: rejected by cleaning
    d = tmp_path_factory.mktemp("ray-clean-in")
    files = []
    for name, rows in (("a.jsonl", a), ("b.jsonl", b), ("c.jsonl", c)):
        lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in rows]
        if name == "b.jsonl":
            lines.insert(50, "{broken json\n")  # rejected by the reader
        (d / name).write_text("".join(lines), encoding="utf-8")
        files.append(d / name)
    return files


@pytest.fixture(scope="module")
def single(inputs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path, dict[str, int]]:
    """One-process `clean` of the same files: the cleaned rows, the rejects file, the counts."""
    from skutag.workflows.clean import clean_catalogue

    out = tmp_path_factory.mktemp("ray-clean-single") / "clean.parquet"
    summary = clean_catalogue(
        inputs, out, text=["Name", "Description"], label=["lvl1", "lvl2", "lvl3"], dedup="near",
        dedup_on=["Name", "Description"], chunksize=CHUNK,
    )  # fmt: skip
    assert summary.counts["exact_duplicate_rows"] >= 95 and summary.counts["near_duplicate_rows"] >= 150
    return pd.read_parquet(out), summary.rejects_path or Path(), summary.counts


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(nodes=2) as c:
        yield c


def clean_ray(inputs: list[Path], out: Path, cluster: LocalCluster, env: dict[str, str] | None = None) -> str:
    result = skutag(
        "clean", *map(str, inputs), "--out", str(out), *OPTIONS, "--ray", "--address", cluster.address,
        "--workers", "2", "--cpus-per-worker", "0.75", env={**cluster.auth, **(env or {})},
    )  # fmt: skip
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-6000:]}\n{cluster.logs()[-3000:]}"
    return result.stdout


def test_two_nodes_clean_what_one_process_cleans(
    inputs: list[Path], single: tuple[pd.DataFrame, Path, dict[str, int]], cluster: LocalCluster, tmp_path: Path
) -> None:
    want, want_rejects, want_counts = single
    out = tmp_path / "out"
    printed = clean_ray(inputs, out, cluster)

    got = read_shards(out)
    pd.testing.assert_frame_equal(got, want)  # rows, columns, values, duplicate group ids and flags
    assert reject_keys(out / "_rejects.jsonl") == reject_keys(want_rejects)  # the same rows, for the same reasons
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["counts"] == want_counts
    rows_in = sum(len(f.read_text(encoding="utf-8").splitlines()) for f in inputs)
    assert manifest["rows_in"] == rows_in == manifest["rows_out"] + manifest["rows_rejected"]
    assert manifest["rows_out"] == len(want)
    assert len(manifest["nodes"]) == 2 and all(n > 0 for n in manifest["nodes"].values())  # both nodes cleaned
    assert not list(out.glob("_park-*")) and not list(out.glob("_keys-*"))  # the parked files are gone
    assert f"{rows_in:,} rows in, {len(want):,} out" in printed


def test_a_worker_killed_mid_run_changes_nothing(
    inputs: list[Path], single: tuple[pd.DataFrame, Path, dict[str, int]], cluster: LocalCluster, tmp_path: Path
) -> None:
    want, want_rejects, want_counts = single
    out = tmp_path / "out"
    marker = tmp_path / "killed"
    # the first worker to reach its 2nd block parks it, then its process exits before answering
    clean_ray(inputs, out, cluster, env={"SKUTAG_RAY_FAULT": f"2:{marker}"})
    assert marker.exists()  # the worker did die
    pd.testing.assert_frame_equal(read_shards(out), want)
    assert reject_keys(out / "_rejects.jsonl") == reject_keys(want_rejects)  # each reject once
    assert json.loads((out / "_manifest.json").read_text())["counts"] == want_counts
