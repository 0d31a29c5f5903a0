"""Offers shaped like the real data: MWPD 2020 train records (read from ../shared/data at test time, never
copied into the repository), or generated ones with the same fields and ``CODE_Name`` labels without it."""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path

SHARED = Path(os.environ.get("SKUTAG_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
MWPD_TRAIN = SHARED / "mwpd2020" / "train.json"
FIELDS = ("ID", "Name", "Description", "CategoryText", "URL", "lvl1", "lvl2", "lvl3")
LEVELS = ["lvl1", "lvl2", "lvl3"]

_TREE = [
    ("64000000_Personal Accessories", "64010000_Personal Accessories", "64010100_Jewellery"),
    ("50000000_Food/Beverage/Tobacco", "50180000_Bread/Bakery Products", "50181700_Bread"),
    ("67000000_Clothing", "67010000_Clothing", "67010800_Upper Body Wear/Tops"),
    ("78000000_Electrical Supplies", "78020000_Electrical Lighting", "78020100_Lamps"),
]
_WORDS = ["sterling", "silver", "charm", "rye", "loaf", "shirt", "cotton", "lamp", "led", "classic", "ladies"]


def mwpd_records(n: int) -> list[dict[str, str]]:
    """The first ``n`` MWPD train offers when the shared data is there, else ``n`` generated ones."""
    if MWPD_TRAIN.exists():
        with MWPD_TRAIN.open(encoding="utf-8") as fh:
            return [{k: str(v) for k, v in json.loads(line).items()} for line in itertools.islice(fh, n)]
    rng = random.Random(0)
    out = []
    for i in range(n):
        l1, l2, l3 = _TREE[i % len(_TREE)]
        name = " ".join(rng.sample(_WORDS, 3)).title() + f" {l3.split('_')[1]}"
        out.append(
            {
                "ID": str(1000 + i),
                "Name": name,
                "Description": f"{name}, model {i}",
                "CategoryText": l2.split("_")[1],
                "URL": f"http://shop.example/p/{i}",
                "lvl1": l1,
                "lvl2": l2,
                "lvl3": l3,
            }
        )
    return out


def write_jsonl(path: Path, records: list[dict[str, str]], first_line: str | None = None) -> Path:
    """``records`` as JSON Lines, after ``first_line`` when given."""
    lines = ([first_line] if first_line is not None else []) + [json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
