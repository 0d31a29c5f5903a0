"""Exploration: class prototypes (per-path mean of the hybrid index rows) and neighbour-vote settings as extra
inputs of the ensemble blend (MWPD, title only).

kNN votes of the 10 nearest rows favour classes with many rows; a prototype (the unit mean of a path's rows in
each member's feature space, cosine to the query, softmax over paths) gives a two-row class the same chance as a
two-hundred-row one. Prints 2-fold (mean of ``--repeats`` halvings) and in-sample figures for each variant.

``python -m benchmarks.explore_prototypes --models bench-out/s8/models --members linear-balanced,transformer``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from benchmarks.bench_transformer import _mwpd, scored, tuned_figures
from skutag.models.registry import load_model


def prototypes(parts: list[Any], paths: np.ndarray, n_paths: int) -> list[Any]:
    """Per part: n_paths x dim unit-row means of the index rows of each path (zero rows for absent paths)."""
    from skutag.models.neighbours.hybrid import unit_rows

    member = sp.csr_matrix((np.ones(len(paths)), (paths, np.arange(len(paths)))), shape=(n_paths, len(paths)))
    return [unit_rows(sp.csr_matrix(member @ p) if sp.issparse(p) else member @ p) for p in parts]


def prototype_probs(
    queries: list[Any], protos: list[Any], weights: np.ndarray, present: np.ndarray, temperature: float
) -> np.ndarray:
    from skutag.models.neighbours.hybrid import unit_rows

    sim = np.zeros((queries[0].shape[0], protos[0].shape[0]))
    for q, c, w in zip(queries, protos, weights, strict=True):
        prod = unit_rows(q) @ c.T
        sim += w * (prod.toarray() if sp.issparse(prod) else prod)
    sim[:, ~present] = -np.inf
    z = (sim - sim.max(axis=1, keepdims=True)) / temperature
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def main() -> None:
    from skutag.models.ensemble import EnsembleModel

    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True)
    ap.add_argument("--members", default="linear-balanced,transformer")
    ap.add_argument("--temperatures", default="0.02,0.05,0.1")
    ap.add_argument("--knn", default="", help="extra vote settings k:T,k:T to try in place of 10:0.05")
    ap.add_argument("--view-only", default="", help="members that only add a feature space to the neighbour index")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    xt, yt, xv, yv = _mwpd(None, None)
    names = args.members.split(",")
    models = [load_model(Path(args.models) / m) for m in names]
    ens = EnsembleModel.from_members(models, grid_step=0.05)
    ens.build_neighbours(xt, yt)
    probs = [p for i, p in enumerate(ens.member_probs(xv)) if i >= len(names) or names[i] not in args.view_only]
    index = ens.neighbours_
    n_paths = len(ens.paths_)
    out: dict[str, Any] = {}

    def report(name: str, inputs: list[np.ndarray], step: float) -> None:
        ens.grid_step = step
        figs = tuned_figures(ens, xv, yv, inputs, args.repeats)
        res = {"two_fold": figs["mean"], "sd": figs["sd"], "in_sample": figs["in_sample"], "tuning": figs["tuning"]}
        out[name] = res
        print(name, json.dumps(res), flush=True)

    print("votes alone", json.dumps(scored(ens, yv, probs[-1])), flush=True)
    report("base", probs, 0.05)
    nm = ens._neighbour_models()
    queries = [m.neighbour_features(xv) for m in nm]
    protos = prototypes(index.parts, index.paths, n_paths)
    present = np.zeros(n_paths, dtype=bool)
    present[np.unique(index.paths)] = True
    for t in (float(v) for v in filter(None, args.temperatures.split(","))):
        pp = prototype_probs(queries, protos, index.weights, present, t)
        print(f"prototypes T={t} alone", json.dumps(scored(ens, yv, pp)), flush=True)
        report(f"base+prototypes T={t}", [*probs, pp], 0.1)
    for setting in filter(None, args.knn.split(",")):
        k, t = setting.split(":")
        index.k, index.temperature = int(k), float(t)
        votes = index.votes(queries, n_paths)
        print(f"votes k={k} T={t} alone", json.dumps(scored(ens, yv, votes)), flush=True)
        report(f"votes k={k} T={t}", [*probs[:-1], votes], 0.05)


if __name__ == "__main__":
    main()
