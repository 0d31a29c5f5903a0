"""Gradient explanations of the fine-tuned transformer: Integrated Gradients on the token embeddings (Captum's
LayerIntegratedGradients, with its convergence delta) or gradient x (embedding - baseline), one backward pass.

The explained function is log P(path) of the heads' path distribution (softmax over the model's paths of
``T_path * sum over levels of log_softmax(head logits)[class]``; a model's nearest-neighbour votes are left out:
they are not differentiable). The baseline keeps the special tokens and
puts the padding token everywhere else; IG's attributions then add up to ``F(text) - F(baseline)`` up to
``delta``. Sub-word attributions are spread over their characters and summed per word.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from skutag.explain.spans import Span, Token, char_weights_to_spans

TARGET = "log P(path) minus the baseline's (the heads' path distribution); spans + rest = it, IG within delta"


def _field_layout(model: Any, texts: Sequence[str]) -> tuple[str, list[tuple[int, int, int]]]:
    """The string the model reads (:func:`field_texts`' rule) and, per column it took text from,
    ``(column, start in that string, offset of the stripped text in the column's text)``."""
    stripped = [(ci, t.strip(), len(t) - len(t.lstrip())) for ci, t in enumerate(texts) if isinstance(t, str)]
    stripped = [s for s in stripped if s[1]]
    if model.fields == "all":
        layout, pos, parts = [], 0, []
        for ci, s, lead in stripped:
            layout.append((ci, pos, lead))
            parts.append(s)
            pos += len(s) + 3
        return " | ".join(parts), layout
    if not stripped:
        return "", []
    ci, s, lead = stripped[0]
    return s, [(ci, 0, lead)]


def _score_fn(model: Any, path: Sequence[str]) -> Any:
    """log P(path) as the model decodes it: a softmax over its paths of ``T_path * sum of level log-softmax``."""
    import torch

    from skutag.models.neural.encoder import mean_pool

    net = model.net_
    t = float(getattr(model, "path_temperature_", 1.0))
    table = torch.as_tensor(np.asarray(model.paths_, dtype=np.int64))
    target = [tuple(p) for p in model.path_names()].index(tuple(path))

    def score(embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = net.encoder(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        logits = net.heads(mean_pool(hidden, mask))
        paths = sum(torch.log_softmax(lg, dim=-1)[:, table[:, lv]] for lv, lg in enumerate(logits))
        return torch.log_softmax(t * paths, dim=-1)[:, target]  # type: ignore[arg-type]

    return score


def gradient_spans(
    model: Any, texts: Sequence[str], toks: Sequence[Token], path: Sequence[str], method: str = "ig", steps: int = 32
) -> tuple[list[Span], float | None, float, float]:
    """Word spans for ``path``, IG's convergence delta (None for ``gradient``), ``F(text) - F(baseline)`` and the
    part of it on no word (special tokens, truncated text)."""
    import torch

    text, layout = _field_layout(model, texts)
    tok = model.tokenizer_
    enc = tok(text, truncation=True, max_length=model.args.max_length, return_offsets_mapping=True)
    ids = torch.tensor([enc["input_ids"]])
    mask = torch.ones_like(ids)
    special = set(tok.all_special_ids)
    pad = int(tok.pad_token_id or 0)
    base_ids = torch.tensor([[i if i in special else pad for i in enc["input_ids"]]])
    net = model.net_.eval()
    emb_layer = net.encoder.get_input_embeddings()
    score = _score_fn(model, path)
    with torch.no_grad():
        x, b = emb_layer(ids), emb_layer(base_ids)
    delta: float | None = None
    if method == "ig":
        from captum.attr import LayerIntegratedGradients

        def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return score(emb_layer(input_ids), attention_mask.expand(input_ids.shape[0], -1))

        lig = LayerIntegratedGradients(forward, emb_layer)
        attr, d = lig.attribute(
            ids,
            baselines=base_ids,
            additional_forward_args=(mask,),
            n_steps=steps,
            internal_batch_size=steps,
            return_convergence_delta=True,
        )
        per_token = attr.sum(-1)[0].detach().double().numpy()
        delta = float(d.reshape(-1)[0])
    else:
        xe = x.clone().requires_grad_(True)
        out = score(xe, mask)
        (grad,) = torch.autograd.grad(out.sum(), xe)
        per_token = ((x - b) * grad).sum(-1)[0].detach().double().numpy()
    with torch.no_grad():
        diff = float(score(x, mask)[0] - score(b, mask)[0])
    weights = [np.zeros(len(t or "")) for t in texts]
    for value, (a, z) in zip(per_token, enc["offset_mapping"], strict=True):
        if z <= a:
            continue
        for ci, start, lead in reversed(layout):
            if a >= start:
                lo, hi = a - start + lead, z - start + lead
                hi = min(hi, len(texts[ci]))
                if hi > lo:
                    weights[ci][lo:hi] += value / (hi - lo)
                break
    spans = char_weights_to_spans(texts, toks, weights)
    rest = float(per_token.sum()) - sum(s.weight for s in spans)
    return spans, delta, diff, rest
