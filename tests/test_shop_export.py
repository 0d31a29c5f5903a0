"""A shop's export as a new user tries it (issue 23, items 3 and 4), on a Flipkart-shaped CSV written here:
category trees written as a JSON list whose last part is the product name
(``["Home Furnishing >> Curtains & Accessories >> Curtains >> <product name>"]``), descriptions quoted over
several lines, and one description holding a bare quote that its exporter did not double.

- The reader counts records, not lines: records in = rows out + records rejected; every multi-line record
  is read whole; the damaged record is rejected alone, with its file lines, and the records after it are kept.
- ``train --label-sep ' >> ' --levels 3`` trains a 3-level model with clean class names; without ``--levels``
  the per-row last level is warned about, naming ``--levels``.
- ``inspect`` reports the taxonomy's depth, the row numbering, and the file lines of rows and rejects.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from skutag.catalogue.columns import LabelPathStats, deepest_level_warning, label_frame, resolve_spec
from skutag.catalogue.reader import ReadStats, read_catalogue
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import LINE_COL, ROW_COL
from skutag.cli.main import app
from skutag.models.registry import load_model
from skutag.taxonomy import split_path
from skutag.workflows.inspect import inspect_catalogue

runner = CliRunner()

#: Category trees (without the product-name tail) and the nouns of their products.
TREES: dict[tuple[str, ...], list[str]] = {
    ("Home Furnishing", "Curtains & Accessories", "Curtains"): ["Eyelet Door Curtain", "Sheer Window Curtain"],
    ("Home Furnishing", "Bed Linen", "Bedsheets"): ["Cotton Double Bedsheet", "Printed Single Bedsheet"],
    ("Watches", "Wrist Watches", "Analog Watches"): ["Leather Strap Analog Watch", "Steel Analog Watch"],
    ("Watches", "Wrist Watches", "Digital Watches"): ["Digital Sports Watch", "LED Digital Watch"],
    ("Clothing", "Women's Clothing", "Lingerie, Sleep & Swimwear"): ["Solid Cycling Shorts", "Printed Night Suit"],
    ("Footwear", "Men's Footwear", "Casual Shoes", "Sneakers"): ["Canvas Sneakers", "Mesh Running Sneakers"],
    ("Home Decor & Festive Needs", "Showpieces", "Ethnic"): ["Brass Ganesha Showpiece", "Wooden Elephant Showpiece"],
}
BRANDS = ["Alisha", "Sicons", "Eternal Gandhi", "dilli bazaar", "FabHomeDecor", "Sathiyas", "Kenneth Cole"]
N = 210
STRAY = 87  # 0-based record whose description holds a bare quote
SEVERAL = 12  # 0-based record whose tree lists two paths


@dataclass
class Export:
    path: Path
    ids: list[str]
    trees: list[tuple[str, ...]]  # category levels of each record (without the name)
    first_line: list[int]  # file line each record starts on (header = line 1)
    last_line: list[int]
    descriptions: list[str]


def _record(row: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerow(row)  # RFC 4180 as Flipkart writes it: CRLF ends, quotes doubled, LF in fields
    return buf.getvalue()


def write_export(path: Path) -> Export:
    trees = list(TREES)
    ids, cats, firsts, lasts, descs = [], [], [], [], []
    chunks = [_record(["uniq_id", "product_name", "product_category_tree", "retail_price", "description", "brand"])]
    line = 2
    for i in range(N):
        tree = trees[i % len(trees)]
        noun = TREES[tree][(i // len(trees)) % 2]
        brand = BRANDS[i % len(BRANDS)]
        name = f"{brand} {noun} {chr(65 + i % 26)}{i:03d}"
        uniq = hashlib.md5(str(i).encode()).hexdigest()
        value = json.dumps([" >> ".join([*tree, name])])
        if i == SEVERAL:
            value = json.dumps([" >> ".join([*tree, name]), " >> ".join([*trees[0], "Another name"])])
        if i % 3 == 0:
            desc = f"{name} for {tree[-1].lower()}"
        else:  # over several lines, a paragraph break, a doubled quote written right
            desc = (
                f"Key Features of {name}\nMaterial: cotton blend, colour: navy\n\n"
                f'{noun} by {brand}, length 5" (inch), {tree[1].lower()}'
            )
        if i == STRAY:
            desc = f"Key Features of {name}\nDial 5{chr(34)} wide face, not doubled\nSpecifications of {name} here"
        rec = _record([uniq, name, value, str(100 + i), desc, brand])
        if i == STRAY:
            rec = rec.replace('5"" wide', '5" wide')  # the exporter's slip: a bare quote inside a quoted field
        chunks.append(rec)
        ids.append(uniq)
        cats.append(tree)
        firsts.append(line)
        line += rec.count("\n")
        lasts.append(line - 1)
        descs.append(desc)
    path.write_bytes("".join(chunks).encode("utf-8"))
    return Export(path, ids, cats, firsts, lasts, descs)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return write_export(tmp_path_factory.mktemp("shop") / "flipkart_com-ecommerce_sample.csv")


# ------------------------------------------------------------------------------------------------- reading


def test_records_not_lines(export: Export) -> None:
    sink, stats = RejectSink(), ReadStats(str(export.path))
    df = read_catalogue(export.path, rejects=sink, stats=stats, lines=True)
    physical = export.path.read_bytes().count(b"\n")
    assert physical > 2 * N  # the descriptions span lines: far more lines than records
    assert stats.records == N == len(df) + sink.count and stats.rejected == sink.count == 1
    kept = [k for k in range(N) if k != STRAY]
    assert df["uniq_id"].tolist() == [export.ids[k] for k in kept]  # every record after the damage is kept
    assert df[ROW_COL].tolist() == [k + 1 for k in kept]  # row = record number, not a fragment count
    assert df[LINE_COL].tolist() == [export.first_line[k] for k in kept]  # line = where the record starts
    multi = [k for k in kept if "\n" in export.descriptions[k]]
    assert len(multi) > N / 2
    assert df["description"].tolist() == [export.descriptions[k] for k in kept]  # read whole, quotes undoubled
    assert df["product_category_tree"].str.startswith('["').all()  # values as written; labels unwrap them


def test_the_bare_quote_record_is_rejected_alone_with_its_lines(export: Export, tmp_path: Path) -> None:
    with RejectSink(tmp_path / "rejects.jsonl") as sink:
        read_catalogue(export.path, rejects=sink)
    [rej] = [json.loads(x) for x in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    first, last = export.first_line[STRAY], export.last_line[STRAY]
    assert last - first == 2  # the record spans three lines, all of them one reject
    assert rej["row"] == STRAY + 1 and rej["line"] == first
    assert rej["reason"].startswith("broken quoting:")
    assert f"(line {first + 1})" in rej["reason"] and f"lines {first}-{last}" in rej["reason"]
    assert rej["record"].startswith(export.ids[STRAY])
    assert rej["record"].endswith(f'here",{BRANDS[STRAY % len(BRANDS)]}')  # the whole record, its three lines


def test_old_fragment_counting_is_gone(tmp_path: Path) -> None:
    """The same damage before the reader has seen enough records to know what ids look like."""
    rows = ['1,Shoe,"Line one\nLine two, with comma\nLine three",Acme\n']
    rows.append('2,Watch,"Dial 5" wide\nmore text here\nend text",Acme\n')
    rows.append('3,Hat,"plain",Acme\n')
    p = tmp_path / "early.csv"
    p.write_text("id,name,description,brand\n" + "".join(rows), encoding="utf-8")
    sink, stats = RejectSink(), ReadStats(str(p))
    df = read_catalogue(p, rejects=sink, stats=stats, lines=True)
    assert stats.records == 3 and df["id"].tolist() == ["1", "3"] and df[LINE_COL].tolist() == [2, 8]
    assert [(r.row, r.line) for r in sink.examples] == [(2, 5)] and "lines 5-7" in sink.examples[0].reason


def test_a_runaway_quote_gives_back_the_records_it_swallowed(tmp_path: Path) -> None:
    good = [f"{i:04d},Item {i},fine text {i},Brand\n" for i in range(30)]
    lines = [*good[:25], '0025,"Item 25 opens a quote,fine text,Brand\n', *good[26:]]
    lines.append('0030,Item 30,"a quoted ""word"" inside",Brand\n')
    p = tmp_path / "runaway.csv"
    p.write_text("id,name,text,brand\n" + "".join(lines), encoding="utf-8")
    sink, stats = RejectSink(), ReadStats(str(p))
    df = read_catalogue(p, rejects=sink, stats=stats)
    assert stats.records == 31 == len(df) + 1
    assert df["id"].tolist() == [f"{i:04d}" for i in range(31) if i != 25]
    assert sink.examples[0].row == 26 and sink.examples[0].line == 27 and "line 27 is" in sink.examples[0].reason


def test_a_field_closed_early_takes_its_fragments_with_it(tmp_path: Path) -> None:
    """A bare quote just before a line end closes the field: the record parses short, and the rest of its
    description (lines whose first field is no id) belongs to it, not to records of their own."""
    good = [f"{i:04d},Item {i},fine text {i},Brand\n" for i in range(30)]
    broken = '0024,Item 24,"Screen 5"\nwide and bright, all day\nend of text",Brand\n'
    p = tmp_path / "short.csv"
    p.write_text("id,name,text,brand\n" + "".join([*good[:24], broken, *good[25:]]), encoding="utf-8")
    sink, stats = RejectSink(), ReadStats(str(p))
    df = read_catalogue(p, rejects=sink, stats=stats)
    assert stats.records == 30 and len(df) == 29 and sink.count == 1
    assert "wrong field count" in sink.examples[0].reason and "lines 26-28" in sink.examples[0].reason


# -------------------------------------------------------------------------------------------------- labels


def test_paths_as_shops_write_them() -> None:
    assert split_path('["Watches >> Wrist Watches >> Analog"]', " >> ") == ["Watches", "Wrist Watches", "Analog"]
    assert split_path("['Watches >> Wrist Watches', 'Other >> Path']", " >> ") == ["Watches", "Wrist Watches"]
    assert split_path('"Home > Decor"') == ["Home", "Decor"] and split_path("'Home' > 'Decor'") == ["Home", "Decor"]
    assert split_path("[Refurbished] > Phones") == ["[Refurbished]", "Phones"]
    assert split_path("[Refurbished]") == ["[Refurbished]"] and split_path("[]") == []
    assert split_path("Men's Footwear > Kids' Shoes") == ["Men's Footwear", "Kids' Shoes"]


def test_label_frame_unwraps_cuts_and_counts() -> None:
    df = pd.DataFrame(
        {
            "t": ["a", "b", "c", "d"],
            "tree": ['["A >> B >> C >> Name one"]', '["A >> B >> Name two", "X >> Y"]', "A >> D", None],
        }
    )
    stats = LabelPathStats()
    lf = label_frame(df, resolve_spec(df.columns, text=["t"], label=["tree"], label_sep=" >> ", levels=3), stats)
    assert lf.to_numpy().tolist() == [["A", "B", "C"], ["A", "B", "Name two"], ["A", "D", None], [None] * 3]
    assert stats.depth_counts() == {"0": 1, "2": 1, "3": 1, "4": 1} and stats.cut == 1
    assert stats.several_paths == 1 and stats.several_positions == [1]


def test_the_deepest_level_warning() -> None:
    names = pd.DataFrame({"level_1": ["A", "B"] * 20, "level_2": [f"Product {i}" for i in range(40)]})
    warning = deepest_level_warning(names)
    assert warning is not None and "level 2" in warning and "--levels 1" in warning and "40 distinct" in warning
    assert deepest_level_warning(names.iloc[:10]) is None  # too few rows to tell
    categories = pd.DataFrame({"level_1": ["A", "B"] * 20, "level_2": [f"c{i % 8}" for i in range(40)]})
    assert deepest_level_warning(categories) is None


# ---------------------------------------------------------------------------------------------- train CLI


def _train(export: Export, out: Path, *extra: str) -> tuple[str, dict]:
    args = ["train", str(export.path), "--text", "product_name,description", "--label", "product_category_tree"]
    res = runner.invoke(app, [*args, "--label-sep", " >> ", *extra, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return res.output, json.loads((out / "meta.json").read_text())


def _clean(name: str) -> bool:
    return not any(c in name for c in '[]"') and name == name.strip()


def test_train_levels_3_gives_a_clean_3_level_model(export: Export, tmp_path: Path) -> None:
    output, meta = _train(export, tmp_path / "m", "--levels", "3")
    assert meta["label_levels"] == 3 and meta["rows_used"] == N - 1 and meta["rows_rejected"] == 1
    assert "nearly unique" not in output and "nearly unique" not in json.dumps(meta.get("warnings", []))
    assert "1 row(s) list several paths" in output  # the first of a list's paths is used, and it says so
    model = load_model(tmp_path / "m")
    tax = model.taxonomy_
    assert tax.depth == 3 and len(model.levels_) == 3
    assert {node.name for node in tax.roots} == {t[0] for t in TREES}
    assert {tax.path(leaf.id) for leaf in tax.leaves()} == {t[:3] for t in TREES}
    assert all(_clean(node.name) for node in tax)
    assert set(meta["label_set"]) == {"level_1", "level_2", "level_3"}
    texts = pd.DataFrame({"product_name": ["Sicons Steel Analog Watch Z999"], "description": ["steel analog watch"]})
    assert list(model.predict(texts).iloc[0]) == ["Watches", "Wrist Watches", "Analog Watches"]

    res = runner.invoke(app, ["evaluate", str(tmp_path / "m"), str(export.path), "--out", str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output  # the card's levels cut the evaluation labels too
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert "level_4" not in metrics and metrics["level_1"]["accuracy"] > 0.9


def test_train_without_levels_warns_about_the_product_name_level(export: Export, tmp_path: Path) -> None:
    output, meta = _train(export, tmp_path / "m")
    assert "warning:" in output and "nearly unique" in output and "--levels 3" in output
    assert any("--levels 3" in w for w in meta["warnings"])
    model = load_model(tmp_path / "m")
    assert model.taxonomy_.depth == 5  # four category levels and the name, for the sneakers
    assert all(_clean(node.name) for node in model.taxonomy_)  # brackets and quotes are gone even so


# ------------------------------------------------------------------------------------------------ inspect


def test_inspect_reports_depth_lines_and_numbering(export: Export, tmp_path: Path) -> None:
    report = inspect_catalogue(
        [export.path],
        text=("product_name", "description"),
        label=("product_category_tree",),
        label_sep=" >> ",
        out_dir=tmp_path / "q",
        checks=["missing_fields", "class_imbalance"],
    )
    assert report.rows + report.rejected_rows == N and report.rejected_rows == 1
    data = json.loads((tmp_path / "q" / "quality.json").read_text())
    tax = data["taxonomy"]
    sneakers = sum(1 for k in range(N) if k != STRAY and len(export.trees[k]) == 4)
    assert tax["levels"] == 5 and tax["rows_by_depth"] == {"4": N - 1 - sneakers, "5": sneakers}
    assert tax["distinct_by_level"]["level_1"] == len({t[0] for t in TREES})
    assert tax["rows_listing_several_paths"] == 1 and "--levels 3" in tax["warning"]
    ds = data["dataset"]
    assert "record" in ds["row_numbering"] and "line" in ds["row_numbering"]
    assert ds["reject_examples"] == [
        {
            "source": str(export.path),
            "row": STRAY + 1,
            "line": export.first_line[STRAY],
            "reason": ds["reject_examples"][0]["reason"],
        }
    ]
    examples = data["checks"]["class_imbalance"]["example_records"]
    assert examples and all(e["line"] == export.first_line[e["row"] - 1] for e in examples)
    html = (tmp_path / "q" / "quality.html").read_text(encoding="utf-8")
    assert "Taxonomy depth" in html and "row numbering" in html and "--levels 3" in html
    assert f'<td class="num">{export.first_line[STRAY]}</td>' in html  # a line number as it is in the file
