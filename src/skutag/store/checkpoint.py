"""SQLite WAL checkpoints off the request path: a background thread instead of the committing connection.

By default SQLite checkpoints (copies the WAL into the database and fsyncs it) inside whichever commit pushes the
WAL past 1,000 pages: every few seconds at 100 predictions/s, one batch pays 10-25 ms for it. The writer that
wants low commit latency turns automatic checkpoints off for its connections and lets :class:`Checkpointer` run
``PRAGMA wal_checkpoint(PASSIVE)`` every second on its own connection (it never blocks the writer). Durability
is unchanged: a committed transaction is in the WAL either way.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, event

from skutag.log import get_logger

log = get_logger(__name__)


class Checkpointer:
    """Checkpoint ``engine``'s SQLite database every ``every_s`` seconds until :meth:`stop` (no-op elsewhere)."""

    def __init__(self, engine: Engine, every_s: float = 1.0) -> None:
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        db = engine.url.database
        if engine.dialect.name != "sqlite" or not db or db == ":memory:":
            return
        self._path = db

        @event.listens_for(engine, "connect")
        def _no_auto_checkpoint(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")

        engine.dispose()  # connections opened before this hook get it too (they reopen)
        self._thread = threading.Thread(target=self._run, name="skutag-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, timeout=30, check_same_thread=False)
        try:
            while not self._stop.wait(self.every_s):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint failed (will retry): %s", exc)
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()

    def stop(self) -> None:
        """One last checkpoint, then the thread ends."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
