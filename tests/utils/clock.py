"""The lockouts' clock, moved by hand: tests wait out a backoff without sleeping."""

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
