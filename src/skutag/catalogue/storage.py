"""Catalogue files on a local disk or in object storage (``s3://``, ``gs://`` ... URIs), for the commands that
run on a cluster (``skutag predict --ray``): expanding inputs (files, directories, globs), local copies to read,
and writing results back.

URIs go through ``pyarrow.fs`` (S3, GCS, HDFS are built in); other schemes through fsspec where the matching
package is installed (``s3fs`` is part of the ``ray`` extra). S3 is configured the standard AWS way, from the
environment of each process that touches it: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``,
and ``AWS_ENDPOINT_URL`` for an S3-compatible server (MinIO, Ceph, a test server).
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs

from skutag.catalogue.formats import extension_format
from skutag.catalogue.writer import write_catalogue
from skutag.errors import InputError

_GLOB_CHARS = "*?["
_COPY_BLOCK = 8 << 20


def is_uri(path: str | Path) -> bool:
    """``s3://bucket/key`` and the like (not a local path; ``file://`` counts as local)."""
    text = str(path)
    return "://" in text and not text.startswith("file://")


def _local(path: str | Path) -> Path:
    text = str(path)
    return Path(text.removeprefix("file://"))


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The file system of ``uri`` and the path inside it (``s3://b/k`` -> S3, ``b/k``)."""
    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        pass
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as exc:
        raise InputError(f"cannot open this URI: {exc}", source=uri) from exc
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def _scheme(uri: str) -> str:
    return uri.split("://", 1)[0] + "://"


def join(directory: str | Path, name: str) -> str:
    """``directory``/``name`` for a local directory or a URI prefix."""
    if is_uri(directory):
        return str(directory).rstrip("/") + "/" + name
    return str(_local(directory) / name)


def _is_catalogue_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith((".", "_")) and extension_format(base)[0] is not None


def expand_inputs(items: Sequence[str | Path]) -> list[str]:
    """Files to read from files, directories and globs, local or URIs, in the order given (each directory's
    and glob's files sorted by name). A directory gives the catalogue files under it (by their extension:
    .csv .tsv .json .jsonl .parquet ..., optionally .gz/.bz2; hidden and ``_`` names skipped); a file named
    on its own is taken whatever its name. Raises :class:`InputError` for an input that matches nothing."""
    out: dict[str, None] = {}
    for item in items:
        text = str(item)
        found = _expand_uri(text) if is_uri(text) else _expand_local(text)
        if not found:
            raise InputError("no catalogue files found here", source=text)
        out.update(dict.fromkeys(found))
    if not out:
        raise InputError("no input files given")
    return list(out)


def _expand_local(text: str) -> list[str]:
    path = _local(text)
    if any(c in text for c in _GLOB_CHARS) and not path.exists():
        return sorted(p for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    if path.is_dir():
        return sorted(str(p) for p in path.rglob("*") if p.is_file() and _is_catalogue_name(p.name))
    return [str(path)] if path.is_file() else []


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob over object keys as the shell reads one over paths: ``*`` and ``?`` stay inside one folder,
    ``**/`` spans any number of folders, ``[...]`` is a character class."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out, i = out + "[" + ("^" + body[1:] if body.startswith("!") else body) + "]", end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _expand_uri(uri: str) -> list[str]:
    fs, path = filesystem(uri)
    scheme = _scheme(uri)
    if any(c in path for c in _GLOB_CHARS):
        base = path[: min(path.index(c) for c in _GLOB_CHARS if c in path)].rsplit("/", 1)[0]
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        pattern = _glob_regex(path)
        return sorted(scheme + i.path for i in infos if i.type == pafs.FileType.File and pattern.fullmatch(i.path))
    info = fs.get_file_info(path.rstrip("/"))
    if info.type == pafs.FileType.File:
        return [uri]
    if info.type == pafs.FileType.Directory:
        infos = fs.get_file_info(pafs.FileSelector(path.rstrip("/"), recursive=True))
        return sorted(scheme + i.path for i in infos if i.type == pafs.FileType.File and _is_catalogue_name(i.path))
    return []


def file_size(path: str) -> int | None:
    """Bytes in ``path`` (local or URI); None when unknown."""
    try:
        if not is_uri(path):
            return _local(path).stat().st_size
        fs, inner = filesystem(path)
        size = fs.get_file_info(inner).size
        return int(size) if size is not None else None
    except (OSError, pa.ArrowException):
        return None


@contextlib.contextmanager
def local_copy(path: str | Path) -> Iterator[Path]:
    """A local path holding ``path``'s bytes: the path itself when local, else a temporary copy with the same
    file name (its extension tells the format), removed afterwards."""
    if not is_uri(path):
        yield _local(path)
        return
    uri = str(path)
    fs, inner = filesystem(uri)
    tmp = Path(tempfile.mkdtemp(prefix="skutag-in-"))
    try:
        target = tmp / (inner.rstrip("/").rsplit("/", 1)[-1] or "input")
        try:
            with fs.open_input_stream(inner) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, _COPY_BLOCK)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"cannot read the object: {exc}", source=uri) from exc
        yield target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def upload(local: Path, target: str) -> None:
    """Copy the local file ``local`` to ``target`` (a URI; one PUT, so readers see the old object or the new)."""
    fs, inner = filesystem(target)
    with local.open("rb") as src, fs.open_output_stream(inner) as dst:
        shutil.copyfileobj(src, dst, _COPY_BLOCK)


def write_frame(frame: pd.DataFrame, target: str) -> int:
    """Write ``frame`` to ``target`` (a local path or a URI; format from its extension, as
    :func:`~skutag.catalogue.writer.write_catalogue`): complete or not at all."""
    if not is_uri(target):
        return write_catalogue(frame, _local(target))
    with tempfile.TemporaryDirectory(prefix="skutag-out-") as tmp:
        local = Path(tmp) / target.rsplit("/", 1)[-1]
        n = write_catalogue(frame, local)
        upload(local, target)
    return n


def write_text(target: str, text: str) -> None:
    """Write ``text`` (UTF-8) to a local path or a URI."""
    if not is_uri(target):
        from skutag.fsutil import atomic_write_text

        atomic_write_text(_local(target), text)
        return
    fs, inner = filesystem(target)
    with fs.open_output_stream(inner) as dst:
        dst.write(text.encode("utf-8"))


def make_dir(directory: str | Path) -> None:
    """Create a local directory (with its parents); object stores need none."""
    if not is_uri(directory):
        _local(directory).mkdir(parents=True, exist_ok=True)


def remove_matching(directory: str | Path, patterns: Sequence[str]) -> int:
    """Delete the files directly in ``directory`` whose names match one of ``patterns``; return how many."""
    if is_uri(directory):
        fs, inner = filesystem(str(directory))
        infos = fs.get_file_info(pafs.FileSelector(inner.rstrip("/"), allow_not_found=True))
        doomed = [
            i.path
            for i in infos
            if i.type == pafs.FileType.File and any(fnmatch.fnmatch(i.base_name, pat) for pat in patterns)
        ]
        for p in doomed:
            fs.delete_file(p)
        return len(doomed)
    local = _local(directory)
    if not local.is_dir():
        return 0
    doomed_local = [p for p in local.iterdir() if p.is_file() and any(fnmatch.fnmatch(p.name, s) for s in patterns)]
    for p in doomed_local:
        p.unlink()
    return len(doomed_local)
