"""Model cards: how every saved artefact (a category model, the tagger, the attribute extractor) is written to
and opened from its directory.

A directory holds JSON + safetensors/npz/ONNX files and a ``meta.json`` card listing each file's sha256, the
format version, the kind and the library versions. ``save_artefact`` writes it atomically (a crash leaves the
previous version loadable: ``fsutil.atomic_path``); ``open_artefact`` checks the card, the kind and every
checksum before anything is deserialised, and reads one version even if a save swaps the link meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from skutag.errors import ModelLoadError
from skutag.fsutil import atomic_path, pinned

FORMAT = "skutag-model"
FORMAT_VERSION = 1
META_FILE = "meta.json"
#: Sub-models a model directory may hold beside its category model (``skutag train --model extractor|tags``): each a
#: complete artefact of its own in that subfolder. Saving the category model again keeps them.
PART_NAMES = ("attributes", "tags")
#: The card's kind for a directory with parts but no category model yet.
BUNDLE_KIND = "tag-bundle"


def save_artefact(
    directory: str | Path,
    kind: str,
    write_state: Callable[[Path], None],
    *,
    card: dict[str, Any] | None = None,
    **fields: Any,
) -> Path:
    """Write ``directory`` atomically: ``write_state(tmp)`` fills a fresh folder, then the card is added."""
    directory = Path(directory)
    with atomic_path(directory) as tmp:
        tmp.mkdir(parents=True)
        write_state(tmp)
        carry_parts(directory, tmp)
        write_meta(tmp, kind, card=card, **fields)
    return directory


def carry_parts(directory: Path, tmp: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Copy the parts (:data:`PART_NAMES`) of the version ``directory`` holds now into the new version ``tmp``,
    except ``skip`` and those ``tmp`` already has: retraining the category model keeps the extractor."""
    current = pinned(directory)
    carried = []
    for name in PART_NAMES:
        src = current / name
        if name in skip or (tmp / name).exists() or not src.is_dir():
            continue
        copy_version(src, tmp / name)
        carried.append(name)
    return carried


def copy_version(src: Path, dst: Path, skip: tuple[str, ...] = ()) -> None:
    """Copy a saved directory's current contents to ``dst`` (new): links followed, version folders and
    temporaries (hidden names) and the top-level names in ``skip`` left out. Saved versions are never modified,
    so files are hard-linked (instant, no space) where the filesystem allows."""
    root = str(pinned(src))

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if n.startswith(".") or (folder == root and n in skip)]

    shutil.copytree(root, dst, copy_function=_link_or_copy, ignore=ignore)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def open_artefact(directory: str | Path, kind: str) -> tuple[Path, dict[str, Any]]:
    """The pinned version folder and its card, once the card, the kind and every checksum are verified."""
    folder = pinned(directory)
    meta = read_meta(folder)
    if meta.get("kind") != kind:
        raise ModelLoadError(f"{folder}: holds a {meta.get('kind')!r} model, not {kind!r}")
    verify_files(folder, meta)
    return folder, meta


def write_meta(directory: Path, kind: str, *, card: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """Write ``meta.json`` for the files already in ``directory``: format, kind, versions, sha256 per file.

    ``card`` (the model card: data hash, metrics, ...) comes first; ``fields`` are added after ``kind``.
    """
    files = {p.name: sha256_file(p) for p in sorted(directory.iterdir()) if p.is_file()}
    meta = {
        **(card or {}),
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        **fields,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": library_versions(),
        "files": files,
    }
    (directory / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False, default=str), "utf-8")
    return meta


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_meta(directory: Path) -> dict[str, Any]:
    """meta.json of a model directory, checked to be a skutag model of a readable format version."""
    if not directory.is_dir():
        raise ModelLoadError(f"{directory}: no such model directory")
    path = directory / META_FILE
    if not path.is_file():
        raise ModelLoadError(f"{directory}: not a skutag model (no {META_FILE})")
    try:
        meta = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: unreadable model card ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelLoadError(f"{directory}: not a skutag model ({META_FILE} has no format {FORMAT!r})")
    if int(meta.get("format_version", -1)) > FORMAT_VERSION:
        raise ModelLoadError(f"{directory}: model format {meta.get('format_version')} is newer than this skutag")
    if not isinstance(meta.get("files"), dict) or not meta["files"]:
        raise ModelLoadError(f"{directory}: model card lists no files")
    return meta


def verify_files(directory: Path, meta: dict[str, Any]) -> None:
    """Every file listed in the card exists and has its recorded sha256."""
    for name, digest in meta["files"].items():
        path = directory / str(name)
        if Path(str(name)).name != str(name) or not path.is_file():
            raise ModelLoadError(f"{directory}: model file {name!r} is missing")
        if sha256_file(path) != digest:
            raise ModelLoadError(f"{path}: checksum mismatch (corrupted or truncated model file)")


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("skutag", "numpy", "scipy", "pandas", "scikit-learn", "safetensors"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out
