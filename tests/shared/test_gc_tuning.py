"""The collector settings every service applies once started."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from shared.gc_tuning import THRESHOLDS, parse_thresholds, tune_gc
from shared.settings import BaseServiceSettings


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


def test_thresholds_can_be_set_from_the_environment_and_a_bad_value_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert BaseServiceSettings().gc_threshold_values == THRESHOLDS
    monkeypatch.setenv("GC_THRESHOLDS", "700,10,10")
    assert BaseServiceSettings().gc_threshold_values == (700, 10, 10)
    assert parse_thresholds("700,10,10") == (700, 10, 10)
    for bad in ("700,10", "0,10,10", "a,b,c"):
        with pytest.raises(ValueError, match="GC_THRESHOLDS"):
            parse_thresholds(bad)
        monkeypatch.setenv("GC_THRESHOLDS", bad)
        with pytest.raises(ValidationError, match="GC_THRESHOLDS"):  # the service refuses to start, naming it
            BaseServiceSettings()
