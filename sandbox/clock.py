"""Virtual time: the carrier's calls run faster than the wall clock when asked to.

Virtual time is real monotonic time scaled by `speed`, anchored at a virtual
start instant. Everything the carrier reports (timestamps, durations, CPS
spacing) is measured on this clock, so a 45-minute call at speed 1000 lasts
2.7 real seconds yet is billed as 45 minutes.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Awaitable, TypeVar

T = TypeVar("T")


class Clock:
    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._speed = float(speed)
        self._virtual_anchor = (start or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self._real_anchor = time.monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value <= 0:
            raise ValueError("speed must be positive")
        # Re-anchor so virtual time stays continuous across the change.
        self._virtual_anchor = self.now()
        self._real_anchor = time.monotonic()
        self._speed = float(value)

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._real_anchor) * self._speed
        return self._virtual_anchor + timedelta(seconds=elapsed)

    def since(self, moment: datetime) -> float:
        """Virtual seconds elapsed since `moment`."""
        return (self.now() - moment).total_seconds()

    def real(self, seconds: float) -> float:
        """Real seconds that `seconds` of virtual time take."""
        return max(0.0, seconds) / self._speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self.real(seconds))

    async def sleep_until(self, moment: datetime) -> None:
        # Loop because a sleep may wake a hair early on coarse timers.
        while (remaining := (moment - self.now()).total_seconds()) > 0:
            await asyncio.sleep(max(self.real(remaining), 0.0005))

    async def wait_for(self, awaitable: Awaitable[T], seconds: float) -> T:
        """Like asyncio.wait_for with a virtual timeout; raises TimeoutError."""
        return await asyncio.wait_for(awaitable, self.real(seconds))


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's date format: 'Thu, 26 Nov 2026 03:40:00 +0000'."""
    if moment is None:
        return None
    return format_datetime(moment.astimezone(timezone.utc).replace(microsecond=0))
