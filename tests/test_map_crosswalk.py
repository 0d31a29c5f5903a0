"""`skutag map --crosswalk CategoryText` on a real MWPD slice: shop categories that repeat (T-Shirts, Watches,
breadcrumbs written with different case and spacing), rows without one, and a row without text. The crosswalk
table gives each normalised shop category one valid path and counts its products; with --crosswalk-weight 1 every
row takes its category's path; rows in = rows out + rows rejected."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mwpd_map_data import class_taxonomy, mwpd, write_jsonl
from skutag.cli.main import app
from skutag.models.mapping.crosswalk import shop_category_key
from skutag.taxonomy.sources import load_taxonomy_source

runner = CliRunner()


@pytest.fixture(scope="module")
def offers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict[str, object]]]:
    rows = mwpd("validation")
    pick = [r for r in rows if r["CategoryText"] == "T-Shirts"][:6] + [
        r for r in rows if r["CategoryText"] == "Watches"
    ][:4]
    pick += [r for r in rows if not r["CategoryText"]][:4] + rows[:14]
    # the same shop category as another shop writes it: case and spaces differ, one group
    pick.append({**pick[0], "ID": "tshirt-variant", "CategoryText": "  t-shirts "})
    pick.append({**pick[1], "ID": "no-text", "Name": " ", "Description": ""})
    tmp = tmp_path_factory.mktemp("crosswalk")
    return write_jsonl(tmp / "offers.jsonl", pick), class_taxonomy(tmp), pick


def test_crosswalk_table_and_rows(offers: tuple[Path, Path, list[dict[str, object]]], tmp_path: Path) -> None:
    data, taxonomy, records = offers
    out = tmp_path / "mapped.csv"
    res = runner.invoke(
        app,
        [
            "map",
            str(data),
            "-t",
            str(taxonomy),
            "-o",
            str(out),
            "--crosswalk",
            "CategoryText",
            "--crosswalk-weight",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    tree = load_taxonomy_source(taxonomy).tree
    mapped = pd.read_csv(out, dtype=str, keep_default_na=False)
    rejects = (tmp_path / "mapped.csv.rejects.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(mapped) + len(rejects) == len(records) and len(rejects) == 1
    assert "no-text" not in set(mapped["ID"])
    assert all(tree.is_valid_path(tuple(p.split(" > "))) for p in mapped["path"])

    table = pd.read_csv(tmp_path / "mapped.csv.crosswalk.csv", dtype=str, keep_default_na=False)
    keys = [shop_category_key(r["CategoryText"]) for r in records if str(r["Name"]).strip()]
    expected = Counter(k for k in keys if k is not None)
    assert table["shop_category"].is_unique
    assert dict(zip(table["shop_category"], table["products"].astype(int), strict=True)) == dict(expected)
    assert expected["t-shirts"] == 7  # the variant joined the six T-Shirts
    assert all(tree.is_valid_path(tuple(p.split(" > "))) for p in table["path"])
    # every row of a shop category has that category's path (weight 1); rows without one are mapped alone
    path_of = dict(zip(table["shop_category"], table["path"], strict=True))
    grouped = mapped[mapped["shop_category"] != ""]
    assert len(grouped) == sum(expected.values())
    assert (grouped["path"] == grouped["shop_category"].map(path_of)).all()
    assert (mapped["shop_category"] == "").sum() == sum(1 for k in keys if k is None)
    assert "shop categories crosswalked" in res.output


def test_crosswalk_column_missing(offers: tuple[Path, Path, list[dict[str, object]]], tmp_path: Path) -> None:
    data, taxonomy, _ = offers
    res = runner.invoke(
        app, ["map", str(data), "-t", str(taxonomy), "-o", str(tmp_path / "m.csv"), "--crosswalk", "ShopCategory"]
    )
    assert res.exit_code == 2
    assert "ShopCategory" in res.output and "CategoryText" in res.output  # names the column and lists the others
    assert not (tmp_path / "m.csv").exists()


def test_shop_category_key() -> None:
    assert shop_category_key(" Men >  T-Shirts ") == shop_category_key("men>t-shirts") == "men > t-shirts"
    assert shop_category_key('["Home >> Kitchen"]') == "home > kitchen"
    assert shop_category_key("  ") is None and shop_category_key(None) is None


def test_catalogue_prior_without_crosswalk(offers: tuple[Path, Path, list[dict[str, object]]], tmp_path: Path) -> None:
    """--catalogue-prior alone: no crosswalk table; the categories the catalogue uses most gain rows, never lose."""
    data, taxonomy, records = offers
    plain, prior = tmp_path / "plain.csv", tmp_path / "prior.csv"
    for out, extra in ((plain, []), (prior, ["--catalogue-prior", "0.5"])):
        res = runner.invoke(app, ["map", str(data), "-t", str(taxonomy), "-o", str(out), *extra])
        assert res.exit_code == 0, res.output
    with_prior = pd.read_csv(prior, dtype=str, keep_default_na=False)
    without = pd.read_csv(plain, dtype=str, keep_default_na=False)
    assert len(with_prior) == len(records) - 1 and "shop_category" not in with_prior.columns
    assert not (tmp_path / "prior.csv.crosswalk.csv").exists()
    tree = load_taxonomy_source(taxonomy).tree
    assert all(tree.is_valid_path(tuple(p.split(" > "))) for p in with_prior["path"])
    top = without["level_1"].value_counts().index[0]
    assert (with_prior["level_1"] == top).sum() >= (without["level_1"] == top).sum()
    assert with_prior["level_1"].nunique() <= without["level_1"].nunique()
