"""The collector settings every service applies once started."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared.gc_tuning import THRESHOLDS, thresholds_from_env, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_gc")
def test_tuning_freezes_start_up_objects_and_raises_the_thresholds() -> None:
    gc.unfreeze()
    tune_gc()
    assert gc.get_threshold() == THRESHOLDS
    assert gc.get_freeze_count() > 1000  # modules, classes, settings: out of every future collection


@pytest.mark.usefixtures("restored_gc")
def test_young_collections_become_rarer_than_the_interpreter_default() -> None:
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 0:
            collections.append(1)

    def churn() -> int:
        collections.clear()
        gc.callbacks.append(count)
        try:
            kept = [[i] for i in range(100_000)]  # 100,000 live container objects
        finally:
            gc.callbacks.remove(count)
        del kept
        return len(collections)

    gc.set_threshold(700, 10, 10)
    default = churn()
    tune_gc()
    tuned = churn()
    assert default >= 100  # one per 700 allocations
    assert tuned <= 10  # one per 20,000


def test_thresholds_can_be_set_from_the_environment_and_a_bad_value_is_refused() -> None:
    assert thresholds_from_env(None) == THRESHOLDS
    assert thresholds_from_env("700,10,10") == (700, 10, 10)
    for bad in ("700,10", "0,10,10", "a,b,c"):
        with pytest.raises(ValueError, match="GC_THRESHOLDS"):
            thresholds_from_env(bad)
