"""The provider's records of calls, asked for several at once by housekeeping.

Both the lost-callback check and the price collection claim a batch of legs,
then ask about all of them concurrently; a leg the provider could not answer
for is counted and logged. The price collection tries it again in a later
pass; the lost-callback check also looks at why (app/calls/lost_callbacks.py).
"""

from __future__ import annotations

import asyncio
import logging

from app.platform import Platform
from app.providers.interface import ProviderCall, ProviderError, ProviderTimeout, error_kind

log = logging.getLogger(__name__)


async def lookup(p: Platform, legs, *, why: str) -> list[tuple[object, ProviderCall | BaseException]]:
    """(leg, the provider's record of it, or why there is none) for each leg of `legs` (rows with `provider_sid`
    and `provider`): each asked of the provider that placed it."""
    answers = await asyncio.gather(*(p.provider_for(leg["provider"]).fetch_call(leg["provider_sid"]) for leg in legs),
                                   return_exceptions=True)
    for leg, answer in zip(legs, answers):
        if isinstance(answer, (ProviderError, ProviderTimeout)):
            if p.metrics is not None:
                p.metrics.provider_errors.labels(error_kind(answer)).inc()
            log.warning("could not fetch call %s (%s): %s", leg["provider_sid"], why, answer,
                        extra={"callback_id": leg["request_id"]})
        elif isinstance(answer, BaseException):
            log.error("fetching call %s (%s) failed", leg["provider_sid"], why, exc_info=answer,
                      extra={"callback_id": leg["request_id"]})
    return list(zip(legs, answers))


async def fetch(p: Platform, legs, *, why: str) -> list[tuple[object, ProviderCall]]:
    """(leg, the provider's record of it) for each leg of `legs` (rows with `provider_sid`) it answered for."""
    return [(leg, answer) for leg, answer in await lookup(p, legs, why=why) if isinstance(answer, ProviderCall)]
