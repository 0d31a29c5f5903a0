"""Exploration, not yet a model: nearest-neighbour votes over dense, sparse and hybrid similarity on MWPD.

Reads the linear and transformer models saved by ``bench_transformer --stages linear,full --models DIR`` and
scores MWPD validation (title only) with the votes of the 10 most similar training titles under three
similarities: the fine-tuned encoder's cosine (what ``TransformerModel`` mixes in), the linear model's TF-IDF
cosine, and their mean (hybrid retrieval). Prints mean weighted / macro F1 over the three levels for each,
for the models' own predictions, and for 2-fold tuned blends (mean of 10 random halvings of validation).

``python -m benchmarks.explore_hybrid_neighbours --models bench-out/transformer-stages/models``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_transformer import _mwpd, cross_tuned
from skutag.models.registry import load_model


def _sparse(model: Any, titles: list[str]) -> Any:
    from sklearn.preprocessing import normalize

    from skutag.models.linear.features import _sum_parts

    vec = model.vectorizer_
    parts = vec.transform_parts({model.text_columns_[0]: titles})
    return normalize(_sum_parts(parts, len(titles), vec.n_features).tocsr())


def _votes(sims: np.ndarray, paths: np.ndarray, n_paths: int, k: int, temperature: float) -> np.ndarray:
    """Votes of each row's ``k`` most similar training rows, by the models' own kernel over a precomputed
    similarity matrix."""
    from skutag.models.neighbours.knn import votes_by_similarity

    return votes_by_similarity(lambda a, b: sims[a:b], len(sims), sims.shape[1], paths, n_paths, k, temperature)


def explore(models_dir: Path, k: int = 10, temperature: float = 0.05, repeats: int = 10) -> dict[str, Any]:
    from skutag.evaluation.metrics import level_f1
    from skutag.models.ensemble import EnsembleModel

    xt, yt, xv, yv = _mwpd(None, None)
    linear = load_model(models_dir / "linear")
    transformer: Any = load_model(models_dir / "transformer")
    ens = EnsembleModel.from_members([linear, transformer])
    y = ens._targets(yv)
    train_paths = ens.path_ids(yt)  # every training path is in the members' path table
    n_paths = len(ens.paths_)
    dense_t = transformer._forward(xt)[1]
    dense_v = transformer._forward(xv)[1]
    sparse_t = _sparse(linear, xt["Name"].astype(str).tolist())
    sparse_v = _sparse(linear, xv["Name"].astype(str).tolist())
    dense = dense_v @ dense_t.T
    sparse = (sparse_v @ sparse_t.T).toarray()
    systems = dict(zip(("linear", "transformer"), ens.member_probs(xv), strict=True))
    systems["dense votes"] = _votes(dense, train_paths, n_paths, k, temperature)
    systems["sparse votes"] = _votes(sparse, train_paths, n_paths, k, temperature)
    hybrid = "hybrid votes (mean of the two cosines)"
    systems[hybrid] = _votes((dense + sparse) / 2, train_paths, n_paths, k, temperature)

    def score(p: np.ndarray, rows: Any = slice(None)) -> dict[str, float]:
        return level_f1(y[rows], ens.paths_[p[rows].argmax(axis=1)])

    out: dict[str, Any] = {name: _round(score(p)) for name, p in systems.items()}
    blends = {
        "linear + transformer": ["linear", "transformer"],
        "linear + hybrid votes": ["linear", hybrid],
        "transformer + hybrid votes": ["transformer", hybrid],
    }
    for name, members in blends.items():
        probs = [systems[m] for m in members]
        runs = [score(cross_tuned(ens, xv, yv, probs, rep)) for rep in range(repeats)]
        out[f"{name}, 2-fold tuned (mean of {repeats})"] = {
            key: round(float(np.mean([r[key] for r in runs])), 4) for key in ("f1_weighted", "f1_macro")
        }
    return out


def _round(r: dict[str, float]) -> dict[str, float]:
    return {key: round(r[key], 4) for key in ("f1_weighted", "f1_macro")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.explore_hybrid_neighbours", description=__doc__)
    ap.add_argument("--models", required=True, help="folder with linear/ and transformer/ from bench_transformer")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--temperature", type=float, default=0.05)
    args = ap.parse_args(argv)
    result = explore(Path(args.models), args.k, args.temperature)
    for name, figures in result.items():
        print(f"| {name} | {figures['f1_weighted']:.4f} | {figures['f1_macro']:.4f} |")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
