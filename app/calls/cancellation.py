"""Canceling a callback request: the subscriber's portal button or API call, or an operator."""

from __future__ import annotations

import logging

from app.calls import machine
from app.data import callbacks
from app.core import states
from app.data.db import utcnow
from app.platform import Platform
from app.providers.interface import ProviderError, ProviderTimeout

log = logging.getLogger(__name__)

CANCELABLE = machine.TABLE[machine.CANCELED].sources


class NotCancelable(Exception):
    def __init__(self, state: str):
        super().__init__(f"the callback is already {state}")
        self.state = state


async def cancel(p: Platform, request, *, by: str = "the subscriber"):
    """Fail `request` with reason `canceled` and hang up its callback leg; the row as it now is.

    The state is moved first, then the call ended: the status callback of the
    ended leg then finds the request over and only writes the CDR. The state
    may move under us (a leg answering), so the conditional transition is
    retried on a fresh read. Raises NotCancelable once it is over.
    """
    for _ in range(10):
        if request["state"] not in CANCELABLE:
            raise NotCancelable(request["state"])
        # Whoever canceled it knows: no "your callback failed" text afterwards.
        moved = await machine.move(p.db, request, machine.CANCELED, states.FAILED, reason=states.CANCELED,
                                   detail=f"canceled by {by}", notified_at=utcnow())
        fresh = await callbacks.get_request(p.db, request_id=request["id"])
        if moved:
            if fresh["leg_a_sid"]:
                await _hang_up(p, fresh["leg_a_sid"], fresh["provider"])
            return fresh
        request = fresh
    raise NotCancelable(request["state"])


async def _hang_up(p: Platform, sid: str, provider: str | None) -> None:
    try:
        await p.provider_for(provider).end_call(sid)
    except (ProviderError, ProviderTimeout) as exc:
        # Already over, most likely; a live leg would still end at its time limit.
        log.warning("could not end call %s after a cancel: %s", sid, exc)
