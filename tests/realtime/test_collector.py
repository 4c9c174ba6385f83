"""The worker process's garbage collector settings (`realtime.collector`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from realtime import collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_settle_freezes_what_exists_and_defers_young_collections() -> None:
    _, middle, old = gc.get_threshold()
    made_before: list[int] = []
    collector.settle()
    assert gc.get_freeze_count() > 0
    assert not any(o is made_before for o in gc.get_objects())  # frozen: never scanned again
    assert gc.get_threshold() == (collector.YOUNG_THRESHOLD, middle, old)
