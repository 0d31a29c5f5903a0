"""Atomic file and directory writes: a crash mid-write never leaves a half-written result behind.

A file is written beside its target and ``os.replace``-d onto it. A directory (a model, a checkpoint) cannot
be swapped that way: rename will not replace a non-empty directory, and moving the old one aside first leaves
a moment with nothing at the target. So a saved directory is an immutable version folder
``.NAME.v-<hex>`` beside ``NAME``, and ``NAME`` is a relative symlink to it; a save writes a new
version and replaces the link in one ``os.replace``, so ``NAME`` always resolves to the old or the new
version, whenever the process dies. A plain directory written by an older skutag is exchanged for the link
with ``renameat2(RENAME_EXCHANGE)`` (Linux), equally atomic; where that call is missing or the filesystem
refuses it, that one first save moves the old directory aside (a brief window, logged). The next save of
the same target removes what interrupted saves left (temporaries, unlinked versions), except what another
process still running may be in the middle of saving.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import logging
import os
import re
import secrets
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# errno values meaning "this system or filesystem cannot exchange", as opposed to a real failure
_NO_EXCHANGE = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is published at ``target``.

    Works for files (write to the yielded path) and for directories (create it and fill it; see the module
    docstring for the versioned layout). On an exception the temporary path is removed and ``target`` is
    left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(target, suffix)
    try:
        yield tmp
        if tmp.is_dir():
            _replace_dir(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise


def atomic_write_text(target: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding=encoding)


def pinned(directory: str | os.PathLike[str]) -> Path:
    """The version folder a saved directory's link points to now (the path itself when it is no link).

    A loader that reads every file through this path sees one version, even if a save swaps the link
    in the middle of the load (reading through the link could mix files of two versions).
    """
    path = Path(directory)
    return path.resolve() if path.is_symlink() else path


# ---- the directory swap -------------------------------------------------------------------------------------


def _tmp_sibling(target: Path, suffix: str = "") -> Path:
    """A fresh temporary name beside ``target``, tagged with our pid so a later cleanup can tell whose it is."""
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(6)}{suffix}.tmp")


def _version_sibling(target: Path) -> Path:
    """A fresh version-folder name beside ``target``."""
    return target.with_name(f".{target.name}.v-{secrets.token_hex(6)}")


def _replace_dir(tmp: Path, target: Path) -> None:
    """Publish the finished directory ``tmp`` at ``target`` with no moment where ``target`` is missing.

    Steps: make a temporary link to a new version name, rename ``tmp`` to that name, swap the link in (one
    atomic step), then clean up. A kill before the swap leaves the old ``target``; after it, the new one.
    The link comes first so that a version not yet published is always named by a live temporary link,
    which is how a concurrent cleanup tells it from a superseded one.
    """
    _fsync_tree(tmp)
    version = _version_sibling(target)
    link = _tmp_sibling(target)
    os.symlink(version.name, link)  # relative: survives moving the parent folder
    try:
        os.rename(tmp, version)
        _swap_in(link, target)
    except BaseException:
        with contextlib.suppress(OSError):
            if link.is_symlink():
                link.unlink()
        if os.path.lexists(version) and not _points_to(target, version):
            shutil.rmtree(version, ignore_errors=True)
        raise
    _fsync_dir(target.parent)
    with contextlib.suppress(OSError):  # the save has succeeded; the next one retries the cleanup
        _clean_leftovers(target)


def _swap_in(link: Path, target: Path) -> None:
    """Put the symlink ``link`` at ``target`` in one step; a plain directory there (older layout) is exchanged.

    After an exchange the old directory sits at ``link``'s temporary name, which the cleanup removes.
    """
    try:
        os.replace(link, target)
        return
    except IsADirectoryError:
        pass  # target is a real directory: saved by an older skutag (or made by hand)
    try:
        _exchange(link, target)
    except OSError as exc:
        if exc.errno not in _NO_EXCHANGE:
            raise
        _move_aside_and_replace(link, target)


def _move_aside_and_replace(link: Path, target: Path) -> None:
    """Fallback where renameat2 cannot exchange: the one non-atomic upgrade of an older plain directory.

    Between the two renames ``target`` is missing; a process killed there leaves the old directory at a
    ``.NAME.<pid>-<hex>.tmp`` name. Later saves replace the link and need no fallback.
    """
    log.warning(
        "%s: this system cannot exchange directories atomically; upgrading the older layout in two steps", target
    )
    aside = _tmp_sibling(target)
    os.rename(target, aside)
    try:
        os.replace(link, target)
    except BaseException:
        os.rename(aside, target)
        raise


def _exchange(a: Path, b: Path) -> None:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); OSError(ENOSYS) where unavailable."""
    renameat2 = _renameat2()
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available", str(a))
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(a), None, str(b))


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """glibc's ``renameat2`` (2.28+), or None off Linux or on an older C library."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _points_to(target: Path, version: Path) -> bool:
    """Whether ``target`` is our link to ``version`` (then ``version`` must not be removed)."""
    return target.is_symlink() and os.readlink(target) == version.name


# ---- leftovers ----------------------------------------------------------------------------------------------


def _clean_leftovers(target: Path) -> None:
    """Remove what earlier saves of ``target`` left: temporaries, and versions that no link names.

    A temporary of a process still running is kept (the owner's pid is in its name; it may be mid-save),
    and so is a version that such a process's temporary link names (written, not yet published).
    """
    entries = _leftovers(target)  # listed before the links are read: see _in_use
    in_use = _in_use(target, entries)
    for path, pid in entries.items():
        if path.name not in in_use and not _busy(pid):
            _remove(path)


def _leftovers(target: Path) -> dict[Path, int | None]:
    """{path: owner pid, None where unknown or irrelevant} of every temporary, version or old-layout leftover
    of ``target``. Names must match exactly, so other targets' entries (``.NAME2.v-…``) never do."""
    pattern = re.compile(
        rf"\.{re.escape(target.name)}\."
        r"(?:(?P<tmp>\d+)-[0-9a-f]{12}\.tmp|v-[0-9a-f]{12}|old-(?P<old>\d+)|[a-z0-9_]{8}\.tmp)"
    )
    with os.scandir(target.parent) as scan:
        names = sorted(e.name for e in scan)
    found: dict[Path, int | None] = {}
    for name in names:
        m = pattern.fullmatch(name)
        if m:
            pid = m.group("tmp") or m.group("old")  # none for versions and an older skutag's mkstemp names
            found[target.parent / name] = int(pid) if pid else None
    return found


def _in_use(target: Path, entries: dict[Path, int | None]) -> set[str]:
    """Names of the versions that must stay: the one ``target`` links to, and those live saves are publishing.

    Read after listing and the target last: a version listed as unpublished either still has its live link
    here, or that link has since become ``target`` and is read below; so no version is taken for stale
    while its save is publishing it.
    """
    names = set()
    for path, pid in entries.items():
        if _busy(pid):
            with contextlib.suppress(OSError):  # not a link, or published meanwhile
                names.add(os.readlink(path))
    with contextlib.suppress(OSError):
        names.add(os.readlink(target))
    return names


def _busy(pid: int | None) -> bool:
    """Whether a temporary tagged ``pid`` may belong to a save in progress: another process, still running.

    Our own are not (this save is done, and one process saves one target at a time).
    """
    return pid is not None and pid != os.getpid() and _alive(pid)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a pid we may not signal exists too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    """Delete a leftover file, link or directory tree, ignoring errors (the next save tries again)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


# ---- durability ---------------------------------------------------------------------------------------------


def _fsync_tree(directory: Path) -> None:
    """Flush every file and folder under ``directory`` to disk, so a power cut after the swap finds them whole."""
    for root, _dirs, files in os.walk(directory):
        for name in files:
            _fsync_path(Path(root) / name)
        _fsync_dir(Path(root))


def _fsync_dir(directory: Path) -> None:
    """Flush a folder's entries (renames and links in it); ignored where folders cannot be synced."""
    with contextlib.suppress(OSError):
        _fsync_path(directory)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
