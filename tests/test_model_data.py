"""Synthetic labelled catalogues for the model/eval/train tests (built from code, no real data)."""

from __future__ import annotations

import random

import pandas as pd

TREE: dict[tuple[str, str, str], list[str]] = {
    ("Food", "Fruit", "Apples"): ["apple", "gala", "fuji", "granny smith"],
    ("Food", "Fruit", "Pears"): ["pear", "conference", "williams", "nashi"],
    ("Food", "Dairy", "Cheese"): ["cheddar", "brie", "gouda", "cheese"],
    ("Food", "Dairy", "Milk"): ["milk", "semi skimmed", "whole milk", "oat drink"],
    ("Toys", "Dolls", "Apples"): ["doll", "apple doll", "rag doll", "puppet"],
    ("Toys", "Games", "Board"): ["board game", "chess", "monopoly", "ludo"],
    ("Home", "Kitchen", "Knives"): ["knife", "chef knife", "paring", "cleaver"],
    ("Home", "Kitchen", "Pans"): ["pan", "frying pan", "wok", "skillet"],
}
FILLER = ["organic", "pack", "large", "small", "premium", "value", "red", "blue", "set", "new"]
ZH = {("Food", "Fruit", "Apples"): "苹果", ("Home", "Kitchen", "Pans"): "炒锅", ("Toys", "Games", "Board"): "棋盘游戏"}


def synthetic(n: int, seed: int = 0, noise: float = 0.0) -> pd.DataFrame:
    """Rows with title, shop_category, description and level columns lvl1..lvl3 (+ a path column)."""
    rng = random.Random(seed)
    keys = list(TREE)
    rows = []
    for i in range(n):
        path = keys[i % len(keys)] if i < len(keys) else rng.choice(keys)
        words = [rng.choice(TREE[path]), *rng.sample(FILLER, 2)]
        rng.shuffle(words)
        title = " ".join(words).title()
        if path in ZH and rng.random() < 0.3:
            title = f"{ZH[path]} {rng.choice(['优质', '新款', '特价'])}"
        if rng.random() < noise:
            path = rng.choice(keys)
        rows.append(
            {
                "id": f"p{i}",
                "title": title,
                "shop_category": path[1].lower() if rng.random() < 0.5 else "",
                "description": f"A {rng.choice(FILLER)} product, item {i}.",
                "lvl1": path[0],
                "lvl2": path[1],
                "lvl3": path[2],
                "category": " > ".join(path),
            }
        )
    return pd.DataFrame(rows)


def labels_of(df: pd.DataFrame) -> pd.DataFrame:
    return df[["lvl1", "lvl2", "lvl3"]].set_axis(["level_1", "level_2", "level_3"], axis=1)


def test_synthetic_is_deterministic_and_covers_tree() -> None:
    a, b = synthetic(50, seed=3), synthetic(50, seed=3)
    assert a.equals(b)
    assert set(map(tuple, a[["lvl1", "lvl2", "lvl3"]].to_numpy().tolist())) == set(TREE)
