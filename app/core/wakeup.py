"""A wake-up call one event loop waits for and any thread may give.

The dispatcher runs on a thread and event loop of its own (app/calls/dispatch_thread.py)
while the webhooks that queue its work run on the server's; the operator-event
sender waits on the server's loop while the dispatcher's housekeeping queues
events. An `asyncio.Event` may only be set from its own loop's thread: set from
another, its waiter is not woken until something else wakes that loop.
"""

from __future__ import annotations

import asyncio


class Wakeup:
    """`asyncio.Event`'s `set`, `clear`, `is_set` and `wait`, but `set` may be called from any thread.

    One loop waits on it: the loop it is bound to (the running one when it is made,
    else the first to wait, or the one `bind` names). From that loop's own thread `set`
    is `Event.set`; from any other it is handed to the loop with `call_soon_threadsafe`,
    once: while a wake-up is on its way or the event is already set, another costs nothing.
    """

    __slots__ = ("_event", "_loop", "_pending")

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._pending = False
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """From now on `loop` waits (None: nobody). Call it before that loop waits, not while another does."""
        was_set = self._event.is_set()
        # asyncio.Event ties itself to the first loop that waits on it: a new one for the new loop.
        self._event = asyncio.Event()
        if was_set:
            self._event.set()
        self._loop, self._pending = loop, False

    def set(self) -> None:
        if self._pending or self._event.is_set():
            # A wake-up is on its way: it is handed over after the caller's write, which the waiter
            # reads once it is woken. (And a set event is cleared by the waiter before it reads.)
            return
        loop = self._loop
        if loop is None or _running(loop):
            self._event.set()
            return
        self._pending = True
        try:
            loop.call_soon_threadsafe(self._arrive)
        except RuntimeError:
            # Its loop is closed: nobody waits any more.
            self._pending = False

    def _arrive(self) -> None:
        self._pending = False
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> bool:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self.bind(loop)
        return await self._event.wait()


def _running(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
