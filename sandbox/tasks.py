"""The carrier's background work: every task it runs, callbacks posted in order, shutdown.

Calls, message deliveries and callback posts each run as a task spawned
here, so the carrier knows when it is idle, can cancel everything on close,
and records any exception a task lets escape (a sandbox bug) in `errors`.
"""

from __future__ import annotations

import asyncio
import logging

from .webhooks import WebhookError, Webhooks

logger = logging.getLogger("sandbox")


class Tasks:
    def __init__(self, webhooks: Webhooks) -> None:
        self.webhooks = webhooks
        self.errors: list[BaseException] = []  # unexpected exceptions inside the carrier
        self.closing = False
        self._tasks: set[asyncio.Task] = set()
        self._chains: dict[str, asyncio.Task] = {}
        self._closed = asyncio.Event()

    def spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._reap)
        return task

    def _reap(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(task.exception())
            logger.error("sandbox task failed", exc_info=task.exception())

    def post_in_order(self, key: str, kind: str, url: str, params: dict, method: str, call_sid: str | None = None):
        """Post a callback after the previous one for the same call or message."""
        previous = self._chains.get(key)

        async def deliver() -> None:
            if previous is not None and not previous.done():
                await asyncio.wait([previous])
            try:
                await self.webhooks.request(kind, url, params, method, call_sid)
            except WebhookError:
                pass  # logged in webhook_log; a failed status callback does not affect the call

        task = self.spawn(deliver())
        self._chains[key] = task
        task.add_done_callback(lambda t: self._chains.pop(key, None) if self._chains.get(key) is t else None)

    async def stall(self, seconds: float) -> None:
        """Hold a request for `seconds` of real time, or until the carrier closes."""
        try:
            await asyncio.wait_for(self._closed.wait(), seconds)
        except TimeoutError:
            pass

    @property
    def idle(self) -> bool:
        return not self._tasks

    async def wait_idle(self, timeout: float, busy) -> None:
        """Wait (real seconds) until no task is left; on timeout, raise with `busy()` in the message."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"sandbox still busy after {timeout}s; live calls: {busy() or 'none'}")
            await asyncio.wait(set(self._tasks), timeout=remaining)

    async def aclose(self) -> None:
        self.closing = True
        self._closed.set()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
