"""The dispatcher on a thread and event loop of its own, in each worker where DISPATCHER is on.

On the server's event loop the dispatcher waits behind the webhooks of every callback
under way: under load its timers fire hundreds of milliseconds late and its calls miss
their provider slots. On a loop of its own it waits only for its own work, and the
webhooks only for theirs (the GIL is shared, a queue of ready tasks is not).

Whatever it uses that is bound to an event loop is its own, made on its loop by the
factory app/main.py gives it (app/calls may not import the adapters): a `Platform` with
its own database handle (PostgreSQL: small pools of its own; SQLite: a second
connection, used on this thread) and its own provider clients. The settings, the secret, the
metrics and the wake-ups are the server's: `Platform.work_ready` and
`operator_events_ready` may be set from either thread (app/core/wakeup.py), so a trigger
webhook wakes the dispatcher, and its housekeeping wakes the operator-event sender.
The alarms' periodic check runs here too, where the dispatcher runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import threading
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from app.calls import alarms
from app.calls.dispatcher import Dispatcher
from app.platform import Platform

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a stop lets the dialling pass under way finish before cancelling it.
PASS_SECONDS = 5.0
# How long `stop` waits for the thread: that pass, the dispatcher's drain (up to 5 s), closing its clients.
STOP_SECONDS = 15.0
# The longest the dispatcher's thread, woken by a database answer or a timer, waits for the GIL while the
# webhooks' thread computes. Python's default is 5 ms, paid at each of the dozen awaits a call takes from
# its claim to its create call; at 1 ms the dispatch lag under load measured about half (bench/, the lag phase).
SWITCH_INTERVAL = 0.001


class DispatchThread:
    """Owns the thread, its loop, the dispatcher's platform and the dispatcher: `start`, then `stop`.

    `make_platform()` is an async context manager, entered on the dispatcher's loop: it
    yields the dispatcher's platform and closes its database and providers on the way out.
    """

    def __init__(self, make_platform: Callable[[], AbstractAsyncContextManager[Platform]], *,
                 alarms: bool = False):
        self._make_platform = make_platform
        self._alarms = alarms
        self.thread: threading.Thread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.platform: Platform | None = None
        self.dispatcher: Dispatcher | None = None
        self._stop = asyncio.Event()  # set on the dispatcher's loop; binds to it when first waited on
        self._started: concurrent.futures.Future[None] = concurrent.futures.Future()

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    async def start(self) -> None:
        """Start the thread; returns once the dispatcher runs, or raises what making its platform raised."""
        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)  # for the whole process: the GIL is the process's
        self.thread = threading.Thread(target=self._main, name="dispatcher", daemon=True)
        self.thread.start()
        try:
            await asyncio.wrap_future(self._started)
        except BaseException:
            await asyncio.to_thread(self.thread.join)
            raise

    async def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Let the dispatcher finish its pass and drain its calls, close its clients on its loop, join the thread.

        Awaited, not blocking: the server's loop keeps serving meanwhile (the embedded
        sandbox carrier answers the create calls being drained there).
        """
        if self.thread is None or self.loop is None:
            return
        try:
            self.loop.call_soon_threadsafe(self._stop.set)
        except RuntimeError:
            pass  # its loop is closed already: it ended, and said why in the log
        await asyncio.to_thread(self.thread.join, timeout)
        if self.thread.is_alive():
            log.error("the dispatcher's thread did not stop within %g s", timeout)

    async def call(self, fn: Callable[..., Coroutine[Any, Any, T]], *args) -> T:
        """`await fn(*args)` on the dispatcher's loop, awaited from another (the tests drive its dispatcher so)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(fn(*args), self.loop))

    # --- on the thread ------------------------------------------------------------------

    def _main(self) -> None:
        loop = self.loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            if self._started.done():
                log.exception("the dispatcher's event loop failed; this worker places no calls until it restarts")
            else:
                self._started.set_exception(exc)  # `start` raises it
        finally:
            try:
                _cancel_leftovers(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            except Exception:
                log.exception("the dispatcher's event loop did not close cleanly")
            finally:
                loop.close()

    async def _serve(self) -> None:
        async with self._make_platform() as platform:
            # Its one waiter from now on is this loop: a set from the webhooks' thread is handed over.
            platform.work_ready.bind(asyncio.get_running_loop())
            try:
                await self._run(platform)
            finally:
                platform.work_ready.bind(None)

    async def _run(self, platform: Platform) -> None:
        self.platform, self.dispatcher = platform, Dispatcher(platform)
        dispatching = asyncio.create_task(self.dispatcher.run(), name="dispatcher")
        watching = asyncio.create_task(alarms.run(platform), name="alarms") if self._alarms else None
        stopping = asyncio.create_task(self._stop.wait())
        self._started.set_result(None)
        try:
            await asyncio.wait({dispatching, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if dispatching.done():
                # `run` ends only when told to: whatever ended it is a bug, and this worker no longer dials.
                failure = None if dispatching.cancelled() else dispatching.exception()
                log.error("the dispatcher stopped on its own; this worker places no calls until it restarts",
                          exc_info=failure)
            else:
                self.dispatcher.stop()
                # The pass under way ends, its claims each given a task, unless the database hangs it.
                await asyncio.wait({dispatching}, timeout=PASS_SECONDS)
        finally:
            tasks = [t for t in (dispatching, watching, stopping) if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Calls being placed finish; those waiting for a new slot go back to the queue. A create call
            # still out after that is cancelled here, while its clients are open: the request keeps
            # `calling_a`, and its status callback or the grace period settles it (app/calls/dispatcher.py).
            try:
                await self.dispatcher.drain()
            finally:
                leftovers = list(self.dispatcher.in_flight)
                for task in leftovers:
                    task.cancel()
                await asyncio.gather(*leftovers, return_exceptions=True)


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel whatever is still pending on the loop, so that none is destroyed mid-flight, and let it unwind."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
