"""Data-quality checks over a catalogue and the `inspect` report that runs them."""

from skutag.quality.base import CheckResult

__all__ = ["CheckResult"]
