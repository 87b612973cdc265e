"""The operator webhook: events about money and alarms, POSTed as signed JSON to OPERATOR_WEBHOOK_URL.

`emit` writes an event to the outbox (app/data/operator_events.py) and returns; called inside the
transaction that makes the change (`async with p.db.transaction()`), the event commits or rolls back
with it, so an event is never sent for a change that did not happen, nor lost for one that did.
`Sender` POSTs the outbox in order of writing, one request per event, and retries a failed delivery
(no answer, or anything but a 2xx) with exponential backoff until the receiver takes it: each event id
is delivered at least once, across restarts (the outbox is in the database), and may arrive twice,
so receivers dedupe on `id`.

The body (README, "Operator webhook"):
    {"type": ..., "id": "<uuid>", "created_at": "<RFC 3339 UTC>",
     "account": {"id": 7, "login": "alice"} | null, "amount": "10.00", "currency": "USD", "balance": "25.50", ...}
Amounts are decimal strings in the account's currency, never numbers. The header
`X-Callback-Signature: sha256=<hex>` is HMAC-SHA256 of the raw body keyed with OPERATOR_WEBHOOK_SECRET.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import uuid

import httpx

from app.core import money
from app.core.settings import Settings
from app.data import operator_events as outbox
from app.data.db import Database, utcnow
from app.platform import Platform

log = logging.getLogger(__name__)

TYPES = ("voucher.redeemed", "balance.low", "balance.changed", "alarm.raised", "alarm.cleared")
# Fields given in the account's minor units, sent as decimal strings.
AMOUNT_FIELDS = ("amount", "balance", "threshold")
SIGNATURE_HEADER = "X-Callback-Signature"
POST_TIMEOUT_SECONDS = 10.0
# A POST out is leased this long: a sender that dies mid-POST leaves the event to be retried after it.
LEASE_SECONDS = 60
BACKOFF_FIRST_SECONDS = 2
BACKOFF_MAX_SECONDS = 3600
IDLE_POLL_SECONDS = 2.0
BATCH = 20


def signature(secret: str, body: bytes) -> str:
    """The X-Callback-Signature value of `body`: what a receiver recomputes and compares."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failed delivery: 2 s, 4 s, 8 s, ... at most an hour."""
    return dt.timedelta(seconds=min(BACKOFF_FIRST_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


def _rfc3339(moment: dt.datetime) -> str:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000).isoformat(timespec="milliseconds") + "Z"


def payload(type: str, account, *, now: dt.datetime, event_id: str, **fields) -> dict:
    if type not in TYPES:
        raise ValueError(f"unknown operator event type {type!r}")
    currency = fields.pop("currency", None) or (account["currency"] if account is not None else None)
    body = {"type": type, "id": event_id, "created_at": _rfc3339(now),
            "account": {"id": account["id"], "login": account["login"]} if account is not None else None}
    if currency is not None:
        body["currency"] = currency
    for name, value in fields.items():
        if name in AMOUNT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
            if currency is None:
                raise ValueError(f"{name} needs a currency")
            value = money.format_amount(value, currency)
        body[name] = value
    return body


async def record(db: Database, settings: Settings, type: str, account, **fields) -> str | None:
    """Queue one event (the CLI's way in, which has no Platform); its id, or None when no webhook is set."""
    return await _queue(db, settings, _event(type, account, fields))


async def emit(p: Platform, type: str, account, **fields) -> str | None:
    """Log one event and queue it for the operator webhook; None when OPERATOR_WEBHOOK_URL is unset
    (the log line is then all there is of it).

    `account` is an account row (id, login, currency) or None (an alarm about no account); integer
    `amount`, `balance` and `threshold` are minor units of its currency and go out as decimal strings.
    """
    event = _event(type, account, fields)
    log.info("operator event %s", type, extra={"operator_event": event})
    event_id = await _queue(p.db, p.settings, event)
    if event_id is not None:
        p.operator_events_ready.set()
    return event_id


def _event(type: str, account, fields: dict) -> dict:
    return payload(type, account, now=utcnow(), event_id=str(uuid.uuid4()), **fields)


async def _queue(db: Database, settings: Settings, event: dict) -> str | None:
    if not settings.operator_webhook_url:
        return None
    now = dt.datetime.fromisoformat(event["created_at"].removesuffix("Z"))
    await outbox.add(db, event_id=event["id"], type=event["type"], body=json.dumps(event, separators=(",", ":")),
                     now=now)
    return event["id"]


class Sender:
    """Delivers the outbox: `run` loops until cancelled; `deliver_due` is one pass (tests call it)."""

    def __init__(self, p: Platform, *, transport: httpx.AsyncBaseTransport | None = None):
        self.p = p
        self.client = httpx.AsyncClient(timeout=POST_TIMEOUT_SECONDS, transport=transport, follow_redirects=False)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def deliver_due(self) -> int:
        """POST every event due now, in order; how many the receiver took."""
        url, secret = self.p.settings.operator_webhook_url, self.p.settings.operator_webhook_secret
        if not url:
            return 0
        taken = 0
        while True:
            now = utcnow()
            claimed = await outbox.claim_due(self.p.db, now=now, lease_until=now + dt.timedelta(seconds=LEASE_SECONDS),
                                             limit=BATCH)
            for event in claimed:
                taken += await self._post(url, secret, event)
            if len(claimed) < BATCH:
                return taken

    async def _post(self, url: str, secret: str, event) -> bool:
        body = event["body"].encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(secret, body),
                   "X-Callback-Event-Id": event["event_id"], "User-Agent": "callback-platform"}
        try:
            response = await self.client.post(url, content=body, headers=headers)
            error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:255]
        result = "delivered" if error is None else "failed"
        if self.p.metrics is not None:
            self.p.metrics.operator_events.labels(event["type"], result).inc()
        if error is None:
            await outbox.delivered(self.p.db, id=event["id"], now=utcnow())
            return True
        attempts = event["attempts"] + 1
        retry_at = utcnow() + backoff(attempts)
        log.warning("operator webhook: event %s (%s) not taken, attempt %d: %s; retried at %s", event["event_id"],
                    event["type"], attempts, error, retry_at.isoformat(timespec="seconds"))
        await outbox.failed(self.p.db, id=event["id"], retry_at=retry_at, error=error)
        return False

    async def run(self) -> None:
        while True:
            self.p.operator_events_ready.clear()
            try:
                await self.deliver_due()
                due = await outbox.next_due(self.p.db)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("operator webhook: delivery pass failed")
                due = None
            wait = IDLE_POLL_SECONDS
            if due is not None:
                wait = min(max((due - utcnow()).total_seconds(), 0.05), IDLE_POLL_SECONDS)
            try:
                await asyncio.wait_for(self.p.operator_events_ready.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass
