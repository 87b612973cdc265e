"""Queries for the click-to-call widgets: the widgets, their visitors' submissions (widget_visits) and the
proofs-of-work already redeemed (widget_pow_spent). The decisions are app/fraud/widget_guard.py's and
app/calls/widget_requests.py's."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.data.db import Database, utcnow
from app.data.tables import accounts, callback_requests, widget_pow_spent, widget_visits, widgets

FIELDS = ("name", "account_id", "destination", "allowed_origins", "ip_hourly_limit", "number_daily_limit",
          "verification", "pow_bits", "enabled")


# The widgets -----------------------------------------------------------------------


async def add_widget(db: Database, *, public_key: str, **values) -> int:
    return await db.execute(widgets.insert().values(public_key=public_key, created_at=utcnow(),
                                                    **{k: values[k] for k in FIELDS if k in values}))


async def update_widget(db: Database, *, widget_id: int, **values) -> None:
    await db.execute(widgets.update().where(widgets.c.id == widget_id)
                     .values(**{k: values[k] for k in FIELDS if k in values}))


async def get_widget(db: Database, *, widget_id: int):
    return await db.fetch_one(widgets.select().where(widgets.c.id == widget_id))


async def get_by_key(db: Database, *, public_key: str):
    return await db.fetch_one(widgets.select().where(widgets.c.public_key == public_key))


async def list_widgets(db: Database):
    """Every widget with its account's login, newest last."""
    return await db.fetch_all(sa.select(widgets, accounts.c.login)
                              .join(accounts, accounts.c.id == widgets.c.account_id).order_by(widgets.c.id))


# Visits ------------------------------------------------------------------------------


async def visits_from(db: Database, *, widget_id: int, client_ip: str, since: dt.datetime) -> int:
    return await db.fetch_val(sa.select(sa.func.count()).select_from(widget_visits).where(
        widget_visits.c.widget_id == widget_id, widget_visits.c.client_ip == client_ip,
        widget_visits.c.created_at > since))


async def visits_to(db: Database, *, number: str, since: dt.datetime, widget_id: int | None = None,
                    texted: bool = False) -> int:
    """Visits for `number` after `since`: of one widget, or of every widget; `texted`: those sent a code."""
    query = sa.select(sa.func.count()).select_from(widget_visits).where(
        widget_visits.c.number == number, widget_visits.c.created_at > since)
    if widget_id is not None:
        query = query.where(widget_visits.c.widget_id == widget_id)
    if texted:
        query = query.where(widget_visits.c.code_hash.is_not(None))
    return await db.fetch_val(query)


async def add_visit(db: Database, *, widget_id: int, token_hash: str, number: str, client_ip: str,
                    code_hash: str | None = None, code_expires_at: dt.datetime | None = None) -> int:
    return await db.execute(widget_visits.insert().values(
        widget_id=widget_id, token_hash=token_hash, number=number, client_ip=client_ip, code_hash=code_hash,
        code_expires_at=code_expires_at, created_at=utcnow()))


async def forget_visits(db: Database, *, widget_id: int, before: dt.datetime) -> None:
    """Drop the widget's visits older than `before`: past every limit's window, and their status long told."""
    await db.execute(widget_visits.delete().where(widget_visits.c.widget_id == widget_id,
                                                  widget_visits.c.created_at < before))


async def find_visit(db: Database, *, widget_id: int, token_hash: str):
    """The visit with its callback request's state (None until there is one)."""
    return await db.fetch_one(
        sa.select(widget_visits, callback_requests.c.state)
        .select_from(widget_visits.outerjoin(callback_requests, callback_requests.c.id == widget_visits.c.request_id))
        .where(widget_visits.c.widget_id == widget_id, widget_visits.c.token_hash == token_hash))


async def count_code_try(db: Database, *, visit_id: int, max_tries: int, now: dt.datetime) -> int | None:
    """Count one try at the visit's code unless it has none left, has expired or was used; the tries so far,
    or None. One conditional statement, so parallel guesses cannot exceed `max_tries`."""
    return await db.fetch_val(
        widget_visits.update()
        .where(widget_visits.c.id == visit_id, widget_visits.c.code_tries < max_tries,
               widget_visits.c.code_expires_at > now, widget_visits.c.outcome.is_(None))
        .values(code_tries=widget_visits.c.code_tries + 1)
        .returning(widget_visits.c.code_tries))


async def settle_visit(db: Database, *, visit_id: int, outcome: str, request_id: int | None = None,
                       only_open: bool = False) -> bool:
    """Record the visit's outcome (queued with its request, or failed); with `only_open`, only if it had
    none yet (a code is used once). Whether the row changed."""
    query = widget_visits.update().where(widget_visits.c.id == visit_id)
    if only_open:
        query = query.where(widget_visits.c.outcome.is_(None))
    changed = await db.fetch_val(query.values(outcome=outcome, request_id=request_id, code_expires_at=None)
                                 .returning(widget_visits.c.id))
    return changed is not None


# Proofs-of-work redeemed -------------------------------------------------------------


async def spend_nonce(db: Database, *, nonce: str, expires_at: dt.datetime) -> bool:
    """Mark a challenge redeemed; False if it was already (one insert, so two at once cannot both win)."""
    now = utcnow()
    await db.execute(widget_pow_spent.delete().where(widget_pow_spent.c.expires_at <= now))
    dialect = postgresql if db.is_postgres else sqlite
    insert = dialect.insert(widget_pow_spent).values(nonce=nonce, expires_at=expires_at)
    inserted = await db.fetch_val(insert.on_conflict_do_nothing(index_elements=["nonce"])
                                  .returning(widget_pow_spent.c.nonce))
    return inserted is not None
