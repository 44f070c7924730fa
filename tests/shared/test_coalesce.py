"""The group commit in front of ingest's database steps: concurrent callers share one bulk call, each gets its
own answer, and a failure reaches every caller of that group."""

from __future__ import annotations

import asyncio

import pytest

from shared.coalesce import Coalescer


async def test_callers_arriving_while_a_bulk_call_runs_share_the_next_one() -> None:
    calls: list[list[int]] = []
    gate = asyncio.Event()

    async def bulk(items: list[int]) -> int:
        calls.append(items)
        if len(calls) == 1:
            await gate.wait()  # hold the first call so the next three callers queue up behind it
        return len(items)

    coalescer: Coalescer[int, int] = Coalescer(bulk)
    first = asyncio.create_task(coalescer.submit([1]))
    await asyncio.sleep(0)
    later = [asyncio.create_task(coalescer.submit([n, n])) for n in (2, 3, 4)]
    await asyncio.sleep(0)
    gate.set()
    assert await first == 1
    assert [await t for t in later] == [6, 6, 6]
    assert calls == [[1], [2, 2, 3, 3, 4, 4]]


async def test_a_failed_bulk_call_fails_every_caller_of_its_group_and_the_next_group_still_runs() -> None:
    attempts = 0

    async def bulk(items: list[int]) -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("database away")
        return sum(items)

    coalescer: Coalescer[int, int] = Coalescer(bulk)
    with pytest.raises(ConnectionError):
        await coalescer.submit([1, 2])
    assert await coalescer.submit([5]) == 5
