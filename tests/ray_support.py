"""What the Ray tests share: real MWPD rows in two files (JSON Lines with a broken line and a row with no text,
and Parquet), a linear model trained on MWPD train in seconds, the CLI in a subprocess, and a real local Ray
cluster of several nodes started with ``ray start`` (each node with its own temporary directory and ports,
1 CPU and a small object store; stopped by terminating the ``ray start --block`` processes, never ``ray stop``,
which would stop every Ray on the machine)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from conftest_store import shared_data

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
RAY = Path(sys.executable).with_name("ray")
CLI = "from skutag.cli.main import app; app(prog_name='skutag')"
TEXT = ["Name"]
TRAIN_ROWS = 3000
ROWS_A, ROWS_B = 1500, 1500
#: chunks small enough that each of two workers gets several (and the fault hook one mid-run)
CHUNK = 250
OBJECT_STORE = 300 << 20


@dataclass
class MwpdCase:
    model: Path
    inputs: Path  # a directory with a.jsonl and b.parquet
    files: list[Path]
    rows_in: int  # records in the files, the broken line included


def mwpd_case(tmp: Path) -> MwpdCase:
    """A linear model on 3,000 MWPD training offers (no calibration: seconds) and 3,000 validation offers in two
    files, plus a line that is no JSON and an offer with an empty name (one reader reject, one predict reject)."""
    data = shared_data() / "mwpd2020"
    if not (data / "train.json").is_file():
        pytest.skip(f"shared data not found at {data}")
    from skutag.workflows.train import train_model

    with (data / "train.json").open(encoding="utf-8") as src, (tmp / "train.json").open("w", encoding="utf-8") as dst:
        dst.writelines(itertools.islice(src, TRAIN_ROWS))
    with (data / "validation.json").open(encoding="utf-8") as src:
        lines = list(itertools.islice(src, ROWS_A + ROWS_B))
    inputs = tmp / "in"
    inputs.mkdir()
    empty = json.loads(lines[10])
    empty["Name"] = " "
    a_lines = [*lines[:7], "{not json\n", *lines[7:10], json.dumps(empty) + "\n", *lines[11:ROWS_A]]
    (inputs / "a.jsonl").write_text("".join(a_lines), encoding="utf-8")
    b = pd.DataFrame([json.loads(line) for line in lines[ROWS_A:]])
    b.astype("string").to_parquet(inputs / "b.parquet", index=False, row_group_size=700)
    model = tmp / "model"
    train_model(
        tmp / "train.json",
        text=TEXT,
        label=["lvl1", "lvl2", "lvl3"],
        model="linear",
        out=model,
        params={"n_jobs": 1, "calibration_fraction": 0},
        rejects=tmp / "train-rejects.jsonl",
        progress=False,
    )
    return MwpdCase(model, inputs, [inputs / "a.jsonl", inputs / "b.parquet"], len(a_lines) + len(b))


def skutag(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh process (this checkout's skutag first on the path)."""
    full = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join([str(SRC), str(ROOT / "tests")])}
    return subprocess.run(
        ["nice", sys.executable, "-c", CLI, *args], capture_output=True, text=True, timeout=timeout, env=full
    )


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


class LocalCluster:
    """A Ray cluster of ``nodes`` nodes on this machine, each a ``ray start --block`` process of its own."""

    def __init__(self, nodes: int = 2, env: dict[str, str] | None = None) -> None:
        self.nodes = nodes
        # token authentication, as on a real cluster: every node and driver holds this cluster's own token
        self.auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        self.env = {**os.environ, **(env or {}), **self.auth, "PYTHONPATH": str(SRC), "RAY_USAGE_STATS_ENABLED": "0"}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.dirs: list[Path] = []
        self.address = ""
        self.client_address = ""

    def _start(self, index: int, head: bool) -> None:
        # short temporary directories: Ray's socket paths must stay under the Unix limit
        tmp = Path(tempfile.mkdtemp(prefix=f"skr{index}-", dir="/tmp"))
        self.dirs.append(tmp)
        ports = free_ports(8)
        args = [
            "nice",
            str(RAY),
            "start",
            "--block",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=1",
            f"--object-store-memory={OBJECT_STORE}",
            f"--temp-dir={tmp}",
            f"--node-manager-port={ports[0]}",
            f"--object-manager-port={ports[1]}",
            f"--dashboard-agent-listen-port={ports[2]}",
            f"--dashboard-agent-grpc-port={ports[3]}",
            f"--runtime-env-agent-port={ports[4]}",
            f"--metrics-export-port={ports[5]}",
            "--disable-usage-stats",
        ]
        if head:
            self.address = f"127.0.0.1:{ports[6]}"
            self.client_address = f"ray://127.0.0.1:{ports[7]}"  # the Ray Client server of the head
            args += [
                "--head",
                f"--port={ports[6]}",
                f"--ray-client-server-port={ports[7]}",
                "--include-dashboard=false",
            ]
        else:
            args += [f"--address={self.address}", f"--resources={json.dumps({f'node{index + 1}': 1})}"]
        log = (tmp / "start.log").open("wb")
        self.procs.append(
            # TMPDIR: the workers' temporary files (model copies, downloads) go with the node's directory
            subprocess.Popen(
                args, env={**self.env, "TMPDIR": str(tmp)}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )

    def _alive_nodes(self) -> int:
        probe = "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
        probe += "print(sum(n['Alive'] for n in ray.nodes()))"
        out = subprocess.run(
            [sys.executable, "-c", probe, self.address], capture_output=True, text=True, env=self.env, timeout=120
        )
        return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else 0

    def __enter__(self) -> LocalCluster:
        try:
            self._start(0, head=True)
            self._wait_port()
            for i in range(1, self.nodes):
                self._start(i, head=False)
            deadline = time.monotonic() + 150
            while self._alive_nodes() < self.nodes:
                if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                    raise RuntimeError(f"the Ray cluster did not come up:\n{self.logs()}")
                time.sleep(1)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_port(self) -> None:
        host, port = self.address.split(":")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
                return
            if self.procs[0].poll() is not None:
                break
            time.sleep(0.5)
        raise RuntimeError(f"the Ray head did not start:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join((d / "start.log").read_text(errors="replace")[-3000:] for d in self.dirs if d.exists())

    def stop(self) -> None:
        """Terminate the nodes (``ray start --block`` stops the processes it started), then whatever of their
        process groups is left."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 8
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def local_cluster(nodes: int = 2, env: dict[str, str] | None = None) -> Iterator[LocalCluster]:
    with LocalCluster(nodes, env) as cluster:
        yield cluster


def read_shards(directory: Path) -> pd.DataFrame:
    """The Parquet shards of a ``--ray`` run in the order of one-process ``predict`` (by file, then row)."""
    frame = pd.read_parquet(directory)
    return frame.sort_values(["_source", "_row"], kind="stable").reset_index(drop=True)


def reject_keys(path: Path) -> list[tuple[str, int | None, str]]:
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted((e["source"], e["row"], e["reason"]) for e in entries)
