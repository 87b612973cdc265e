"""The provider's calls-per-second limit, kept in the database so that it holds
for every worker of every instance together (a token bucket in each process
would let N processes dial N times the limit).

The limit is a row holding the time of the next free slot. A dispatcher
reserves a run of consecutive slots in one compare-and-swap update (only the
slots that start within a short horizon, so a reservation never holds the
queue back), then sends each create call at its slot's time, not before.
"""

from __future__ import annotations

import asyncio
import math
import time

from app.data import pacing as slot_rows
from app.data.db import Database

NAME = "calls"
# Slots are reserved at most this far ahead: a claimed request waits no longer than
# this for its slot, and a dispatcher that dies holds back the queue no longer.
HORIZON_US = 250_000
# The spacing is a little wider than 1/CPS, and a call is sent within LATE_US of its
# slot or given another (the dispatcher's): then any second holds at most CPS calls,
# since their slots lie within 1 s + LATE_US = CPS slot spacings. The provider counts
# arrivals, and an event loop busy with webhooks wakes late. (Only a loop so busy that
# a call misses its third slot too sends it late: the dispatcher's MAX_SLOTS.)
MARGIN = 1.05
LATE_US = round((MARGIN - 1) * 1_000_000)
MAX_TRIES = 3


def now_us() -> int:
    return time.time_ns() // 1000


def step_us(cps: float) -> int:
    return max(1, math.ceil(1_000_000 * MARGIN / cps))


async def ensure(db: Database) -> None:
    await slot_rows.ensure(db, name=NAME)


def plan(next_slot: int, now: int, *, step: int, want: int, horizon: int = HORIZON_US) -> list[int]:
    """The slots (µs since the epoch) `want` calls may take now: none if the next is beyond the horizon.

    Slots do not accumulate while idle: after a pause the first one is now.
    """
    first = max(next_slot, now)
    if want <= 0 or first > now + horizon:
        return []
    count = min(want, (now + horizon - first) // step + 1)
    return [first + i * step for i in range(count)]


async def free_slots(db: Database, *, cps: float, want: int) -> int:
    """How many of `want` slots could be taken now, without taking them."""
    seen = await slot_rows.next_slot(db, name=NAME)
    return 0 if seen is None else len(plan(seen, now_us(), step=step_us(cps), want=want))


async def take_slots(db: Database, *, cps: float, want: int) -> list[int]:
    """Reserve up to `want` slots; their times. Another dispatcher racing for the
    same slots makes the swap miss, and this one reads again."""
    step = step_us(cps)
    for _ in range(MAX_TRIES):
        seen = await slot_rows.next_slot(db, name=NAME)
        if seen is None:
            return []
        slots = plan(seen, now_us(), step=step, want=want)
        if not slots:
            return []
        if await slot_rows.swap_next_slot(db, name=NAME, seen=seen, new=slots[-1] + step):
            return slots
    return []


async def wait_for(slot_us: int, *, late_us: int | None = LATE_US) -> bool:
    """Sleep until the slot; False if this task woke more than `late_us` after it (None: never)."""
    delay = (slot_us - now_us()) / 1_000_000
    if delay > 0:
        await asyncio.sleep(delay)
    return late_us is None or now_us() - slot_us <= late_us


async def seconds_to_next(db: Database) -> float:
    nxt = await slot_rows.next_slot(db, name=NAME)
    return max(0.0, ((nxt or 0) - now_us()) / 1_000_000)
