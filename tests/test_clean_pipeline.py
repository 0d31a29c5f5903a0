"""End-to-end `clean_catalogue`: real MWPD data, bad inputs, duplicates, policies, and the row contract."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skutag.errors import ConfigError, MissingColumnError
from skutag.workflows.clean import clean_catalogue, default_rejects_path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SKUTAG_SHARED_DATA", REPO.parent / "shared" / "data"))
MWPD = SHARED / "mwpd2020"
LABELS = ["lvl1", "lvl2", "lvl3"]


def _mwpd(name: str) -> Path:
    p = MWPD / name
    if not p.exists():
        pytest.skip(f"shared data not found: {p}")
    return p


def _rejects(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _contract(summary) -> None:  # type: ignore[no-untyped-def]
    assert summary.rows_in == summary.rows_out + summary.rows_rejected
    assert summary.rows_rejected == sum(summary.rejected_by_reason.values())


def test_mwpd_slice_end_to_end(tmp_path: Path) -> None:
    src = tmp_path / "slice.jsonl"
    with _mwpd("train.json").open(encoding="utf-8") as fh:
        src.write_text("".join(next(fh) for _ in range(1500)), encoding="utf-8")
    out = tmp_path / "clean.jsonl"
    s = clean_catalogue([src], out, label=LABELS, missing="Description=flag", dedup="exact")
    _contract(s)
    assert s.rows_in == 1500
    assert s.text_columns == ["Name", "Description"]
    assert s.counts["fffd_values"] > 0 and s.counts["html_fixed_values"] > 0
    df = pd.read_json(out, lines=True, dtype=False)
    assert len(df) == s.rows_out
    for col in ("_dup_group", "_near_dup_group", "_dup_conflict", "_fffd", "_html_fixed", "_missing_Description"):
        assert col in df.columns
    assert not df["Description"].dropna().str.contains(r"</?(?:p|li|br|span)\b", regex=True).any()
    assert not df["Name"].str.contains("  ", regex=False).any()
    assert (df["_fffd"] > 0).sum() == df["Name"].str.contains("\ufffd").add(
        df["Description"].fillna("").str.contains("\ufffd")
    ).sum()
    assert df["_missing_Description"].sum() == s.counts["missing:Description"] > 0
    rej = _rejects(default_rejects_path(out))
    assert len(rej) == s.rows_rejected == s.counts["exact_duplicate_rows"]
    assert all(r["reason"].startswith("exact_duplicate") and r["row"] >= 1 for r in rej)


def test_mwpd_conflicting_duplicate_titles(tmp_path: Path) -> None:
    inputs = [_mwpd("train.json"), _mwpd("validation.json")]
    s = clean_catalogue(inputs, tmp_path / "all.parquet", label=LABELS)
    _contract(s)
    assert s.rows_in == 13012
    df = pd.read_parquet(tmp_path / "all.parquet")
    raw = pd.concat([pd.read_json(p, lines=True, dtype=False) for p in inputs])
    raw_conflicts = int((raw.groupby("Name")["lvl3"].nunique() > 1).sum())
    assert df.loc[df["_dup_conflict"], "_dup_group"].nunique() >= raw_conflicts >= 10
    assert (df["_near_dup_group"] <= df["_dup_group"]).all()


def _bad_inputs(d: Path) -> list[Path]:
    csv = d / "bad.csv"
    csv.write_bytes(
        b"id,title,description,label\n"
        b"1,Red shoe,<p>Nice &amp; comfy</p>,Shoes\n"
        b'2,"Broken quote,desc,Shoes\n'
        b"3,Blue shoe,too,many,fields,here\n"
        b"4,,,Shoes\n"
        b"5,N/A,<p></p>,Shoes\n"
        b"6,Caf\xe9 cr\xe8me,latin-1 bytes,Drinks\n"
        b"7,Red shoe,dup,Boots\n"
        b"8,  \t ,null,Shoes\n"
        b"9,Green shoe,,\n"
    )
    jsonl = d / "bad.jsonl"
    jsonl.write_text(
        '{"id": 10, "title": "Lamp", "description": "A&nbsp;lamp", "label": "Home"}\n'
        "{not json}\n"
        "[1, 2]\n"
        '{"id": 11, "title": "\\u00c3\\u00a9t\\u00c3\\u00a9 hat", "description": null, "label": "Hats"}\n'
        '{"id": 12, "title": null, "description": null, "label": "Hats"}\n'
        '{"id": 13, "title": ["a", "list"], "description": {"k": 1}, "label": 5}\n'
        "\n",
        encoding="utf-8",
    )
    empty_rows = d / "header_only_and_rows.tsv"
    empty_rows.write_text("id\ttitle\tdescription\tlabel\n20\tx\ty\tz\n", encoding="utf-8")
    return [csv, jsonl, empty_rows]


@pytest.mark.parametrize("dedup", ["none", "exact", "near"])
def test_bad_inputs_keep_the_row_contract(tmp_path: Path, dedup: str) -> None:
    inputs = _bad_inputs(tmp_path)
    out = tmp_path / "out.csv"
    s = clean_catalogue(
        inputs,
        out,
        text=["title", "description"],
        label=["label"],
        missing="title=drop",
        dedup=dedup,  # type: ignore[arg-type]
    )
    _contract(s)
    # records, not physical lines: the CSV's bare quote (id 2) runs into the next line (id 3, itself no valid
    # record start: six fields), and the two lines are one damaged record, rejected once with its line range
    assert s.rows_in == 8 + 6 + 1
    rej = _rejects(default_rejects_path(out))
    assert len(rej) == s.rows_rejected
    assert all(r["source"] and r["row"] for r in rej)
    reasons = {r["reason"].split(":")[0] for r in rej}
    assert "missing" in reasons
    missing_rows = {(Path(r["source"]).name, r["row"]) for r in rej if r["reason"].startswith("missing")}
    # `row` is the record number: ids 4, 5 and 8 are records 3, 4 and 7 (ids 2 and 3 are one damaged record)
    assert {("bad.csv", 3), ("bad.csv", 4), ("bad.csv", 7), ("bad.jsonl", 5)} <= missing_rows
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(df) == s.rows_out
    titles = set(df["title"])
    assert "Café crème" in titles or "Caf\ufffd cr\ufffdme" in titles
    assert "été hat" in titles
    assert "Nice & comfy" in set(df["description"])
    if dedup != "none":
        assert (df["title"] == "Red shoe").sum() == 1
        assert any(r["reason"].startswith("exact_duplicate") for r in rej)
    else:
        red = df[df["title"] == "Red shoe"]
        assert len(red) == 2 and (red["_dup_conflict"] == "True").all()


def test_near_dedup_drops_near_copies(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    pd.DataFrame(
        {
            "title": [
                "Apple iPhone 12 Pro Max 128GB Pacific Blue Unlocked Smartphone",
                "Apple iPhone 12 Pro Max 128GB Pacific Blue Unlocked Smartphone New",
                "apple iphone 12 pro max 128gb pacific blue unlocked smartphone",
                "Samsung Galaxy S21 Ultra 5G 256GB Phantom Black",
            ],
            "label": ["phones", "phones", "cases", "phones"],
        }
    ).to_csv(src, index=False)
    s = clean_catalogue([src], tmp_path / "out.jsonl", label=["label"], dedup="near", near_threshold=0.7)
    _contract(s)
    assert s.rows_out == 2
    assert s.rejected_by_reason == {"near_duplicate": 1, "exact_duplicate": 1}
    df = pd.read_json(tmp_path / "out.jsonl", lines=True, dtype=False)
    assert df["_near_dup_conflict"].tolist() == [True, False]


def test_options_and_errors(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("title,label\nA > B thing,A>B\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        clean_catalogue([src], tmp_path / "o.csv", dedup="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(MissingColumnError):
        clean_catalogue([src], tmp_path / "o.csv", text=["nope"])
    with pytest.raises(MissingColumnError):
        clean_catalogue([src], tmp_path / "o.csv", missing="nope=drop")
    with pytest.raises(ConfigError):
        clean_catalogue([src], src)
    with pytest.raises(ConfigError):
        clean_catalogue([src], tmp_path / "o.csv", near_threshold=1.5)
    with pytest.raises(ConfigError):
        clean_catalogue([src], tmp_path / "o.csv", shingle="word0")
    s = clean_catalogue([src], tmp_path / "o.csv", label=["label"], label_sep=" > ", rejects_path=tmp_path / "r.jsonl")
    _contract(s)
    assert (tmp_path / "r.jsonl").exists()
    assert pd.read_csv(tmp_path / "o.csv")["label"].tolist() == ["A > B"]


_cell = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "null", "N/A", "<b>x</b>", "a  b", "Ã©", "\ufffd", "dup", "Dup ", "&amp;"]),
    st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\r"), max_size=12),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_cell, _cell, _cell), min_size=1, max_size=12), st.sampled_from(["none", "exact", "near"]))
def test_row_contract_holds_on_generated_catalogues(tmp_path: Path, rows: list[tuple], dedup: str) -> None:
    d = Path(tempfile.mkdtemp(dir=tmp_path))
    src = d / "gen.jsonl"
    src.write_text(
        "".join(json.dumps({"title": a, "description": b, "label": c}) + "\n" for a, b, c in rows), encoding="utf-8"
    )
    out = d / "gen_out.jsonl"
    s = clean_catalogue(
        [src],
        out,
        text=["title", "description"],
        label=["label"],
        missing="label=drop",
        dedup=dedup,  # type: ignore[arg-type]
    )
    _contract(s)
    assert s.rows_in == len(rows)
    written = [line for line in out.read_text(encoding="utf-8").split("\n") if line.strip()]
    assert len(written) == s.rows_out
    assert len(_rejects(default_rejects_path(out))) == s.rows_rejected


def test_process_pool_gives_the_same_result(tmp_path: Path) -> None:
    inputs = _bad_inputs(tmp_path)
    kw = {"text": ["title", "description"], "label": ["label"], "missing": "title=drop", "chunksize": 2}
    one = clean_catalogue(inputs, tmp_path / "one.jsonl", workers=1, **kw)  # type: ignore[arg-type]
    two = clean_catalogue(inputs, tmp_path / "two.jsonl", workers=2, **kw)  # type: ignore[arg-type]
    _contract(two)
    assert (one.rows_in, one.rows_out, one.rejected_by_reason) == (two.rows_in, two.rows_out, two.rejected_by_reason)
    assert (tmp_path / "one.jsonl").read_text(encoding="utf-8") == (tmp_path / "two.jsonl").read_text(encoding="utf-8")
    key = lambda r: (r["source"], r["row"])  # noqa: E731
    assert sorted(_rejects(tmp_path / "one.jsonl.rejects.jsonl"), key=key) == sorted(
        _rejects(tmp_path / "two.jsonl.rejects.jsonl"), key=key
    )
