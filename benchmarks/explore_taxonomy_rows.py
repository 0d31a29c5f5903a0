"""Exploration: taxonomy text as extra labelled rows of the ensemble's neighbour index (MWPD, title only).

Variants: the class names themselves (``Jewellery`` labelled with its own path), and GS1 GPC bricks of the
matching family (brick name and the items of its "Includes products such as ..." list) assigned to the most
likely MWPD class of that family. Prints 2-fold and in-sample ensemble figures for each.

``python -m benchmarks.explore_taxonomy_rows --models bench-out/s7/models``
"""

from __future__ import annotations

import argparse
import bz2
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.bench_transformer import _mwpd, scored, tuned_figures
from benchmarks.common import SHARED_DATA
from skutag.models.registry import load_model


def _name(label: str) -> str:
    return label.split("_", 1)[1] if "_" in label else label


def class_name_rows(yt: pd.DataFrame, with_family: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    paths = yt.drop_duplicates().reset_index(drop=True)
    texts = [
        (f"{_name(b)} {_name(c)}" if with_family else _name(c)).replace("/", " / ")
        for b, c in zip(paths["level_2"], paths["level_3"], strict=True)
    ]
    return pd.DataFrame({"Name": texts}), paths


def _includes(defn: str) -> list[str]:
    m = re.search(r"Includes products such as (.*?)(?:\.|$)", defn or "")
    if not m:
        return []
    items = re.split(r",\s*|\s+and\s+", m.group(1))
    return [i.strip() for i in items if 2 < len(i.strip()) < 60]


def gs1_rows(yt: pd.DataFrame, score_paths: Any, items: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bricks of every MWPD family, each assigned to the family's class that ``score_paths`` rates highest."""
    with bz2.open(SHARED_DATA / "taxonomies" / "gs1-gpc" / "gs1.json.bz2") as fh:
        recs = json.load(fh)
    fam_text = {r["code"]: r["text"] for r in recs if r["level"] == "family"}
    bricks: dict[str, list[dict]] = {}
    for r in recs:
        if r["level"] == "brick":
            bricks.setdefault(r["family"], []).append(r)
    paths = yt.drop_duplicates().reset_index(drop=True)
    texts, labels = [], []
    for fam_label, group in paths.groupby("level_2"):
        code = str(fam_label).split("_", 1)[0]
        family = fam_text.get(code)
        if family is None:
            continue
        for b in bricks.get(family, []):
            text = b["brick"]
            cand = group.reset_index(drop=True)
            if len(cand) == 1:
                best = cand.iloc[0]
            else:
                scores = score_paths([text + " " + " ".join(_includes(b["definition"]))], cand)
                best = cand.iloc[int(np.argmax(scores))]
            rows = [text] + (_includes(b["definition"]) if items else [])
            for t in rows:
                texts.append(t)
                labels.append(best)
    return pd.DataFrame({"Name": texts}), pd.DataFrame(labels).reset_index(drop=True)


def evaluate(ens: Any, xt: pd.DataFrame, yt: pd.DataFrame, xv: pd.DataFrame, yv: pd.DataFrame, repeats: int) -> dict:
    ens.build_neighbours(xt, yt)
    probs = ens.member_probs(xv)
    votes = scored(ens, yv, probs[-1])
    figs = tuned_figures(ens, xv, yv, probs, repeats)
    return {
        "two_fold": figs["mean"],
        "in_sample": figs["in_sample"],
        "votes": votes,
        "weights": list(ens.weights_),
        "blend": ens.blend_,
    }


def main() -> None:
    from skutag.models.ensemble import EnsembleModel

    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True)
    ap.add_argument("--members", default="linear,transformer")
    ap.add_argument("--variants", default="base,names,names_family,gs1,gs1_names")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    xt, yt, xv, yv = _mwpd(None, None)
    models = [load_model(Path(args.models) / m) for m in args.members.split(",")]
    ens = EnsembleModel.from_members(models, grid_step=0.05 if len(models) == 2 else 0.1, neighbour_labels=False)

    def score_paths(texts: list[str], cand: pd.DataFrame) -> np.ndarray:
        p = ens.predict_path_proba(pd.DataFrame({"Name": texts}))[0]
        ids = ens.path_ids(cand)
        return np.array([p[i] if i >= 0 else -1.0 for i in ids])

    out: dict[str, Any] = {}
    for variant in args.variants.split(","):
        extra: list[tuple[pd.DataFrame, pd.DataFrame]] = []
        if variant in ("names", "gs1_names"):
            extra.append(class_name_rows(yt))
        if variant == "names_family":
            extra.append(class_name_rows(yt, with_family=True))
        if variant in ("desc", "catx"):
            col = "Description" if variant == "desc" else "CategoryText"
            raw = pd.read_json(SHARED_DATA / "mwpd2020" / "train.json", lines=True, dtype=False)
            text = raw[col].fillna("").astype(str).str.slice(0, 300)
            keep = (text.str.len() > 10).to_numpy() & (text != raw["Name"].astype(str)).to_numpy()
            extra.append((pd.DataFrame({"Name": text[keep].to_numpy()}), yt[keep].reset_index(drop=True)))
        if variant in ("gs1", "gs1_names", "gs1_bricks"):
            ens.build_neighbours(xt, yt)  # bricks are assigned by the untuned blend (equal weights)
            extra.append(gs1_rows(yt, score_paths, items=variant != "gs1_bricks"))
        xa = pd.concat([xt] + [e[0] for e in extra], ignore_index=True)
        ya = pd.concat([yt] + [e[1] for e in extra], ignore_index=True)
        res = evaluate(ens, xa, ya, xv, yv, args.repeats)
        res["extra_rows"] = len(xa) - len(xt)
        out[variant] = res
        print(variant, json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
