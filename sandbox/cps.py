"""Calls-per-second pacing: calls over the limit wait their turn, never refused.

At most `rate` calls start in any window of one virtual second. Start times
are the clock's reading when each call is released, so the guarantee holds
for the times the carrier records, not only for the times it planned.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from datetime import datetime, timedelta

from .clock import Clock


class Pacer:
    def __init__(self, clock: Clock, rate: float = 1.0) -> None:
        self.clock = clock
        self.rate = rate
        self.starts: list[datetime] = []
        self._recent: deque[datetime] = deque()
        self._lock = asyncio.Lock()  # FIFO: callers start in the order they queued

    @property
    def rate(self) -> float:
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        if value <= 0:
            raise ValueError("rate must be positive")
        self._rate = float(value)

    def _window(self) -> tuple[int, timedelta]:
        # A fractional rate (0.5 CPS) means one call per 1/rate seconds.
        if self._rate >= 1:
            return math.floor(self._rate), timedelta(seconds=1)
        return 1, timedelta(seconds=1 / self._rate)

    async def acquire(self) -> datetime:
        async with self._lock:
            while True:
                burst, window = self._window()
                while len(self._recent) > burst:
                    self._recent.popleft()
                if len(self._recent) < burst:
                    break
                free_at = self._recent[0] + window
                if self.clock.now() >= free_at:
                    self._recent.popleft()
                    break
                await self.clock.sleep_until(free_at)
            started = self.clock.now()
            self._recent.append(started)
            self.starts.append(started)
            return started


def max_in_window(starts: list[datetime], window: float = 1.0) -> int:
    """The most starts found in any half-open window of `window` seconds."""
    if not starts:
        return 0
    first = min(starts)
    return most_in_window([(start - first).total_seconds() for start in starts], window)


def most_in_window(times: list[float], window: float = 1.0) -> int:
    """The most of `times` (in seconds) found in any half-open window of `window` seconds."""
    ordered = sorted(times)
    best = 0
    left = 0
    for right, moment in enumerate(ordered):
        while moment - ordered[left] >= window:
            left += 1
        best = max(best, right - left + 1)
    return best
