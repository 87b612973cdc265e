"""Operator data read on every call and changed rarely, remembered by each process for a few seconds.

Every trigger and IVR step looks up the service number, the destination rules,
the rates and the recorded prompts; they change when an operator edits them.
Workers and instances share the database and nothing else, so each keeps its
own copy for `ttl` seconds: a change made in this process is seen at once (the
writer clears the cache), one made by another worker or instance within `ttl`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")

SECONDS = 5.0
_every: list[TimedCache] = []


class TimedCache(Generic[T]):
    def __init__(self, ttl: float = SECONDS, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._entries: dict[Hashable, tuple[float, T]] = {}
        _every.append(self)

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        """The value for `key`, from `load()` when it is not remembered or too old."""
        now = self.clock()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = await load()
        if len(self._entries) >= self.max_entries:
            # Keys that miss (numbers nobody has) must not grow it without bound.
            self._entries.clear()
        self._entries[key] = (now, value)
        return value

    def clear(self) -> None:
        self._entries.clear()


def clear_all() -> None:
    """Forget everything every cache of this process holds (tests start from the database)."""
    for cache in _every:
        cache.clear()
