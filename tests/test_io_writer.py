"""Writer: round trips through every format, streaming chunks, atomicity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skutag.catalogue.reader import read_catalogue
from skutag.catalogue.schema import ROW_COL, SOURCE_COL
from skutag.catalogue.writer import write_catalogue
from skutag.errors import UnsupportedFormatError

EXTS = ["csv", "tsv", "json", "jsonl", "parquet", "csv.gz", "tsv.gz", "json.gz", "jsonl.gz"]


def sample() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["1", "2", "3"],
            "title": ['Red "shoe", size 42', "Café\tcrème\nline two", None],
            "tags": [["a", "b"], [], None],
        }
    )


@pytest.mark.parametrize("ext", EXTS)
def test_round_trip(tmp_path: Path, ext: str) -> None:
    df = sample()
    p = tmp_path / f"out.{ext}"
    assert write_catalogue(df, p) == 3
    back = read_catalogue(p)
    assert back["id"].tolist() == ["1", "2", "3"]
    assert back["title"].tolist()[:2] == df["title"].tolist()[:2] and pd.isna(back["title"].iloc[2])
    if ext.startswith(("json", "parquet")):
        assert back["tags"].tolist()[:2] == [["a", "b"], []]
    else:  # delimited text stores lists as JSON
        assert back["tags"].tolist()[:2] == ['["a", "b"]', "[]"]
    assert back[ROW_COL].tolist() == [1, 2, 3] and set(back[SOURCE_COL]) == {str(p)}


@pytest.mark.parametrize("ext", ["csv", "jsonl", "json", "parquet"])
def test_streaming_chunks(tmp_path: Path, ext: str) -> None:
    def chunks() -> Iterator[pd.DataFrame]:
        for start in range(0, 10, 3):
            yield pd.DataFrame(
                {
                    "id": [str(i) for i in range(start, min(start + 3, 10))],
                    "n": [1.5] * len(range(start, min(start + 3, 10))),
                }
            )

    p = tmp_path / f"s.{ext}"
    assert write_catalogue(chunks(), p) == 10
    back = read_catalogue(p)
    assert back["id"].tolist() == [str(i) for i in range(10)] and (back["n"] == "1.5").all()


def test_parquet_later_chunk_with_other_types(tmp_path: Path) -> None:
    a = pd.DataFrame({"id": ["1"], "x": [None], "v": ["s"]})
    b = pd.DataFrame({"v": [{"k": 1}], "id": ["2"], "x": ["later"]})
    p = tmp_path / "m.parquet"
    assert write_catalogue(iter([a, b]), p) == 2
    back = read_catalogue(p)
    assert back["x"].tolist()[1] == "later" and back["v"].tolist() == ["s", '{"k": 1}']


def test_format_errors_and_explicit_fmt(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFormatError):
        write_catalogue(sample(), tmp_path / "x.xlsx")
    with pytest.raises(UnsupportedFormatError):
        write_catalogue(sample(), tmp_path / "x.parquet.gz")
    assert write_catalogue(sample(), tmp_path / "x.out", fmt="jsonl") == 3
    assert len(read_catalogue(tmp_path / "x.out")) == 3


def test_atomic_on_failure(tmp_path: Path) -> None:
    p = tmp_path / "keep.csv"
    p.write_text("old\n")

    def failing() -> Iterator[pd.DataFrame]:
        yield sample()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_catalogue(failing(), p)
    assert p.read_text() == "old\n" and [x.name for x in tmp_path.iterdir()] == ["keep.csv"]


def test_empty_input_writes_nothing_but_a_valid_file(tmp_path: Path) -> None:
    assert write_catalogue(iter([]), tmp_path / "e.json") == 0
    assert (tmp_path / "e.json").read_text().strip() == "[]"


text = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=("Cs", "Cc"), include_characters="\n\t\r"), min_size=1, max_size=30),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(st.tuples(text, text), min_size=1, max_size=8),
    ext=st.sampled_from(["csv", "jsonl", "parquet"]),
)
def test_round_trip_property(tmp_path: Path, values: list[tuple[str | None, str | None]], ext: str) -> None:
    df = pd.DataFrame(
        {"id": [str(i) for i in range(len(values))], "a": [v[0] for v in values], "b": [v[1] for v in values]}
    )
    p = tmp_path / f"h.{ext}"
    write_catalogue(df, p)
    back = read_catalogue(p)

    def norm(v: object) -> object:
        return None if v is None or (isinstance(v, float) and v != v) or v == "" else v

    for col in ("a", "b"):
        expected = [norm(v) for v in df[col].tolist()]
        assert [norm(v) for v in back[col].tolist()] == expected
