"""Engines for the tag store: SQLite (WAL) by default, PostgreSQL by URL; schema kept current by Alembic."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from skutag.errors import ConfigError
from skutag.log import get_logger

log = get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
DEFAULT_URL = "sqlite:///skutag.db"


def normalise_url(url: str | Path) -> str:
    """A bare path means a SQLite file; ``postgresql://`` uses the psycopg 3 driver."""
    text = str(url)
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser()}"
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


def make_engine(url: str | Path, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys on every connection."""
    text = normalise_url(url)
    try:
        parsed = make_url(text)
    except ArgumentError as exc:
        raise ConfigError(f"not a database URL: {url!r} ({exc})") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"unsupported database {backend!r} in {parsed.render_as_string()}; use sqlite or postgresql")
    if backend == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(text, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            mode = cur.execute("PRAGMA journal_mode=WAL").fetchone()
            if mode and str(mode[0]).lower() != "wal":
                log.warning("SQLite at %s is in %s journal mode, not WAL (file system?): slower commits", db, mode[0])
            cur.execute("PRAGMA synchronous=NORMAL")  # durable against process crashes in WAL mode
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(text, **kwargs)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with the Alembic migrations shipped inside the package."""
    quiet = logging.getLogger("alembic")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # alembic logs every plugin and step at INFO
    try:
        _upgrade(engine, revision)
    finally:
        quiet.setLevel(level)


def _upgrade(engine: Engine, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except SQLAlchemyError as exc:
        raise ConfigError(f"cannot open the tag store at {engine.url!r}: {exc}") from exc


def schema_tables(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())
