"""Suite-wide settings. ``make test`` runs the suite on two pytest-xdist workers (``-n 2 --dist loadgroup``): each
test module runs whole on one worker, so its module-scoped fixtures (trained models) are built once, and every test
that starts a Ray cluster shares one worker, so two clusters never compete for the two cores (their fault tests kill
a worker and wait for the recovery)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = "ray" if item.get_closest_marker("ray") is not None else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))
