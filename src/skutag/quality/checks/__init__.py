"""The registry of quality checks: one module per check, each ``check_<name>(df, spec, **opts) -> CheckResult``.

A check joins by adding a :class:`CheckInfo` to :data:`CHECKS` (or calling :func:`register_check`). The
function is imported when the check runs, so a registered module that is not installed yet is skipped
with a reason instead of breaking the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from skutag.catalogue.schema import ColumnSpec
from skutag.quality.base import CheckResult

CheckFn = Callable[..., CheckResult]


@dataclass(frozen=True)
class CheckInfo:
    """A registered check: where its function lives and what it needs to run."""

    name: str
    module: str
    needs_labels: bool = False
    needs_split: bool = False
    #: Receives the shared ``exact_groups``/``near_groups`` arrays so duplicates are computed once.
    uses_groups: bool = False
    #: Default for ``inspect``: slow checks can be turned off by leaving them out of ``checks=``.
    default: bool = True
    #: Run by default only up to this many rows (costly checks); naming the check runs it on any size.
    max_default_rows: int | None = None

    @property
    def function(self) -> CheckFn:
        mod = importlib.import_module(self.module)
        fn: CheckFn = getattr(mod, f"check_{self.name}")
        return fn

    def applicable(self, spec: ColumnSpec, df: pd.DataFrame) -> str | None:
        """None when the check can run on ``df``; otherwise why not."""
        if self.needs_labels and not spec.has_labels:
            return "no label columns given"
        if self.needs_split and (spec.split is None or spec.split not in df.columns):
            return "no split column (give --split or several input files)"
        return None

    def run(self, df: pd.DataFrame, spec: ColumnSpec, **opts: Any) -> CheckResult:
        return self.function(df, spec, **opts)


def _info(name: str, **kw: Any) -> CheckInfo:
    return CheckInfo(name=name, module=f"{__name__}.{name}", **kw)


CHECKS: list[CheckInfo] = [
    _info("missing_fields"),
    _info("encoding_damage"),
    _info("html_remnants"),
    _info("exact_duplicates", uses_groups=True),
    _info("near_duplicates", uses_groups=True),
    _info("conflicting_labels", needs_labels=True, uses_groups=True),
    _info("split_leakage", needs_split=True, uses_groups=True),
    _info("class_imbalance", needs_labels=True),
    _info("length_outliers"),
    _info("content_outliers"),
    _info("label_issues", needs_labels=True, max_default_rows=50_000),
]


def register_check(info: CheckInfo) -> None:
    """Add (or replace, by name) a check in the registry."""
    CHECKS[:] = [c for c in CHECKS if c.name != info.name] + [info]


def get_check(name: str) -> CheckInfo:
    for info in CHECKS:
        if info.name == name:
            return info
    from skutag.errors import ConfigError

    raise ConfigError(f"unknown check {name!r}; known: {', '.join(c.name for c in CHECKS)}")


__all__ = ["CHECKS", "CheckFn", "CheckInfo", "get_check", "register_check"]
