"""``explain(model, rows)``: per product, the path explained, its probability and a signed weight per word
(character spans into the given text), by the best method the model kind offers."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.fields import TextFields
from skutag.errors import ConfigError
from skutag.explain import erasure, gradients, linear, occlusion
from skutag.explain.ensemble import hybrid_neighbours, knn_neighbours
from skutag.explain.scoring import best_paths, path_index, path_probability
from skutag.explain.spans import Explanation, Span, Token, tokens
from skutag.log import get_logger
from skutag.models.base import CategoryModel

log = get_logger(__name__)

METHODS = ("auto", "linear", "ig", "gradient", "occlusion", "erasure", "blend")
#: Occlusion and erasure predict once per word (a round): words past this many (long descriptions) get weight 0.
MAX_OCCLUSION_WORDS = 200


def methods_for(model: CategoryModel) -> list[str]:
    """The methods a model kind offers, its default first."""
    kind = model.kind
    if kind == "linear":
        return ["linear", "occlusion", "erasure"]
    if kind == "ensemble":
        return ["blend", "occlusion", "erasure"]
    if kind == "cascade":  # each row by the member that answers it, with that member's own default method
        return ["member", "erasure", "occlusion"]
    # greedy erasure first: on MWPD titles (transformer and fast models) it measured more comprehensive than
    # LIME (500 samples) at under a tenth of its time, occlusion and IG less (docs/benchmarks.md)
    if kind == "transformer":
        return ["erasure", "occlusion", "ig", "gradient"]
    return ["erasure", "occlusion"]


def resolve_method(model: CategoryModel, method: str) -> str:
    offered = methods_for(model)
    if method == "auto":
        return offered[0]
    if method not in offered:
        raise ConfigError(f"method {method!r} is not offered for a {model.kind} model; choose from {offered}")
    return method


def model_frame(model: CategoryModel, rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The model's text columns of ``rows`` (file rows, or products by the :mod:`~skutag.catalogue.fields` rule)."""
    if isinstance(rows, pd.DataFrame) and all(c in rows.columns for c in model.text_columns_):
        return rows[list(model.text_columns_)].astype(object).where(rows[list(model.text_columns_)].notna(), "")
    return TextFields(model.text_columns_).frame(rows)


def explain(
    model: CategoryModel,
    rows: pd.DataFrame | Sequence[Mapping[str, Any]],
    path: Sequence[str] | Sequence[Sequence[str] | None] | None = None,
    method: str = "auto",
    *,
    ids: Sequence[str] | None = None,
    neighbours: int = 3,
    steps: int = 32,
    on_row: Callable[[int], None] | None = None,
) -> list[Explanation]:
    """One :class:`Explanation` per row: ``path`` (one path for every row, a path or None per row; default: the
    predicted one) explained with ``method`` (``auto``: the kind's default, the first of :func:`methods_for`:
    linear contributions, the ensemble blend, else greedy erasure). ``steps``: IG's interpolation steps."""
    frame = model_frame(model, rows)
    chosen = resolve_method(model, method)
    paths = _paths(model, frame, path)
    if chosen == "member":
        return _by_member(model, frame, paths, ids=ids, neighbours=neighbours, steps=steps, on_row=on_row)
    # occlusion and erasure predict the unchanged text in their own batch: no separate call for its probability
    prob = None if chosen in ("occlusion", "erasure") else path_probability(model, frame, paths)
    near = _neighbours(model, frame, neighbours)
    cols = list(model.text_columns_)
    out = []
    for i in range(len(frame)):
        t0 = time.perf_counter()
        texts = [str(v) for v in frame.iloc[i].tolist()]
        toks = tokens(texts, cols)
        ex = _one(model, texts, toks, paths[i], chosen, None if prob is None else float(prob[i]), steps)
        ex.id = None if ids is None else str(ids[i])
        ex.neighbours = near[i]
        ex.seconds = time.perf_counter() - t0
        out.append(ex)
        if on_row is not None:
            on_row(1)
    return out


def _by_member(
    model: Any,
    frame: pd.DataFrame,
    paths: list[list[str]],
    *,
    ids: Sequence[str] | None,
    neighbours: int,
    steps: int,
    on_row: Callable[[int], None] | None,
) -> list[Explanation]:
    """A cascade's rows, each explained by the member that answers it (the fast one where its top path probability
    reaches the threshold, else the slow one) with that member's default method: exact linear weights for the rows
    the linear model keeps. The first ``members`` entry says which member answered and why."""
    fast_prob = model.fast_.predict_path_proba(model_frame(model.fast_, frame))
    deferred = model.deferred(fast_prob)
    conf = fast_prob.max(axis=1) if fast_prob.shape[1] else np.zeros(len(frame))
    out: list[Explanation | None] = [None] * len(frame)
    for role, member, rows in (
        ("fast", model.fast_, np.flatnonzero(~deferred)),
        ("slow", model.slow_, np.flatnonzero(deferred)),
    ):
        if not len(rows):
            continue
        part = explain(
            member,
            frame.iloc[rows],
            [paths[i] for i in rows],
            "auto",
            ids=None if ids is None else [ids[int(i)] for i in rows],
            neighbours=neighbours,
            steps=steps,
            on_row=on_row,
        )
        for i, ex in zip(rows, part, strict=True):
            answered = {
                "kind": member.kind,
                "role": role,
                "method": ex.method,
                "fast_probability": float(conf[i]),
                "threshold": float(model.threshold),
            }
            ex.members = [answered, *ex.members]
            ex.method = f"member:{ex.method}"
            out[i] = ex
    return [ex for ex in out if ex is not None]


def _paths(
    model: CategoryModel, frame: pd.DataFrame, path: Sequence[str] | Sequence[Sequence[str] | None] | None
) -> list[list[str]]:
    if path is None:
        return best_paths(model, frame)
    if len(path) and all(isinstance(p, str) for p in path):
        return [list(path)] * len(frame)  # type: ignore[arg-type]
    if len(path) != len(frame):
        raise ConfigError(f"{len(path)} paths for {len(frame)} rows")
    missing = [i for i, p in enumerate(path) if not p]
    best = best_paths(model, frame.iloc[missing]) if missing else []
    filled = dict(zip(missing, best, strict=True))
    return [list(filled[i]) if i in filled else list(p) for i, p in enumerate(path)]  # type: ignore[arg-type]


def _neighbours(model: CategoryModel, frame: pd.DataFrame, k: int) -> list[list[dict[str, Any]]]:
    if k <= 0:
        return [[] for _ in range(len(frame))]
    if model.kind == "ensemble":
        return hybrid_neighbours(model, frame, k)
    if model.has_neighbour_index:
        return knn_neighbours(model, frame, k)
    return [[] for _ in range(len(frame))]


def _one(
    model: CategoryModel,
    texts: list[str],
    toks: list[Token],
    path: list[str],
    method: str,
    prob: float | None,
    steps: int,
) -> Explanation:
    if method in ("occlusion", "erasure"):
        return _probe(model, texts, toks, path, method, prob)
    assert prob is not None  # computed by explain() for every other method
    if method == "linear":
        spans, bias, rest = linear.linear_spans(model, texts, toks, path)
        return Explanation(path, prob, method, spans, linear.TARGET, bias=bias + rest)
    if method in ("ig", "gradient"):
        spans, delta, _diff, rest = gradients.gradient_spans(model, texts, toks, path, method, steps)
        return Explanation(path, prob, method, spans, gradients.TARGET, bias=rest, delta=delta)
    return _blend(model, texts, toks, path, prob, steps)


def _probe(
    model: CategoryModel, texts: list[str], toks: list[Token], path: list[str], method: str, prob: float | None
) -> Explanation:
    """Occlusion or greedy erasure over the first MAX_OCCLUSION_WORDS words (the rest weigh 0)."""
    head = toks[:MAX_OCCLUSION_WORDS]
    if method == "erasure":
        spans, base, _ = erasure.erasure_spans(model, texts, head, path)
    else:
        spans, base = occlusion.occlusion_spans(model, texts, head, path)
    spans += [Span(t.field, t.start, t.end, t.text, 0.0) for t in toks[len(head) :]]
    target = erasure.TARGET if method == "erasure" else occlusion.TARGET
    return Explanation(path, base if prob is None else prob, method, spans, target)


def _blend(model: Any, texts: list[str], toks: list[Token], path: list[str], prob: float, steps: int) -> Explanation:
    """Members' word weights (each in its own method's units) times their blend weights. Each member is explained
    as the blend takes it (a neural member by its heads alone where the ensemble's own neighbour index votes
    instead of the member's), and reports the probability it gave the path; the neighbour votes have no words,
    and report theirs."""
    cols = list(model.text_columns_)
    weights = np.zeros(len(toks))
    members = []
    where = {(t.field, t.start): i for i, t in enumerate(toks)}
    inputs = model.member_probs(pd.DataFrame([texts], columns=cols, dtype=object))
    column = path_index(model, path)
    heads_only = getattr(model, "neighbours_", None) is not None and not getattr(model, "member_neighbours", True)
    for m, w, given in zip(model.models_, model.weights_, inputs, strict=False):
        m_texts = [texts[cols.index(c)] for c in m.text_columns_]
        m_toks = tokens(m_texts, list(m.text_columns_))
        m_method = methods_for(m)[0]
        if tuple(path) not in set(m.path_names()):
            members.append({"kind": m.kind, "weight": float(w), "method": m_method, "note": "path not in this member"})
            continue
        m_prob = float(given[0, column])
        explained: Any = _HeadsOnly(m) if heads_only and m.has_neighbour_index else m
        ex = _one(explained, m_texts, m_toks, path, m_method, m_prob, steps)
        for s in ex.spans:
            weights[where[(s.field, s.start)]] += float(w) * s.weight
        members.append(
            {"kind": m.kind, "weight": float(w), "method": m_method, "probability": m_prob,
             "top": [s.text for s in ex.top(3)]}
        )  # fmt: skip
    if getattr(model, "neighbours_", None) is not None and len(model.weights_) > len(model.models_):
        members.append(
            {"kind": "neighbours", "weight": float(model.weights_[-1]), "method": "votes",
             "probability": float(inputs[-1][0, column])}
        )  # fmt: skip
    spans = [Span(t.field, t.start, t.end, t.text, float(weights[i])) for i, t in enumerate(toks)]
    target = "sum over members of blend weight x the member's own method's weight"
    return Explanation(path, prob, "blend", spans, target, members=members)


class _HeadsOnly:
    """A neural member seen as the ensemble blends it: its heads' path distribution, without its own index's
    votes (every other attribute is the member's)."""

    def __init__(self, member: Any) -> None:
        self._member = member

    def __getattr__(self, name: str) -> Any:
        return getattr(self._member, name)

    def predict_path_proba(self, texts: pd.DataFrame | pd.Series | list[str]) -> np.ndarray:
        return np.asarray(self._member.path_proba_and_features(texts, neighbours=False)[0])
