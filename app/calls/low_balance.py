"""Low-balance notices: one text when an account's balance falls below its threshold.

The dispatcher's housekeeping calls `send_notices`. Each account is claimed by
one conditional UPDATE (app/data/low_balance.py) before anything is sent, so
concurrent charges, passes and instances send one notice per crossing; a top-up
to the threshold or above re-arms it. The text goes to the account's own number
(its default number if the operator set it, else its first verified caller ID),
in its language, from the first shared service number, by the provider.
"""

from __future__ import annotations

import logging

from app.calls import operator_events
from app.core import money
from app.data import accounts, low_balance, service_numbers, sms_log
from app.platform import Platform
from app.providers.interface import ProviderError, ProviderTimeout
from twiml.prompts import text

log = logging.getLogger(__name__)


async def _recipient(p: Platform, account) -> str | None:
    if account["default_number"] and account["default_number_trusted"]:
        return account["default_number"]
    verified = await accounts.list_anis(p.db, account_id=account["id"], verified_only=True)
    return verified[0] if verified else None


def notice_text(account) -> str:
    currency = account["currency"]
    return text("sms_low_balance_notice", account["language"],
                balance=money.format_amount(account["balance"], currency), currency=currency,
                threshold=money.format_amount(account["low_balance_threshold"], currency))


async def send_notices(p: Platform) -> int:
    sent = 0
    for account in await low_balance.claim_crossed(p.db):
        await operator_events.emit(p, "balance.low", account, balance=account["balance"],
                                   threshold=account["low_balance_threshold"])
        to = await _recipient(p, account)
        if to is None:
            log.info("account %s: balance low, no number to text", account["id"])
            continue
        # A subscriber who texts through an SMS gateway app is texted back through it (the operator may
        # have no provider number for texts); anyone else by the provider.
        came_in = await sms_log.last_inbound_source(p.db, number=to)
        source = came_in if came_in is not None and came_in.startswith("gateway:") else "provider"
        from_ = await service_numbers.caller_id_for(p.db, None)
        if source == "provider" and from_ is None:
            log.info("account %s: balance low, no number to text from", account["id"])
            continue
        body = notice_text(account)
        if await sms_log.is_opted_out(p.db, number=to):
            await sms_log.record_outbound(p.db, source=source, to_number=to, from_number=from_, body=body,
                                          status="suppressed")
            continue
        if source != "provider":
            # The gateway app sends it the next time it polls.
            await sms_log.record_outbound(p.db, source=source, to_number=to, from_number=from_, body=body,
                                          status="queued")
            sent += 1
            continue
        try:
            sid, status = await p.provider.send_sms(to=to, from_=from_, body=body), "sent"
        except (ProviderError, ProviderTimeout) as exc:
            log.warning("account %s: low-balance notice not sent: %s", account["id"], exc)
            sid, status = None, "failed"
        await sms_log.record_outbound(p.db, source="provider", to_number=to, from_number=from_, body=body,
                                      status=status, message_id=sid)
        sent += status == "sent"
    return sent
