"""Clocks moved by hand: tests wait out a lockout's backoff, or a scheduled callback's time, without sleeping."""

from __future__ import annotations

import datetime as dt

from app.fraud import lockouts
from app.data.db import utcnow


class LockoutClock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, by: dt.timedelta) -> None:
        self.now += by

    def wait_out_backoff(self) -> None:
        """Long enough for any backoff, far short of the lockout window."""
        self.advance(lockouts.BACKOFF_LONGEST + dt.timedelta(seconds=1))


class DispatchClock:
    """The dispatcher's clock (`Dispatcher.clock`), the real time plus what the test has moved it by:
    a callback scheduled hours ahead is placed as soon as the test says those hours have passed."""

    def __init__(self, dispatcher):
        self.dispatcher, self.offset = dispatcher, dt.timedelta(0)
        dispatcher.clock = self

    def __call__(self) -> dt.datetime:
        return utcnow() + self.offset

    def advance(self, by: dt.timedelta) -> None:
        self.offset += by
        self.dispatcher.p.wake_dispatcher()
