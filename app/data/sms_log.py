"""Queries for texts: the message log (which also makes deliveries idempotent),
SMS gateways and their secrets, and opted-out numbers."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.core import security
from app.data.db import Database, storable, utcnow
from app.data.tables import opt_outs, sms_gateways, sms_messages


def _insert(db: Database, table):
    return (postgresql if db.is_postgres else sqlite).insert(table)


async def record_inbound(db: Database, *, source: str, message_id: str, from_number: str | None,
                         to_number: str | None, body: str) -> int | None:
    """Log an incoming text; None when this (source, message id) was seen before.

    The body is stored as given: the caller redacts its PINs and passwords first
    (app/calls/sms_commands.redact), since the log is read by operators and kept for months.
    """
    return await db.fetch_val(
        _insert(db, sms_messages)
        .values(direction="in", source=storable(source, 80), message_id=storable(message_id, 80),
                from_number=storable(from_number, 32), to_number=storable(to_number, 32),
                body=storable(body, 1600),
                status="received", created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["source", "message_id"])
        .returning(sms_messages.c.id)
    )


async def record_outbound(db: Database, *, source: str, to_number: str, from_number: str | None, body: str,
                          status: str, request_id: int | None = None, message_id: str | None = None) -> int:
    return await db.execute(
        sms_messages.insert().values(direction="out", source=source, message_id=message_id, to_number=to_number,
                                     from_number=storable(from_number, 32), body=storable(body, 1600), status=status,
                                     request_id=request_id, created_at=utcnow())
    )


async def link_request(db: Database, *, message_row_id: int, request_id: int) -> None:
    await db.execute(sms_messages.update().where(sms_messages.c.id == message_row_id).values(request_id=request_id))


async def queued_for_gateway(db: Database, *, source: str, limit: int = 20):
    """Texts waiting for a polling gateway app to send them, marked sent as they are handed out.

    One statement: two polls at once never hand out the same text.
    """
    waiting = (sa.select(sms_messages.c.id)
               .where(sms_messages.c.source == source, sms_messages.c.direction == "out",
                      sms_messages.c.status == "queued")
               .order_by(sms_messages.c.id).limit(limit).scalar_subquery())
    rows = await db.fetch_all(
        sms_messages.update().where(sms_messages.c.id.in_(waiting), sms_messages.c.status == "queued")
        .values(status="sent").returning(*sms_messages.c)
    )
    return sorted(rows, key=lambda row: row["id"])


async def last_inbound_source(db: Database, *, number: str) -> str | None:
    """Where `number`'s latest text came in: "provider", "twilio:...", "gateway:<name>"; None: it never texted."""
    return await db.fetch_val(
        sa.select(sms_messages.c.source)
        .where(sms_messages.c.direction == "in", sms_messages.c.from_number == number)
        .order_by(sms_messages.c.id.desc()).limit(1)
    )


async def list_messages(db: Database, *, number: str | None = None):
    query = sms_messages.select().order_by(sms_messages.c.id)
    if number:
        query = query.where(sa.or_(sms_messages.c.from_number == number, sms_messages.c.to_number == number))
    return await db.fetch_all(query)


# Opt-outs ------------------------------------------------------------------


async def opt_out(db: Database, *, number: str) -> None:
    await db.execute(_insert(db, opt_outs).values(number=number, created_at=utcnow())
                     .on_conflict_do_nothing(index_elements=["number"]))


async def opt_in(db: Database, *, number: str) -> None:
    await db.execute(opt_outs.delete().where(opt_outs.c.number == number))


async def is_opted_out(db: Database, *, number: str) -> bool:
    return await db.fetch_val(sa.select(opt_outs.c.number).where(opt_outs.c.number == number)) is not None


# Gateways ------------------------------------------------------------------


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


async def add_gateway(db: Database, *, name: str) -> str:
    secret = secrets.token_urlsafe(24)
    await db.execute(sms_gateways.insert().values(name=name, secret_hash=_digest(secret), created_at=utcnow()))
    return secret


async def remove_gateway(db: Database, *, name: str) -> bool:
    return bool(await db.fetch_val(sms_gateways.delete().where(sms_gateways.c.name == name)
                                   .returning(sms_gateways.c.id)))


async def list_gateways(db: Database):
    return await db.fetch_all(sms_gateways.select().order_by(sms_gateways.c.name))


async def gateway_for_secret(db: Database, *, secret: str):
    """The gateway whose secret this is, compared in constant time against every one."""
    if not secret or len(secret) > 256:
        return None
    offered = _digest(secret)
    found = None
    for gateway in await list_gateways(db):
        if security.same_secret(gateway["secret_hash"], offered):
            found = gateway
    if found is not None:
        await db.execute(sms_gateways.update().where(sms_gateways.c.id == found["id"]).values(last_seen_at=utcnow()))
    return found
