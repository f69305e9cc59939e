"""The hub processes' collector settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kizuna.hub import collector


@pytest.fixture
def restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)
    gc.unfreeze()


def test_settle_freezes_start_up_and_sets_the_server_thresholds(restored: None) -> None:
    kept = [object() for _ in range(10)]
    collector.settle()
    assert gc.get_threshold() == collector.SERVER_GC_THRESHOLDS
    assert gc.get_freeze_count() > 0 and kept
