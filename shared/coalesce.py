"""Coalesces concurrent calls into one bulk call: a group commit.

Why: a small transaction per caller (check out a pooled connection, begin, one tiny statement, commit) costs
far more than the statement. Ingest's requests (duplicate lookup, accepted ids) and the notifier's "sent" marks
used to pay it once per event or message. Here the callers that arrive while one bulk call runs wait and go
together in the next one, so N concurrent callers share one round trip; each caller still waits for its own
items' result, so nothing is reported done before it is (order and guarantees unchanged). Alone, a caller goes
at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """``await submit(items)`` runs ``bulk(items of every waiting caller)`` and returns its result to each."""

    def __init__(self, bulk: Callable[[list[T]], Awaitable[R]], max_items: int = 5000, name: str = "coalesce") -> None:
        self.bulk = bulk
        self.max_items = max_items
        self.name = name
        self._waiting: list[tuple[Sequence[T], asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, items: Sequence[T]) -> R:
        """The bulk call's result for a group that includes these items (its exception, if it failed)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name=self.name)
        # shield: a caller that gives up (client gone) must not cancel the bulk call other callers wait on
        return await asyncio.shield(future)

    async def _run(self) -> None:
        while self._waiting:
            group: list[tuple[Sequence[T], asyncio.Future[R]]] = []
            size = 0
            while self._waiting and (not group or size + len(self._waiting[0][0]) <= self.max_items):
                entry = self._waiting.pop(0)
                group.append(entry)
                size += len(entry[0])
            try:
                result = await self.bulk([item for items, _ in group for item in items])
            except BaseException as exc:
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("stopped"))
                if not isinstance(exc, Exception):
                    for _, future in self._waiting:
                        if not future.done():
                            future.set_exception(RuntimeError("stopped"))
                    self._waiting.clear()
                    raise
                continue
            for _, future in group:
                if not future.done():
                    future.set_result(result)
