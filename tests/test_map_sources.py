"""Taxonomies to map onto: files of paths (comments, implied parents, Google's `id - A > B` lines), the
published ones by name with their definitions, and the errors a user gets for a wrong one."""

from __future__ import annotations

from pathlib import Path

import pytest

from skutag.datasets.paths import find_shared_data
from skutag.errors import InputError, TaxonomyError
from skutag.taxonomy.sources import load_taxonomy_source, read_path_file


def test_path_file_with_comments_and_implied_parents(tmp_path: Path) -> None:
    f = tmp_path / "tax.txt"
    f.write_text(
        "\ufeff# my shop\n\nHome > Kitchen > Knives\nHome>Kitchen>Pans\n  Garden > Tools  \n", encoding="utf-8"
    )
    tree = read_path_file(f)
    assert sorted(tree.path(n.id) for n in tree.leaves()) == [
        ("Garden", "Tools"),
        ("Home", "Kitchen", "Knives"),
        ("Home", "Kitchen", "Pans"),
    ]
    assert tree.is_valid_path(["Home", "Kitchen"])  # the parent no line names on its own
    source = load_taxonomy_source(f)
    assert source.name == str(f) and source.notes == {} and len(source.fingerprint) == 32
    f.write_text("Home > Kitchen > Knives\n", encoding="utf-8")
    assert load_taxonomy_source(f).fingerprint != source.fingerprint  # the cache key follows the file


def test_google_lines_are_read_by_the_google_loader(tmp_path: Path) -> None:
    f = tmp_path / "google.txt"
    f.write_text("1 - Animals\n3237 - Animals > Live Animals\n2 - Animals > Pet Supplies\n", encoding="utf-8")
    tree = read_path_file(f)
    assert tree.node("3237").name == "Live Animals" and tree.path("2") == ("Animals", "Pet Supplies")


def test_bad_taxonomies_are_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="no category paths"):
        read_path_file(empty)
    with pytest.raises(InputError, match="unknown taxonomy 'shopfy'"):
        load_taxonomy_source("shopfy")
    dots = tmp_path / "dots.txt"
    dots.write_text("A > ../etc\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="relative path"):
        read_path_file(dots)
    ok = tmp_path / "ok.txt"
    ok.write_text("A > B\n", encoding="utf-8")
    with pytest.raises(InputError, match="Shopify taxonomy only"):
        load_taxonomy_source(ok, lang="fr")


def shared() -> Path:
    root = find_shared_data()
    if root is None or not (root / "taxonomies" / "gs1-gpc" / "gs1.json.bz2").is_file():
        pytest.skip("shared taxonomies not available")
    return root


def test_gs1_by_name_carries_includes_and_excludes() -> None:
    shared()
    source = load_taxonomy_source("gs1")
    assert source.name == "gs1" and len(source.tree.leaves()) == 4867
    brick = source.tree.node("10001682")  # Artists Accessories
    assert source.tree.path(brick.id) == ("Arts/Crafts/Needlework", "Arts/Crafts/Needlework Supplies", brick.name)
    assert "Brush Cases" in source.notes[brick.id] and "Excludes" not in source.notes[brick.id]
    assert source.excludes[brick.id].startswith("Excludes products such as Artists Paints")
    assert len(source.excludes) > 3000
    with pytest.raises(InputError, match="English only"):
        load_taxonomy_source("gs1", lang="fr")


def test_shopify_in_another_language_keeps_the_ids() -> None:
    shared()
    en, fr = load_taxonomy_source("shopify"), load_taxonomy_source("shopify", lang="fr")
    assert len(en.tree) == len(fr.tree) == 10281 and en.fingerprint != fr.fingerprint
    leaf = en.tree.leaves()[0]
    assert fr.tree.node(leaf.id).level == leaf.level and fr.tree.node(leaf.id).name != leaf.name
