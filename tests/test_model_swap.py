"""The model-directory swap under ``kill -9``: a save killed right before or right after any filesystem step
of the swap leaves a directory that loads, as the old or the new model, and the next save leaves nothing
behind. The kill is injected (a forked child wraps each step and SIGKILLs itself), not hoped for."""

from __future__ import annotations

import errno
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from skutag import fsutil
from skutag.errors import ModelLoadError
from skutag.models import CategoryModel, load_model
from skutag.models.linear.model import LinearModel
from test_model_data import labels_of, synthetic

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork + SIGKILL + renameat2: Linux")

TEXT = ["title", "description"]
NAME = "m"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two small fitted linear models told apart by their card note, and the old one as a plain folder."""
    out: dict[str, Any] = {}
    root = tmp_path_factory.mktemp("sources")
    for note, seed in (("old", 5), ("new", 6)):
        train = synthetic(120, seed=seed)
        model = LinearModel(n_jobs=1).fit(train[TEXT], labels_of(train))
        model.card_ = {"note": note}
        out[note] = model
    out["old"].save(root / "old")
    out["old_plain"] = Path(shutil.copytree(root / "old", root / "old_plain"))  # the layout older versions wrote
    return out


# ---- the kill harness -----------------------------------------------------------------------------------------


def _hooked(name: str, fn: Callable[..., Any], calls: list[str], kill: tuple[str, int], conn: Connection) -> Any:
    """``fn`` recording its call in ``calls`` and SIGKILLing the process right before or after call number N."""

    def die() -> None:
        conn.send(calls)
        os.kill(os.getpid(), signal.SIGKILL)

    def call(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        at_this_call = len(calls) == kill[1]
        if kill[0] == "before" and at_this_call:
            die()
        try:
            return fn(*args, **kwargs)
        finally:  # also after a call that raised (replace onto a plain directory does)
            if kill[0] == "after" and at_this_call:
                die()

    return call


def _child(model: CategoryModel, target: Path, kill: tuple[str, int], no_exchange: bool, conn: Connection) -> None:
    """Forked: wrap every filesystem step the swap takes, then save (its globals are its own copy)."""
    calls: list[str] = []
    if no_exchange:
        fsutil._exchange = _unsupported
    for name in ("rename", "replace", "symlink"):
        setattr(os, name, _hooked(name, getattr(os, name), calls, kill, conn))
    shutil.rmtree = _hooked("rmtree", shutil.rmtree, calls, kill, conn)
    fsutil._exchange = _hooked("exchange", fsutil._exchange, calls, kill, conn)
    model.save(target)
    conn.send(calls)


def _unsupported(a: Path, b: Path) -> None:
    raise OSError(errno.ENOSYS, "renameat2 is not available", str(a))


def _save(model: CategoryModel, target: Path, kill: tuple[str, int] = ("never", 0), no_exchange: bool = False) -> Any:
    """(exit code, the steps the child took) of a save in a forked child, killed as ``kill`` says."""
    ctx = multiprocessing.get_context("fork")
    reader, writer = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(model, target, kill, no_exchange, writer))
    proc.start()
    writer.close()
    proc.join(120)
    try:
        calls = reader.recv() if reader.poll(5) else None
    except EOFError:  # the child failed before reporting (its exit code tells)
        calls = None
    return proc.exitcode, calls


def _note(target: Path) -> str | None:
    """Which model ``target`` loads as (checksums verified); None when there is nothing at ``target``."""
    if not os.path.lexists(target):
        return None
    return str(load_model(target).card_["note"])


def _clean(parent: Path) -> bool:
    """Only the link and the version it names are left beside it."""
    link = parent / NAME
    return link.is_symlink() and sorted(os.listdir(parent)) == sorted([NAME, os.readlink(link)])


def _kill_at_every_step(
    models: dict[str, Any], tmp_path: Path, prepare: Callable[[Path], None], no_exchange: bool = False
) -> tuple[list[str], list[tuple[str, int, str | None, list[str]]]]:
    """Kill a save of the new model before and after each step; (steps, [(when, step, loads as, leftovers)]).

    Each leftover that is a model folder is recorded as ``name=note``; after each kill a healthy save
    follows and must leave only the link and its version."""
    dry = tmp_path / "dry"
    dry.mkdir()
    prepare(dry / NAME)
    code, steps = _save(models["new"], dry / NAME, no_exchange=no_exchange)
    assert code == 0 and _note(dry / NAME) == "new" and _clean(dry)
    seen = []
    for step in range(1, len(steps) + 1):
        for when in ("before", "after"):
            parent = tmp_path / f"{when}-{step}"
            parent.mkdir()
            prepare(parent / NAME)
            code, calls = _save(models["new"], parent / NAME, (when, step), no_exchange)
            assert code == -signal.SIGKILL and calls == steps[:step], (when, step, calls)
            leftovers = sorted(set(os.listdir(parent)) - {NAME, _link_of(parent / NAME)})
            seen.append((when, step, _note(parent / NAME), [_describe(parent / name) for name in leftovers]))
            models["old"].save(parent / NAME)  # the next save, in a healthy process
            assert _note(parent / NAME) == "old" and _clean(parent), (when, step, os.listdir(parent))
    return steps, seen


def _describe(path: Path) -> str:
    """``name=note`` for a leftover holding a whole model, else the bare name."""
    if path.is_symlink() or not (path / "meta.json").is_file():
        return path.name
    return f"{path.name}={_note(path)}"


def _link_of(path: Path) -> str:
    return os.readlink(path) if path.is_symlink() else ""


def _old_then_new(seen: list[tuple[str, int, str | None, list[str]]], first: str | None) -> None:
    """The kills before the committing step load ``first``, all later ones the new model; never anything else."""
    notes = [note for _, _, note, _ in seen]
    flip = notes.index("new")
    assert flip > 0 and notes == [first] * flip + ["new"] * (len(notes) - flip), seen


# ---- kill tests ---------------------------------------------------------------------------------------------


def test_kill_at_each_step_replacing_a_saved_model(models: dict[str, Any], tmp_path: Path) -> None:
    steps, seen = _kill_at_every_step(models, tmp_path, lambda target: models["old"].save(target))
    assert steps == ["symlink", "rename", "replace", "rmtree"]  # link made, version in place, link swapped, old gone
    _old_then_new(seen, "old")


def test_kill_at_each_step_of_a_first_save(models: dict[str, Any], tmp_path: Path) -> None:
    steps, seen = _kill_at_every_step(models, tmp_path, lambda target: None)
    assert steps == ["symlink", "rename", "replace"]
    _old_then_new(seen, None)  # nothing, then the new model; never a half-written one


def _plain(models: dict[str, Any]) -> Callable[[Path], None]:
    """Put the old model at the target as a plain folder, as skutag wrote it before the versioned layout."""

    def prepare(target: Path) -> None:
        shutil.copytree(models["old_plain"], target)

    return prepare


def _can_exchange(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    (probe / "dir").mkdir(parents=True)
    os.symlink("dir", probe / "link")
    try:
        fsutil._exchange(probe / "dir", probe / "link")
    except OSError:
        return False
    finally:
        shutil.rmtree(probe)
    return True


def test_kill_at_each_step_upgrading_a_plain_directory(models: dict[str, Any], tmp_path: Path) -> None:
    """A model directory saved by an older skutag is exchanged for the link (renameat2): no window either."""
    if not _can_exchange(tmp_path):
        pytest.skip("this filesystem cannot RENAME_EXCHANGE")
    steps, seen = _kill_at_every_step(models, tmp_path, _plain(models))
    # the replace fails (a link cannot replace a directory), the exchange swaps them, the old folder is removed
    assert steps == ["symlink", "rename", "replace", "exchange", "rmtree"]
    _old_then_new(seen, "old")


def test_kill_during_fallback_upgrade_has_only_the_documented_window(models: dict[str, Any], tmp_path: Path) -> None:
    """Without renameat2 the one upgrade of a plain directory moves it aside first: killed right there, the
    target is missing but the old model lies whole in the one leftover, and the next save clears it."""
    steps, seen = _kill_at_every_step(models, tmp_path, _plain(models), no_exchange=True)
    assert steps == ["symlink", "rename", "replace", "exchange", "rename", "replace", "rmtree"]
    window = [(when, step) for when, step, note, _ in seen if note is None]
    assert window == [("after", 5), ("before", 6)], seen
    for _, _, note, leftovers in seen:
        if note is None:  # nothing was lost: the old model lies whole beside the new version
            assert sorted(n.split("=")[1] for n in leftovers if "=" in n) == ["new", "old"], leftovers
    _old_then_new([s for s in seen if s[2] is not None], "old")


# ---- layout, leftovers, failures ----------------------------------------------------------------------------


def test_saved_layout_is_a_link_to_one_version(models: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / NAME
    models["old"].save(target)
    first = os.readlink(target)
    assert first.startswith(f".{NAME}.v-") and _clean(tmp_path)
    models["new"].save(target)
    assert os.readlink(target) != first and _clean(tmp_path) and _note(target) == "new"
    assert fsutil.pinned(target) == (tmp_path / os.readlink(target)).resolve()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_next_save_removes_leftovers_of_dead_saves_and_older_versions(models: dict[str, Any], tmp_path: Path) -> None:
    dead = _dead_pid()
    target = tmp_path / NAME
    shutil.copytree(models["old_plain"], target)
    for name in (f".{NAME}.old-{dead}", f".{NAME}.ab_cd123.tmp", f".{NAME}.{dead}-0123456789ab.tmp"):
        shutil.copytree(models["old_plain"], tmp_path / name)  # older skutag's leftovers; a killed save's tmp
    shutil.copytree(models["old_plain"], tmp_path / f".{NAME}.v-0123456789ab")  # an unlinked version
    os.symlink("nowhere", tmp_path / f".{NAME}.{dead}-ba9876543210.tmp")  # a stale temporary link
    models["new"].save(target)
    assert _clean(tmp_path) and _note(target) == "new"


def test_saves_in_progress_and_other_targets_are_kept(models: dict[str, Any], tmp_path: Path) -> None:
    """A running process may be filling its temporary, or have renamed it to a version its temporary link
    names but not yet swapped that link in; versions no link names go, whoever wrote them."""
    live = os.getppid()
    models["old"].save(tmp_path / NAME)
    superseded = os.readlink(tmp_path / NAME)
    (tmp_path / f".{NAME}.{live}-0123456789ab.tmp").mkdir()  # being filled
    (tmp_path / f".{NAME}.v-0123456789ab").mkdir()  # written, about to be published by:
    os.symlink(f".{NAME}.v-0123456789ab", tmp_path / f".{NAME}.{live}-ba9876543210.tmp")
    others = [f".{NAME}2.v-0123456789ab", f"{NAME}.v-0123456789ab", f".{NAME}.x.v-0123456789ab", "m.1"]
    for name in others:
        (tmp_path / name).mkdir()
    before = set(os.listdir(tmp_path))
    models["new"].save(tmp_path / NAME)
    assert set(os.listdir(tmp_path)) == before - {superseded} | {os.readlink(tmp_path / NAME)}


def test_failed_swap_keeps_the_old_model_and_leaves_nothing(
    models: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / NAME
    models["old"].save(target)

    def no_links(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EPERM, "no symlinks here")

    monkeypatch.setattr(os, "symlink", no_links)
    with pytest.raises(OSError, match="no symlinks"):
        models["new"].save(target)
    assert _note(target) == "old" and _clean(tmp_path)


def test_missing_and_dangling_targets_fail_cleanly(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no such model directory"):
        load_model(tmp_path / NAME)
    os.symlink(f".{NAME}.v-1-0123456789ab", tmp_path / NAME)
    with pytest.raises(ModelLoadError, match="no such model directory"):
        load_model(tmp_path / NAME)
