"""The tag store: products, predictions, human review decisions and an audit log (SQLite or PostgreSQL)."""

from skutag.store.engine import DEFAULT_URL, make_engine, normalise_url, upgrade
from skutag.store.records import PredictionRecord
from skutag.store.repository import NotFoundError, TagStore

__all__ = ["DEFAULT_URL", "NotFoundError", "PredictionRecord", "TagStore", "make_engine", "normalise_url", "upgrade"]
