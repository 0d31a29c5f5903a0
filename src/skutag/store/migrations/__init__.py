"""Alembic migrations of the tag store (run by :func:`skutag.store.engine.upgrade`)."""
