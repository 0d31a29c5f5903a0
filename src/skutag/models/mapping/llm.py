"""The LLM reranker (``skutag map --rerank llm``): an instruct model picks among the shortlist by constrained
choice, and its choice reorders the retrieval ranking.

Each product's best ``top_n`` candidates (by the hierarchical retrieval score) are listed under letters A, B,
... and the model is asked for the letter; the log-probabilities of its first answer token (``top_logprobs``)
give each letter's log-probability (the variants ``A``, `` A``, ``A.`` summed). A letter missing from the top
tokens gets the lowest log-probability listed (its true value is at most that), and so does every candidate
below ``top_n``; the letters' log-probabilities are then normalised over the candidates. The score is
``(1 - weight) * hierarchical + weight * llm``: the LLM reorders within the shortlist, retrieval breaks its
ties, and since only letters are read nothing the model writes can become a path.

The endpoint is any OpenAI-compatible server (``url``, ``model``, ``api_key``); with no ``url`` the packaged
SmolLM2-135M-Instruct runs in a local llama-cpp-python server (:mod:`skutag.models.mapping.llm_server`),
started on the first batch, restarted if it dies, stopped by :meth:`LLMReranker.close`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from skutag.errors import ConfigError
from skutag.log import get_logger
from skutag.models.mapping.llm_client import ChatLogprobClient, Messages
from skutag.models.mapping.llm_server import LOCAL_MODEL, LocalLLMServer
from skutag.models.mapping.rerank import Candidate, HierarchicalReranker

log = get_logger(__name__)

LETTERS = "ABCDEFGHIJKLMNOPQRST"  # 20: the most top_logprobs OpenAI and vLLM (by default) return
SYSTEM = (
    "You sort products into the categories of a product taxonomy. You are given a product and a lettered list "
    "of candidate categories; answer with the letter of the category the product belongs to, and nothing else."
)
API_KEY_ENV = ("SKUTAG_LLM_API_KEY", "OPENAI_API_KEY")
#: a product text is cut to this many characters in the prompt (a description must not overflow the context)
MAX_TEXT_CHARS = 1000


def default_llm_cache() -> Path:
    """``$SKUTAG_CACHE/llm`` (default ``~/.cache/skutag/llm``), beside the taxonomy embeddings."""
    return Path(os.environ.get("SKUTAG_CACHE") or Path.home() / ".cache" / "skutag") / "llm"


def choice_messages(text: str, candidates: Sequence[Candidate]) -> Messages:
    """The question for one product: its text and its candidates' full paths, lettered."""
    listing = "\n".join(f"{LETTERS[j]}. {' > '.join(c.path)}" for j, c in enumerate(candidates))
    last = LETTERS[len(candidates) - 1]
    product = " ".join(text.split())[:MAX_TEXT_CHARS]
    user = f"Product: {product}\n\nCategories:\n{listing}\n\nAnswer with one letter (A-{last})."
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def choice_scores(logprobs: dict[str, float], n: int) -> np.ndarray:
    """Normalised log-probability of each of the first ``n`` letters from the answer's first-token
    ``logprobs``; a letter that is not there gets the smallest value listed (a bound on its own)."""
    found: dict[str, list[float]] = {}
    for token, lp in logprobs.items():
        letter = token.strip().rstrip(".):").lstrip("(")
        if len(letter) == 1 and letter in LETTERS[:n]:
            found.setdefault(letter, []).append(lp)
    floor = min(logprobs.values(), default=0.0)
    raw = np.array(
        [_logsumexp(found[ch]) if ch in found else floor for ch in LETTERS[:n]],
        dtype=np.float64,
    )
    return raw - _logsumexp(raw.tolist())


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


class LLMReranker:
    """See the module's description. ``top_n`` candidates go to the model (at most 20); ``weight`` in [0, 1]
    is the LLM's share of the score; ``timeout`` (seconds per request, queueing included), ``retries`` and
    ``concurrency`` (requests in flight; default 2 for the local server, 8 for a URL) go to the client;
    ``cache_dir`` ("default": ``$SKUTAG_CACHE/llm``; None: memory only) keeps answers across runs."""

    name = "llm"

    def __init__(
        self,
        url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        *,
        top_n: int = 10,
        weight: float = 0.5,
        timeout: float = 120.0,
        retries: int = 5,
        concurrency: int | None = None,
        cache_dir: str | Path | None = "default",
    ) -> None:
        if not 2 <= top_n <= len(LETTERS):
            raise ConfigError(f"llm top_n must be in [2, {len(LETTERS)}], got {top_n}")
        if not 0.0 <= weight <= 1.0:
            raise ConfigError(f"llm weight must be in [0, 1], got {weight}")
        self.url = url
        self.model = model or (LOCAL_MODEL if url is None else None)  # None: the endpoint's first model
        self.api_key = api_key or next((os.environ[v] for v in API_KEY_ENV if os.environ.get(v)), None)
        self.top_n = top_n
        self.weight = weight
        # the local server answers one request at a time: a second in flight hides the round trip, more would
        # only wait in its queue (and time out there); a remote server (vLLM) batches what it is sent
        concurrency = concurrency or (2 if url is None else 8)
        self.options = {"timeout": timeout, "retries": retries, "concurrency": concurrency}
        self.cache_dir = default_llm_cache() if cache_dir == "default" else (Path(cache_dir) if cache_dir else None)
        self.base = HierarchicalReranker()
        self.server: LocalLLMServer | None = LocalLLMServer() if url is None else None  # checks the install now
        self.client: ChatLogprobClient | None = None

    def _connect(self) -> ChatLogprobClient:
        if self.client is None:
            url = self.url
            if self.server is not None:
                url = self.server.start().url
            assert url is not None
            self.client = ChatLogprobClient(
                url,
                self.model or "",
                self.api_key,
                cache_dir=self.cache_dir,
                before_retry=self.server.ensure_running if self.server is not None else None,
                **self.options,  # type: ignore[arg-type]
            )
            if not self.model:
                self.model = self.client.model = self.client.first_model()
                log.info("LLM reranker: %s serves %s", url, self.model)
        return self.client

    def rerank(self, texts: Sequence[str], shortlists: Sequence[Sequence[Candidate]]) -> list[np.ndarray]:
        from tqdm import tqdm

        base = self.base.rerank(texts, shortlists)
        orders = [np.argsort(-b, kind="stable") for b in base]
        asked = [[row[j] for j in order[: self.top_n]] for row, order in zip(shortlists, orders, strict=True)]
        client = self._connect()
        with tqdm(total=len(texts), desc="LLM rerank", unit=" rows", disable=None, leave=False) as bar:
            answers = client.first_token_logprobs(
                [choice_messages(t, c) for t, c in zip(texts, asked, strict=True)], on_done=bar.update
            )
        out = []
        for b, order, cands, answer in zip(base, orders, asked, answers, strict=True):
            llm = np.full(len(b), np.nan)
            scores = choice_scores(answer, len(cands))
            llm[order[: len(cands)]] = scores
            llm[order[len(cands) :]] = scores.min()
            out.append((1.0 - self.weight) * b + self.weight * llm)
        return out

    def close(self) -> None:
        """Close the client and stop the local server (if one was started)."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.server is not None:
            self.server.stop()
