"""The library logger. Library code logs; it never prints."""

from __future__ import annotations

import logging

logger = logging.getLogger("skutag")
logger.addHandler(logging.NullHandler())


def get_logger(name: str) -> logging.Logger:
    """A child of the skutag logger, e.g. ``get_logger(__name__)``."""
    return logging.getLogger(name if name.startswith("skutag") else f"skutag.{name}")
