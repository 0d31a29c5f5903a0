"""Attribute-value extraction as BIO token classification over any Hugging Face encoder.

Generic over character spans: ``fit(texts, spans)`` with spans ``(attribute, start, end)``;
``predict_spans`` returns scored spans; ``extract`` the best value per attribute (restricted to the
attributes seen for the row's group, e.g. its product category). WDC-PAVE helpers: :meth:`fit_pave`,
:meth:`extract_pave`. Saved like the categorisers: JSON + safetensors + meta.json with checksums.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from torch import nn

from skutag.errors import ConfigError, ModelLoadError, NotFittedError
from skutag.extraction.bio import Span, best_values, check_span_data, decode, label_names, token_labels
from skutag.extraction.decoding import label_mask, viterbi_decode
from skutag.extraction.pave import PaveExample
from skutag.log import get_logger
from skutag.models.card import open_artefact, save_artefact
from skutag.models.neural.encoder import (
    DEFAULT_ENCODER,
    check_vocabulary,
    freeze_lower_layers,
    load_encoder,
    load_tokenizer,
)
from skutag.models.neural.io import rebuild_encoder, save_tokenizer_and_config
from skutag.models.neural.onnx import (
    ONNX_FILE,
    OPSET,
    TokenOnnxRunner,
    device_type,
    export_token_graph,
    onnxruntime_available,
)
from skutag.models.neural.runtime import cached_runner, graph_state
from skutag.models.paths import holdout_split
from skutag.trainer.arguments import TrainingArguments
from skutag.trainer.collator import PaddingCollator, sorted_batches
from skutag.trainer.device import autocast, resolve_device, seed_everything
from skutag.trainer.loop import Trainer

log = get_logger(__name__)

CONFIG_FILE = "extractor.json"
WEIGHTS_FILE = "model.safetensors"
#: the WDC-PAVE recipe (docs/benchmarks.md): title + description at 192 tokens, 10 epochs, the category as
#: the first segment, constrained Viterbi decoding.
EXTRACTOR_DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 16,
    "encoder_lr": 1e-4,
    "head_lr": 2e-3,
    "loss": "ce",
    "max_length": 192,
    "patience": 3,
    "input_prefix": "category",
    "decoding": "viterbi",
    "prefix_dropout": 0.2,
}
#: extractor options (not :class:`TrainingArguments` fields): ``input_prefix`` is what the first segment of a
#: pair input says about the row's group ("none", "category", or "attributes": the category and the
#: attribute names its schema asks for); ``decoding`` is "argmax" or "viterbi" (see
#: :mod:`skutag.extraction.decoding`); ``prefix_dropout`` is the share of training rows encoded without
#: the prefix, so that a caller who cannot give the groups still gets a tagger that has seen bare text.
EXTRACTOR_OPTIONS: dict[str, tuple[str, ...]] = {
    "input_prefix": ("none", "category", "attributes"),
    "decoding": ("argmax", "viterbi"),
}


class TokenTagger(nn.Module):
    """Encoder -> dropout -> linear layer over every token."""

    def __init__(self, encoder: Any, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(int(encoder.config.hidden_size), n_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(self.dropout(hidden))


def span_f1(gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[tuple[str, int, int, float]]]) -> float:
    """Exact-match F1 of (attribute, start, end) spans."""
    g = {(i, a, s, e) for i, spans in enumerate(gold) for a, s, e in spans}
    p = {(i, a, s, e) for i, spans in enumerate(pred) for a, s, e, _ in spans}
    tp = len(g & p)
    return 2 * tp / (len(g) + len(p)) if g or p else 0.0


RUNTIMES = ("auto", "onnx", "torch")


def _check_runtime(runtime: str, quantize: bool) -> None:
    if runtime not in RUNTIMES:
        raise ConfigError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if quantize and runtime == "torch":
        raise ConfigError("quantize runs on ONNX Runtime: it needs runtime 'auto' or 'onnx', not 'torch'")


class AttributeExtractor:
    """BIO tagger. Training hyperparameters are :class:`TrainingArguments` fields (keyword arguments).

    CPU inference runs on ONNX Runtime when the saved model has a graph (``runtime`` ``auto``, the default:
    :meth:`save` exports one), ``onnx`` always (exporting in memory if needed), ``torch`` never. ``quantize``:
    int8 dynamic quantisation of that graph (about 2.5x faster at 192 tokens; see docs/benchmarks.md for what it
    costs in F1); training and GPU inference are unaffected."""

    kind = "extractor"

    def __init__(
        self,
        encoder: str = DEFAULT_ENCODER,
        dropout: float = 0.1,
        progress: Any = None,
        runtime: str = "auto",
        quantize: bool = False,
        **training: Any,
    ) -> None:
        self.encoder = encoder
        self.dropout = dropout
        self.progress = progress
        _check_runtime(runtime, quantize)
        self.runtime = runtime
        self.quantize = bool(quantize)
        merged = {**EXTRACTOR_DEFAULTS, **training}
        self.options: dict[str, Any] = {k: str(merged.pop(k)) for k in EXTRACTOR_OPTIONS}
        for k, choices in EXTRACTOR_OPTIONS.items():
            if self.options[k] not in choices:
                raise ConfigError(f"{k} must be one of {choices}, not {self.options[k]!r}")
        self.options["prefix_dropout"] = float(merged.pop("prefix_dropout"))
        if not 0.0 <= self.options["prefix_dropout"] <= 1.0:
            raise ConfigError("prefix_dropout must be in [0, 1]")
        self.training = TrainingArguments.from_dict(merged).to_dict()

    @property
    def args(self) -> TrainingArguments:
        return TrainingArguments.from_dict(self.training)

    def get_params(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder,
            "dropout": self.dropout,
            "runtime": self.runtime,
            "quantize": self.quantize,
            **self.options,
            **self.training,
        }

    def set_params(self, **params: Any) -> Self:
        """Change inference settings of a fitted tagger: ``runtime``, ``quantize``, ``num_threads``, ``device``."""
        allowed = {"runtime", "quantize", "num_threads", "device"}
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise ConfigError(f"cannot set {unknown} on a fitted extractor (settable: {sorted(allowed)})")
        runtime = str(params.get("runtime", self.runtime))
        quantize = bool(params.get("quantize", self.quantize))
        _check_runtime(runtime, quantize)
        self.runtime, self.quantize = runtime, quantize
        for key in ("num_threads", "device"):
            if key in params:
                self.training = TrainingArguments.from_dict({**self.training, key: params[key]}).to_dict()
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "labels_"):
            raise NotFittedError("this AttributeExtractor is not fitted; call fit() or load() first")

    # ---- encoding ---------------------------------------------------------------------------------
    def _prefix(self, group: str) -> str:
        """The first segment for a row of ``group``: tells the tagger which attributes are asked for (the
        same word, e.g. Capacity, means litres for a fridge and gigabytes for a drive)."""
        if self.options["input_prefix"] == "category":
            return group
        attrs = getattr(self, "schema_", {}).get(group, [])
        return f"{group}: {', '.join(attrs)}" if attrs else group

    def _encode(
        self, texts: Sequence[str], groups: Sequence[str | None] | None = None
    ) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        """Token ids and character offsets into each text; prefix tokens get empty offsets (never labelled).
        Rows whose group is None (or all rows, without groups or prefix) are encoded bare."""
        kw: dict[str, Any] = {"max_length": self.args.max_length, "return_offsets_mapping": True}
        use = [] if groups is None or self.options["input_prefix"] == "none" else groups
        pair = [i for i, g in enumerate(use) if g is not None]
        bare = sorted(set(range(len(texts))) - set(pair))
        ids: list[list[int]] = [[] for _ in texts]
        offsets: list[list[tuple[int, int]]] = [[] for _ in texts]
        if bare:
            enc = self.tokenizer_([texts[i] for i in bare], truncation=True, **kw)
            for j, i in enumerate(bare):
                ids[i] = list(enc["input_ids"][j])
                offsets[i] = [(int(s), int(e)) for s, e in enc["offset_mapping"][j]]
        if pair:
            firsts = [self._prefix(str(use[i])) for i in pair]
            enc = self.tokenizer_(firsts, [texts[i] for i in pair], truncation="only_second", **kw)
            for j, i in enumerate(pair):
                ids[i] = list(enc["input_ids"][j])
                offsets[i] = [
                    (int(s), int(e)) if k == 1 else (0, 0)
                    for (s, e), k in zip(enc["offset_mapping"][j], enc.sequence_ids(j), strict=True)
                ]
        return ids, offsets

    def _decode(
        self, probs: np.ndarray, offsets: list[tuple[int, int]], text: str, group: str | None
    ) -> list[tuple[str, int, int, float]]:
        if self.options["decoding"] == "argmax":
            return decode(probs, offsets, self.labels_)
        attrs = self.schema_.get(str(group)) if group is not None else None
        return viterbi_decode(probs, offsets, self.labels_, label_mask(self.labels_, attrs), text)

    def unknown_rate(self, texts: Sequence[str]) -> float:
        """Share of (non-special) tokens the vocabulary maps to [UNK] (e.g. Chinese under an English vocab)."""
        self._check_tokenizer()
        ids, _ = self._encode(texts)
        unk = self.tokenizer_.unk_token_id
        special = set(self.tokenizer_.all_special_ids) - {unk}
        toks = [t for seq in ids for t in seq if t not in special]
        return sum(t == unk for t in toks) / max(1, len(toks))

    def _check_tokenizer(self) -> None:
        if not hasattr(self, "tokenizer_"):
            self.tokenizer_ = load_tokenizer(self.encoder)

    # ---- fitting ----------------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[Span]],
        groups: Sequence[str] | None = None,
        schema: dict[str, list[str]] | None = None,
    ) -> Self:
        """Learn to tag ``spans`` in ``texts``; ``groups`` (e.g. categories) with ``schema`` {group: attributes}
        restrict what :meth:`extract` returns per row (default: attributes seen in each group's spans)."""
        attributes, self.schema_ = check_span_data(texts, spans, groups, schema)
        args = self.args
        self.labels_ = label_names(attributes)
        index = {n: i for i, n in enumerate(self.labels_)}
        self.tokenizer_ = load_tokenizer(self.encoder)
        train_idx, hold_idx = holdout_split(len(texts), args.valid_fraction, args.seed)
        prefixed: list[str | None] | None = None
        if groups is not None:  # a fixed share of training rows without the prefix (see EXTRACTOR_OPTIONS)
            drop = np.random.default_rng(args.seed).random(len(texts)) < self.options["prefix_dropout"]
            drop[hold_idx] = False
            prefixed = [None if d else str(g) for g, d in zip(groups, drop, strict=True)]
        ids, offsets = self._encode(texts, prefixed)
        check_vocabulary(self.tokenizer_, ids, args.max_unknown)
        seed_everything(args.seed)  # head initialisation is reproducible
        encoder = load_encoder(self.encoder)
        freeze_lower_layers(encoder, None, word_embeddings=args.freeze_embeddings)
        self.net_ = TokenTagger(encoder, len(self.labels_), self.dropout)
        targets = [token_labels(o, s, index) for o, s in zip(offsets, spans, strict=True)]
        device = resolve_device(args.device, args.num_threads)

        def compute_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            logits = model(batch["input_ids"], batch["attention_mask"])
            return nn.functional.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1), ignore_index=-100
            )

        def evaluate(model: nn.Module) -> dict[str, float]:
            probs = self._probs([ids[i] for i in hold_idx], model, device)
            pred = [
                self._decode(p, offsets[i], texts[i], None if groups is None else groups[i])
                for p, i in zip(probs, hold_idx, strict=True)
            ]
            return {"score": span_f1([spans[i] for i in hold_idx], pred)}

        groups_ = [
            {"params": [p for p in self.net_.encoder.parameters() if p.requires_grad], "lr": args.encoder_lr},
            {"params": list(self.net_.head.parameters()), "lr": args.head_lr},
        ]
        trainer = Trainer(
            self.net_,
            args,
            compute_loss,
            groups_,
            evaluate=evaluate if len(hold_idx) else None,
            pad_id=int(self.tokenizer_.pad_token_id or 0),
        )
        if self.progress is not None:
            self.progress(f"training extractor on {len(train_idx):,} texts ({len(self.labels_)} labels)")
        self.outcome_ = trainer.train([ids[i] for i in train_idx], {"labels": [targets[i] for i in train_idx]})
        self.history_ = self.outcome_.history
        self.net_.to("cpu")
        return self

    def fit_pave(self, examples: Sequence[PaveExample]) -> Self:
        schema: dict[str, set[str]] = {}
        for ex in examples:
            schema.setdefault(ex.category, set()).update(ex.gold)
        return self.fit(
            [ex.text for ex in examples],
            [ex.spans() for ex in examples],
            groups=[ex.category for ex in examples],
            schema={k: sorted(v) for k, v in schema.items()},
        )

    # ---- prediction -------------------------------------------------------------------------------
    def _probs(self, ids: list[list[int]], net: nn.Module, device: torch.device, batch: int = 32) -> list[np.ndarray]:
        net = net.to(device).eval()
        collate = PaddingCollator(pad_id=int(self.tokenizer_.pad_token_id or 0))
        out: list[np.ndarray] = [np.zeros(0)] * len(ids)
        with torch.inference_mode():
            for idx in sorted_batches([len(s) for s in ids], batch):
                b = {k: v.to(device) for k, v in collate([ids[i] for i in idx]).items()}
                with autocast(device, self.args.mixed_precision):
                    logits = net(b["input_ids"], b["attention_mask"])
                probs = torch.softmax(logits.float(), -1).cpu().numpy()
                for j, i in enumerate(idx):
                    out[i] = probs[j, : len(ids[i])]
        return out

    def predict_spans(
        self, texts: Sequence[str], groups: Sequence[str] | None = None
    ) -> list[list[tuple[str, int, int, float]]]:
        """Scored spans ``(attribute, start, end, score)`` per text; the score is a probability in [0, 1].

        ``groups`` (e.g. each row's category) restrict the labels to the group's schema before decoding and,
        for a model trained with an ``input_prefix``, tell the tagger which attributes are asked for; without
        them every attribute is possible (and such a model reads the text alone, less accurately)."""
        self._check_fitted()
        if not texts:
            return []
        if groups is not None and len(groups) != len(texts):
            raise ConfigError(f"{len(texts)} texts but {len(groups)} groups")
        ids, offsets = self._encode(texts, groups)
        runner = self._onnx_runner()
        if runner is not None:
            probs = runner.probs(ids, pad_id=int(self.tokenizer_.pad_token_id or 0))
        else:
            probs = self._probs(ids, self.net_, resolve_device(self.args.device, self.args.num_threads))
        return [
            self._decode(p, o, t, None if groups is None else str(groups[i]))
            for i, (p, o, t) in enumerate(zip(probs, offsets, texts, strict=True))
        ]

    def _onnx_runner(self) -> TokenOnnxRunner | None:
        """The ONNX Runtime session for CPU inference (None: use torch), cached per thread count and precision;
        everything cached belongs to the current ``net_`` (a refit network never runs on a stale graph)."""
        if self.runtime == "torch" or device_type(self.args.device) != "cpu":
            return None
        state = graph_state(self, self.net_)
        if state.get("path") is None and self.runtime == "auto" and not self.quantize:
            return None
        if not onnxruntime_available():
            if self.runtime == "onnx" or self.quantize:
                raise ConfigError(
                    "the ONNX runtime and quantize need the package onnxruntime (pip install onnxruntime)"
                )
            return None
        threads = max(1, int(self.args.num_threads or os.cpu_count() or 1))
        return cached_runner(
            state,
            threads,
            self.quantize,
            lambda: export_token_graph(self.net_),
            lambda graph, n: TokenOnnxRunner(graph, n, len(self.labels_)),
        )

    def extract(self, texts: Sequence[str], groups: Sequence[str] | None = None) -> list[dict[str, str]]:
        """The best-scoring value per attribute for each text (only the group's attributes when known)."""
        return best_values(texts, self.predict_spans(texts, groups), self.schema_, groups)

    def extract_pave(self, examples: Sequence[PaveExample]) -> list[dict[str, str]]:
        return self.extract([ex.text for ex in examples], [ex.category for ex in examples])

    # ---- persistence ------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        self._check_fitted()

        def write_state(tmp: Path) -> None:
            config: dict[str, Any] = {"params": self.get_params(), "labels": self.labels_, "schema": self.schema_}
            config["history"] = getattr(self, "history_", [])
            if self.runtime != "torch":
                try:
                    export_token_graph(self.net_, tmp / ONNX_FILE)
                    config["onnx"] = {"file": ONNX_FILE, "opset": OPSET}
                except Exception as exc:  # the torch weights are enough to predict; ONNX is a speed-up
                    if self.runtime == "onnx":
                        raise
                    log.warning(
                        "ONNX export failed (%s: %s); this extractor will run on torch", type(exc).__name__, exc
                    )
            (tmp / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False), "utf-8")
            save_tokenizer_and_config(tmp, self.tokenizer_, self.net_.encoder)
            save_model(self.net_, str(tmp / WEIGHTS_FILE))

        return save_artefact(directory, self.kind, write_state)

    @classmethod
    def load(cls, directory: str | Path) -> AttributeExtractor:
        directory, meta = open_artefact(directory, cls.kind)
        try:
            config = json.loads((directory / CONFIG_FILE).read_text("utf-8"))
            # artefacts saved before input prefixes existed were trained on bare text
            params = {"input_prefix": "none", **config["params"], "progress_bar": False}
            model = cls(**params)
            model.labels_ = [str(x) for x in config["labels"]]
            model.schema_ = {str(k): [str(a) for a in v] for k, v in config["schema"].items()}
            model.history_ = config.get("history", [])
            model.tokenizer_, encoder = rebuild_encoder(directory)
            model.net_ = TokenTagger(encoder, len(model.labels_), model.dropout)
            load_model(model.net_, str(directory / WEIGHTS_FILE))
        except Exception as exc:
            raise ModelLoadError(f"{directory}: cannot load extractor ({type(exc).__name__}: {exc})") from exc
        model.net_.eval()
        onnx = config.get("onnx")
        if onnx and model.runtime != "torch":
            path = directory / str(onnx["file"])
            if not path.is_file() or onnx["file"] not in meta.get("files", {}):
                raise ModelLoadError(f"{directory}: {onnx['file']} is missing or not listed in the model card")
            graph_state(model, model.net_)["path"] = path
            if onnxruntime_available() and device_type(model.args.device) == "cpu":
                model._onnx_runner()  # builds the session now: loading fails on a bad graph, not the first request
        return model
