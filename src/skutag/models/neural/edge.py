"""The transformer on an edge install: numpy, ONNX Runtime and ``tokenizers`` only — no torch, no transformers.

:class:`EdgeTransformer` predicts exactly what a :class:`~skutag.models.neural.transformer.TransformerModel`
predicts on its ONNX runtime (same token ids, same graph, same path decoding and nearest-neighbour votes), from
either directory:

- a transformer model directory (kind ``transformer``; its ``model.onnx`` is written by every save): loaded this
  way when torch is not installed, or always with ``SKUTAG_RUNTIME=edge``;
- a compressed directory (kind ``edge``, written by ``skutag compress``): the graph (fp32, or int8 by dynamic or
  static quantisation), the tokenizer, the path table and the neighbour index, without the torch weights.

It cannot be trained (``fit`` raises); everything else a category model does — predict, top-k, serving,
occlusion explanations, ensemble membership — works.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from skutag.errors import ConfigError, ModelLoadError
from skutag.log import get_logger
from skutag.models.neighbours.knn import NeighbourIndex
from skutag.models.neural.runtime import ONNX_FILE, OnnxRunner, cached_runner, onnxruntime_available
from skutag.models.neural.text import field_texts, tokenize
from skutag.models.paths import PathModel, decode_paths

log = get_logger(__name__)

KIND = "edge"
CONFIG_FILE = "transformer.json"
KNN_FILE = "knn.safetensors"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "config.json")
QUANTISATIONS = ("none", "dynamic", "static")


class FastTokenizer:
    """The saved ``tokenizer.json`` through the ``tokenizers`` library, called like a Hugging Face fast tokenizer
    (the same normaliser, pre-tokenizer, vocabulary, special tokens and truncation: the same ids)."""

    def __init__(self, directory: Path) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ConfigError("the edge runtime needs the package tokenizers (pip install 'skutag[edge]')") from exc
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        settings = _json(directory / "tokenizer_config.json")
        pad = settings.get("pad_token")
        pad_id = self.tokenizer.token_to_id(pad) if isinstance(pad, str) else None
        self.pad_token_id = int(pad_id) if pad_id is not None else 0
        self._length: int | None = None

    def __call__(self, texts: list[str], truncation: bool, max_length: int, padding: bool) -> dict[str, Any]:
        if self._length != max_length:
            self.tokenizer.enable_truncation(max_length)
            self._length = max_length
        return {"input_ids": [e.ids for e in self.tokenizer.encode_batch(list(texts))]}


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text("utf-8"))
    return data if isinstance(data, dict) else {}


class EdgeTransformer(PathModel):
    """A fine-tuned transformer's ONNX graph, tokenizer and path table, predicting without torch.
    ``quantize``: run an int8 copy of an fp32 graph (dynamic quantisation, made in memory)."""

    kind: ClassVar[str] = KIND
    also_loads = ("transformer",)
    supports_neighbours = True
    has_neighbour_index = True

    knn_index_: NeighbourIndex
    tokenizer_: FastTokenizer
    path_temperature_: float
    #: the directory the tokenizer files and the graph were read from
    source_dir_: Path
    graph_path_: Path
    #: "dynamic" / "static" when the saved graph is already int8 (a compressed directory), else None
    int8_scheme_: str | None
    graph_int8_: bool
    #: set by ``skutag compress`` before saving: the graph to write instead of ``graph_path_``'s
    graph_bytes_: bytes | None = None
    compressed_from_: dict[str, Any] | None = None

    def __init__(
        self,
        fields: str = "title",
        max_length: int = 48,
        quantize: bool = False,
        num_threads: int | None = None,
        knn: int = 10,
        knn_temperature: float = 0.05,
        batch_size: int = 128,
    ) -> None:
        self.fields = fields
        self.max_length = max_length
        self.quantize = quantize
        self.num_threads = num_threads
        self.knn = knn
        self.knn_temperature = knn_temperature
        self.batch_size = batch_size

    def _validate_params(self) -> None:
        if self.fields not in ("title", "all"):
            raise ConfigError(f"fields must be 'title' or 'all', not {self.fields!r}")

    def fit(self, texts: pd.DataFrame, labels: pd.DataFrame) -> Self:
        raise ConfigError(
            "an edge model only predicts: train a transformer with torch installed (pip install 'skutag[neural]'), "
            "then `skutag compress` it"
        )

    # ---- prediction -------------------------------------------------------------------------------------------
    def _runner(self) -> OnnxRunner:
        state: dict[str, Any] = self.__dict__.setdefault("runner_state_", {"path": self.graph_path_})
        threads = max(1, int(self.num_threads or os.cpu_count() or 1))
        return cached_runner(
            state,
            threads,
            bool(self.quantize) and not self.graph_int8_,
            self.graph_path_.read_bytes,  # never called: the graph is always the saved one
            lambda graph, n: OnnxRunner(graph, n, len(self.classes_)),
        )

    def _forward(self, texts: pd.DataFrame | pd.Series | list[str]) -> tuple[list[np.ndarray], np.ndarray | None]:
        frame = self._texts(texts)
        ids = tokenize(self.tokenizer_, field_texts(frame[self.text_columns_], self.fields), int(self.max_length))
        if not ids:
            return [np.zeros((0, len(c)), dtype=np.float32) for c in self.classes_], None
        return self._runner().run(ids, int(self.batch_size), self.tokenizer_.pad_token_id)

    def level_logits(self, texts: pd.DataFrame | pd.Series | list[str]) -> list[np.ndarray]:
        return self._forward(texts)[0]

    def path_proba_and_features(
        self, texts: pd.DataFrame | pd.Series | list[str], *, neighbours: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        logits, pooled = self._forward(texts)
        if len(logits[0]) == 0:
            return np.zeros((0, len(self.paths_))), None
        probs = decode_paths(logits, self.paths_, self.path_temperature_)
        if not neighbours or pooled is None:
            if neighbours and len(self.knn_index_) and self.knn_index_.weight > 0:
                raise ModelLoadError("this model's ONNX graph has no pooled output for its nearest-neighbour index")
            return probs, pooled
        return self.knn_index_.mix(probs, pooled), pooled

    def predict_path_proba(self, texts: pd.DataFrame | pd.Series | list[str]) -> np.ndarray:
        return self.path_proba_and_features(texts)[0]

    def neighbour_features(self, texts: pd.DataFrame | pd.Series | list[str]) -> np.ndarray:
        pooled = self._forward(texts)[1]
        if pooled is None:
            raise ModelLoadError("this model's ONNX graph has no pooled output (saved before it existed)")
        return pooled

    def add_neighbours(self, texts: pd.DataFrame, labels: pd.DataFrame) -> int:
        pooled = self._forward(texts)[1]
        if pooled is None:
            return 0
        return self.knn_index_.extend(pooled, self.path_ids(labels), 100_000, 0)

    # ---- persistence ------------------------------------------------------------------------------------------
    def _save_state(self, directory: Path) -> None:
        source = self.source_dir_
        for name in TOKENIZER_FILES:
            if (source / name).is_file():
                (directory / name).write_bytes((source / name).read_bytes())
        graph = self.graph_bytes_ if self.graph_bytes_ is not None else self.graph_path_.read_bytes()
        (directory / ONNX_FILE).write_bytes(graph)
        self.knn_index_.save(directory / KNN_FILE)
        config = {
            "params": self.get_params(),
            **self.path_table_config(),
            "knn_weight": self.knn_index_.weight,
            "onnx": {"file": ONNX_FILE, "int8": self.int8_scheme_},
            "compressed_from": self.compressed_from_,
        }
        (directory / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False), "utf-8")

    @classmethod
    def _load_state(cls, directory: Path, meta: dict[str, Any]) -> Self:
        if not onnxruntime_available():
            raise ModelLoadError("the edge runtime needs the package onnxruntime (pip install 'skutag[edge]')")
        config = json.loads((directory / CONFIG_FILE).read_text("utf-8"))
        onnx = config.get("onnx") or {}
        if not onnx or not (directory / str(onnx.get("file"))).is_file():
            raise ModelLoadError(
                f"{directory}: no ONNX graph (saved with runtime 'torch'); this model needs torch to predict"
            )
        names = set(cls._get_param_names())
        model = cls(**{k: v for k, v in config["params"].items() if k in names})
        model.set_path_table(config)
        weight = float(config.get("knn_weight", 0.0))
        model.knn_index_ = NeighbourIndex.load(
            directory / KNN_FILE, int(model.knn), float(model.knn_temperature), weight, len(model.paths_)
        )
        model.tokenizer_ = FastTokenizer(directory)
        model.source_dir_ = directory
        model.graph_path_ = directory / str(onnx["file"])
        model.int8_scheme_ = onnx.get("int8")
        model.graph_int8_ = bool(model.int8_scheme_)
        model.compressed_from_ = config.get("compressed_from")
        model._runner()  # build the session now: a bad graph fails the load, not the first request
        return model
