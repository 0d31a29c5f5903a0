"""A small client of any OpenAI-compatible endpoint (vLLM, llama.cpp's servers, hosted APIs) for one question:
the log-probabilities of the first token the model would answer, which the LLM reranker reads as its choice.

It asks ``POST {url}/chat/completions`` with ``max_tokens=1``, ``temperature=0``, ``logprobs=true`` and
``top_logprobs=k``: the one form that OpenAI, vLLM and llama-cpp-python all serve (``/completions`` with
``echo`` is legacy on hosted APIs). Requests run ``concurrency`` at a time; each has a timeout and is retried
with exponential backoff on connection errors, timeouts, 429 and 5xx (``before_retry`` runs first: the local
server restarts itself there); when the retries are spent, :class:`LLMEndpointError` names the URL and the last
failure. Answers are cached by (model, messages, k): in memory, and in ``cache_dir/llm-logprobs.jsonl`` when
given, so that a product text seen before costs nothing, in this run or the next.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from skutag.errors import ConfigError, SkutagError
from skutag.log import get_logger

log = get_logger(__name__)

Messages = list[dict[str, str]]
#: statuses worth a retry: rate limits and server-side failures
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
CACHE_FILE = "llm-logprobs.jsonl"


class LLMEndpointError(SkutagError):
    """The LLM endpoint failed a request after every retry (or refused it outright)."""

    def __init__(self, url: str, failure: str, attempts: int = 1) -> None:
        self.url = url
        self.failure = failure
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"LLM endpoint {url} failed{tries}: {failure}")


class LogprobCache:
    """(model, messages, k) -> the first token's top log-probabilities; on disk as appended JSON lines (a torn
    last line from a killed run is skipped)."""

    def __init__(self, cache_dir: Path | None) -> None:
        self._mem: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()
        self.path = cache_dir / CACHE_FILE if cache_dir is not None else None
        if self.path is not None and self.path.is_file():
            with self.path.open(encoding="utf-8") as fh:
                for line in fh:
                    try:
                        item = json.loads(line)
                        self._mem[item["key"]] = item["logprobs"]
                    except (ValueError, KeyError, TypeError):
                        continue

    @staticmethod
    def key(model: str, messages: Messages, k: int) -> str:
        blob = json.dumps([model, messages, k], ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def get(self, key: str) -> dict[str, float] | None:
        return self._mem.get(key)

    def put(self, key: str, logprobs: dict[str, float]) -> None:
        with self._lock:
            self._mem[key] = logprobs
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"key": key, "logprobs": logprobs}, ensure_ascii=False) + "\n")

    def __len__(self) -> int:
        return len(self._mem)


class ChatLogprobClient:
    """First-token log-probabilities from ``url`` (an OpenAI base URL ending in ``/v1``) for model ``model``."""

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None = None,
        *,
        top_logprobs: int = 20,
        timeout: float = 60.0,
        retries: int = 5,
        backoff: float = 0.5,
        concurrency: int = 4,
        cache_dir: Path | None = None,
        before_retry: Callable[[], None] | None = None,
    ) -> None:
        try:
            import httpx
        except ModuleNotFoundError as exc:  # pragma: no cover - httpx comes with the llm and serve extras
            raise ConfigError("the LLM reranker needs httpx: pip install 'skutag[llm]'") from exc
        if timeout <= 0 or retries < 0 or concurrency < 1 or not 1 <= top_logprobs <= 20:
            raise ConfigError("LLM client: timeout > 0, retries >= 0, concurrency >= 1 and 1 <= top_logprobs <= 20")
        self.url = url.rstrip("/")
        self.model = model
        self.top_logprobs = top_logprobs
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.concurrency = concurrency
        self.before_retry = before_retry
        self.cache = LogprobCache(cache_dir)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            headers=headers, timeout=timeout, limits=httpx.Limits(max_connections=concurrency + 1)
        )
        self.requests = 0  # answered by the endpoint (not the cache)

    def first_token_logprobs(
        self, batch: Sequence[Messages], on_done: Callable[[int], None] | None = None
    ) -> list[dict[str, float]]:
        """One ``{token: logprob}`` per conversation (the top ``k`` candidates for the answer's first token);
        cached ones are not asked again, and the same conversation twice in a batch is asked once."""
        keys = [LogprobCache.key(self.model, m, self.top_logprobs) for m in batch]
        todo = {k: m for k, m in zip(keys, batch, strict=True) if self.cache.get(k) is None}
        if todo:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix="skutag-llm") as pool:
                futures = [pool.submit(self._ask, k, m) for k, m in todo.items()]
                try:
                    for f in futures:
                        f.result()
                        if on_done is not None:
                            on_done(1)
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
        out = []
        for k in keys:
            got = self.cache.get(k)
            assert got is not None
            out.append(got)
        return out

    def first_model(self) -> str:
        """The first model ``GET {url}/models`` lists (what to ask when no model name was given)."""
        import httpx

        try:
            r = self._http.get(self.url + "/models")
            r.raise_for_status()
            return str(r.json()["data"][0]["id"])
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMEndpointError(self.url + "/models", f"no model name given and none listed ({exc})") from exc

    def _ask(self, key: str, messages: Messages) -> None:
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": self.top_logprobs,
        }
        answer = self._post("/chat/completions", body)
        self.cache.put(key, _first_token(answer, self.url))
        self.requests += 1

    def _post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        url = self.url + route
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
                if self.before_retry is not None:
                    self.before_retry()
            try:
                r = self._http.post(url, json=body)
            except httpx.TransportError as exc:  # refused, reset, timed out, cut mid-answer
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                log.warning("LLM request to %s failed (%s); attempt %d of %d", url, last, attempt + 1, self.retries + 1)
                continue
            if r.status_code in RETRY_STATUS:
                last = f"HTTP {r.status_code}: {r.text[:300]}"
                log.warning("LLM request to %s failed (%s); attempt %d of %d", url, last, attempt + 1, self.retries + 1)
                continue
            if r.status_code >= 400:  # a wrong key, model or request: retrying cannot help
                raise LLMEndpointError(url, f"HTTP {r.status_code}: {r.text[:300]}")
            try:
                data: dict[str, Any] = r.json()
            except ValueError as exc:
                raise LLMEndpointError(url, f"not JSON: {r.text[:200]!r}") from exc
            return data
        raise LLMEndpointError(url, last, self.retries + 1)

    def close(self) -> None:
        self._http.close()


def _first_token(answer: dict[str, Any], url: str) -> dict[str, float]:
    """``{token: logprob}`` of the first answer token: its ``top_logprobs`` plus the token chosen."""
    try:
        first = answer["choices"][0]["logprobs"]["content"][0]
        out = {str(t["token"]): float(t["logprob"]) for t in first.get("top_logprobs") or []}
        out.setdefault(str(first["token"]), float(first["logprob"]))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise LLMEndpointError(
            url, "the answer has no logprobs: the endpoint must support logprobs/top_logprobs on chat completions"
        ) from exc
    return out
