"""`skutag predict --ray` stays optional: a plain `predict` never imports Ray, the Ray options ask for --ray, and the
pieces the Ray road is built from work without a cluster (finding input files, collected rejects, pool sizes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.storage import _glob_regex, expand_inputs, join, remove_matching
from skutag.errors import ConfigError, InputError
from skutag.workflows.ray_common import READ_CPUS, pool_size

ROOT = Path(__file__).resolve().parent.parent

PLAIN_PREDICT = """
import sys
from typer.testing import CliRunner
from skutag.cli.main import app

tmp = sys.argv[1]
runner = CliRunner()
params = '{"calibration_fraction": 0, "n_jobs": 1}'
train = ["train", f"{tmp}/train.csv", "--text", "name", "--label", "l1,l2", "--out", f"{tmp}/model", "--params", params]
for args in (train, ["predict", f"{tmp}/model", f"{tmp}/rows.csv", "--out", f"{tmp}/out.parquet"]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
print(sorted(m for m in sys.modules if m.split(".")[0] in ("ray", "s3fs", "boto3")))
"""


def _catalogue(tmp: Path) -> None:
    kinds = {"shirt": ("clothes", "tops"), "jeans": ("clothes", "trousers"), "kettle": ("kitchen", "appliances")}
    colours = ["red", "blue", "green", "black", "white", "grey"]
    lines = ["name,l1,l2"] + [
        f"{c} {item} {i},{a},{b}" for i in range(4) for c in colours for item, (a, b) in kinds.items()
    ]
    (tmp / "train.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp / "rows.csv").write_text("id,name\n1,red shirt\n2,steel kettle\n3,\n", encoding="utf-8")


def test_plain_predict_never_imports_ray(tmp_path: Path) -> None:
    _catalogue(tmp_path)
    run = subprocess.run(
        [sys.executable, "-c", PLAIN_PREDICT, str(tmp_path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "out.parquet").is_file()


def test_ray_options_ask_for_ray(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from skutag.cli.main import app

    result = CliRunner().invoke(app, ["predict", str(tmp_path), "x.csv", "--out", "o.csv", "--address", "auto"])
    assert result.exit_code == 2
    assert "--ray" in result.output
    result = CliRunner().invoke(app, ["predict", str(tmp_path), "x.csv", "--ray"])
    assert result.exit_code == 2
    assert "--out DIR and/or --db URL" in result.output
    result = CliRunner().invoke(app, ["clean", "x.csv", "--out", "o.csv", "--address", "auto"])
    assert result.exit_code == 2
    assert "--address goes with --ray" in result.output


def test_inputs_from_files_directories_and_globs(tmp_path: Path) -> None:
    (tmp_path / "in" / "deeper").mkdir(parents=True)
    for name in ("in/b.csv", "in/a.jsonl.gz", "in/deeper/c.parquet", "in/notes.md", "in/.hidden.csv", "in/_x.csv"):
        (tmp_path / name).write_text("x\n", encoding="utf-8")
    (tmp_path / "odd.dat").write_text("x\n", encoding="utf-8")
    found = expand_inputs([tmp_path / "in"])
    assert found == [str(tmp_path / p) for p in ("in/a.jsonl.gz", "in/b.csv", "in/deeper/c.parquet")]
    # a glob matches as the shell's does (names starting with _ too, hidden ones not)
    assert expand_inputs([str(tmp_path / "in" / "*.csv")]) == [str(tmp_path / p) for p in ("in/_x.csv", "in/b.csv")]
    assert expand_inputs([str(tmp_path / "in" / "**" / "*.parquet")]) == [str(tmp_path / "in/deeper/c.parquet")]
    # a file named on its own is read whatever its name; each input once, in the order given
    assert expand_inputs([tmp_path / "odd.dat", tmp_path / "in" / "b.csv", tmp_path / "in"])[:2] == [
        str(tmp_path / "odd.dat"),
        str(tmp_path / "in/b.csv"),
    ]
    assert _glob_regex("b/in/**/*.csv").fullmatch("b/in/x/y/z.csv")
    assert _glob_regex("b/in/**/*.csv").fullmatch("b/in/z.csv")
    assert not _glob_regex("b/in/*.csv").fullmatch("b/in/x/z.csv")
    assert _glob_regex("b/in/part-[0-9]?.csv").fullmatch("b/in/part-12.csv")
    with pytest.raises(InputError, match="no catalogue files"):
        expand_inputs([tmp_path / "missing"])
    assert join("s3://bucket/out/", "part-1.parquet") == "s3://bucket/out/part-1.parquet"
    assert remove_matching(tmp_path / "in", ["*.csv"]) == 3  # b.csv, .hidden.csv, _x.csv: only names that match


def test_collected_rejects_are_written_as_the_worker_saw_them(tmp_path: Path) -> None:
    worker = RejectSink(collect=True, keep=0)
    worker.add("empty text: all text columns are empty", source="s3://b/a.csv", row=3, column="name", record={"x": 1})
    worker.add("invalid JSON: ...", source="s3://b/a.csv", row=4, line=5)
    direct = tmp_path / "direct.jsonl"
    with RejectSink(direct) as sink:
        sink.add("empty text: all text columns are empty", source="s3://b/a.csv", row=3, column="name", record={"x": 1})
        sink.add("invalid JSON: ...", source="s3://b/a.csv", row=4, line=5)
    relayed = tmp_path / "relayed.jsonl"
    with RejectSink(relayed) as sink:
        for entry in json.loads(json.dumps(worker.entries)):  # as they travel from a worker to the driver
            sink.add_entry(entry)
        assert sink.count == 2 and sink.by_reason == {"empty text": 1, "invalid JSON": 1}
    assert relayed.read_text(encoding="utf-8") == direct.read_text(encoding="utf-8")


def test_pool_sizes_leave_room_for_reading() -> None:
    assert pool_size(2, None, 1.0) == (1, 1)  # 2 CPUs: one worker of 1 CPU beside the read tasks
    assert pool_size(2, 2, 0.75) == (2, 2)
    assert pool_size(16, None, 1.0) == (1, int(16 - READ_CPUS))
    with pytest.raises(ConfigError, match="lower --workers"):
        pool_size(2, 2, 1.0)
    with pytest.raises(ConfigError, match="at least 1"):
        pool_size(2, 0, 1.0)
