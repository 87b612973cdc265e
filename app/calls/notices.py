"""Outcome notices: a text to whoever asked by SMS (or web/API) when their callback failed.

The request row is its own outbox: `notified_at` is claimed before the text is
sent, so several instances never send one notice twice.
"""

from __future__ import annotations

import logging

from app.data import accounts, sms_log
from app.data import notices as outbox
from app.core import states
from app.data.db import utcnow
from app.platform import Platform
from app.providers.interface import ProviderError, ProviderTimeout
from twiml.prompts import text

log = logging.getLogger(__name__)


async def _claim(p: Platform, limit: int = 20):
    return await outbox.claim_unsent(p.db, now=utcnow(), limit=limit)


def failure_text(reason: str | None, language: str) -> str:
    why = text(f"why_{reason}", language) if reason in states.REASONS else text("why_provider_error", language)
    return text("sms_failed", language, why=why)


async def send_outcome_notices(p: Platform) -> int:
    sent = 0
    for request in await _claim(p):
        if request["state"] != states.FAILED:
            continue
        account = await accounts.get_account(p.db, account_id=request["account_id"]) if request["account_id"] else None
        body = failure_text(request["reason"], account["language"] if account is not None else "en")
        to = request["notify_number"]
        # A text that came in through a gateway app is answered through that gateway; anything else by the provider.
        came_in = None
        if request["trigger_kind"] == "sms":
            came_in = await outbox.trigger_source(p.db, request_id=request["id"])
        source = came_in if came_in is not None and came_in.startswith("gateway:") else "provider"
        if await sms_log.is_opted_out(p.db, number=to):
            await sms_log.record_outbound(p.db, source=source, to_number=to, from_number=request["leg_a_from"],
                                          body=body, status="suppressed", request_id=request["id"])
            continue
        if source != "provider":
            # The gateway app sends it the next time it polls.
            await sms_log.record_outbound(p.db, source=source, to_number=to, from_number=request["leg_a_from"],
                                          body=body, status="queued", request_id=request["id"])
            sent += 1
            continue
        try:
            sid = await p.provider.send_sms(to=to, from_=request["leg_a_from"], body=body)
            status = "sent"
        except (ProviderError, ProviderTimeout) as exc:
            log.warning("request %s: failure notice not sent: %s", request["id"], exc, extra={"callback_id": request["id"]})
            sid, status = None, "failed"
        await sms_log.record_outbound(p.db, source=source, to_number=to, from_number=request["leg_a_from"], body=body,
                                      status=status, request_id=request["id"], message_id=sid)
        sent += status == "sent"
    return sent
