"""A wake-up set from another thread wakes its loop at once, and costs one hand-over however often it is set."""

from __future__ import annotations

import asyncio
import threading
import time

from app.core.wakeup import Wakeup


def loop_on_a_thread():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    return loop, thread


def stop(loop, thread):
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


async def test_a_set_from_another_thread_wakes_the_waiter_at_once():
    wakeup = Wakeup()
    loop, thread = loop_on_a_thread()
    try:
        async def wait_a_long_time():
            started = time.monotonic()
            await asyncio.wait_for(wakeup.wait(), timeout=30)
            return time.monotonic() - started

        waited = asyncio.run_coroutine_threadsafe(wait_a_long_time(), loop)
        await asyncio.sleep(0.05)  # it waits now, bound to its loop
        wakeup.set()  # from this thread and loop, not the waiter's
        assert await asyncio.wrap_future(waited) < 1.0
    finally:
        stop(loop, thread)


async def test_a_wake_up_on_its_way_is_not_sent_again():
    wakeup = Wakeup()
    loop, thread = loop_on_a_thread()
    handed = []
    try:
        wakeup.bind(loop)
        original = loop.call_soon_threadsafe

        def counting(callback, *args, **kwargs):
            handed.append(callback)
            return original(callback, *args, **kwargs)

        loop.call_soon_threadsafe = counting
        gate = threading.Event()
        original(gate.wait)  # the loop is busy: the first wake-up waits in its queue
        for _ in range(100):
            wakeup.set()
        assert len(handed) == 1 and not wakeup.is_set()
        gate.set()
        await asyncio.sleep(0.05)
        assert wakeup.is_set()
        for _ in range(100):
            wakeup.set()  # set already: nothing to hand over
        assert len(handed) == 1
        original(wakeup.clear)
        await asyncio.sleep(0.05)
        wakeup.set()
        assert len(handed) == 2
    finally:
        stop(loop, thread)


async def test_on_its_own_loop_it_is_an_event():
    wakeup = Wakeup()  # made on this loop: bound to it
    wakeup.set()
    assert wakeup.is_set() and await wakeup.wait()
    wakeup.clear()
    assert not wakeup.is_set()
    with_timeout = asyncio.wait_for(wakeup.wait(), timeout=0.05)
    try:
        await with_timeout
        raise AssertionError("woken without a set")
    except asyncio.TimeoutError:
        pass


def test_a_set_after_its_loop_closed_is_harmless():
    wakeup = Wakeup()
    loop, thread = loop_on_a_thread()
    wakeup.bind(loop)
    stop(loop, thread)
    wakeup.set()
    wakeup.set()
