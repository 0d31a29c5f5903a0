"""WAL checkpoints in a background thread: automatic ones off for the writer, the WAL still gets checkpointed."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from skutag.store import PredictionRecord, TagStore, make_engine
from skutag.store.checkpoint import Checkpointer


def _record(i: int) -> PredictionRecord:
    return PredictionRecord(
        external_id=f"p{i}",
        fields={"name": f"product {i}", "description": "words " * 50},
        path=["a", "b"],
        level_scores=[0.9, 0.8],
        path_score=0.8,
        topk=[{"path": ["a", "b"], "score": 0.8}],
        decision="auto_accepted",
        threshold=0.5,
        model_version="linear-test",
    )


def _rows_in_main_file(tmp_path: Path) -> int:
    """Predictions in the database file alone (a copy without its WAL): what checkpoints have moved there."""
    copy = tmp_path / "copy.db"
    shutil.copyfile(tmp_path / "s.db", copy)
    try:
        with sqlite3.connect(copy) as conn:
            return int(conn.execute("SELECT count(*) FROM predictions").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        copy.unlink()


def test_checkpointer_takes_checkpoints_off_the_writer(tmp_path: Path) -> None:
    with TagStore(f"sqlite:///{tmp_path / 's.db'}") as store:
        cp = Checkpointer(store.engine, every_s=0.05)
        try:
            for i in range(50):
                store.record_predictions([_record(i)])
            with store.engine.connect() as conn:
                assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 0
            deadline = time.monotonic() + 10
            while _rows_in_main_file(tmp_path) < 50 and time.monotonic() < deadline:
                time.sleep(0.05)
            checkpointed = _rows_in_main_file(tmp_path)  # before stop(), which checkpoints once more
        finally:
            cp.stop()
        assert checkpointed == 50  # moved into the database file by the thread, not by the writer
        assert store.counts()["predictions"] == 50
    assert cp._thread is not None and not cp._thread.is_alive()


def test_checkpointer_does_nothing_for_other_databases() -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none")  # never connected
    cp = Checkpointer(engine)
    cp.stop()
    assert cp._thread is None
