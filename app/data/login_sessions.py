"""Signed-in web sessions kept server-side (portal and admin), so that logging out really ends one.

The cookie is signed, but a signature alone cannot be taken back: a cookie
copied before its owner logged out would stay good until it expired. So the
cookie also carries a random token, and only the token's digest is stored
here; a session is live while its row is. Logging out deletes the row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa

from app.data.db import Database, utcnow
from app.data.tables import accounts, login_sessions, operators, resellers


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(db: Database, *, lifetime: dt.timedelta, account_id: int | None = None,
                       operator_id: int | None = None, reseller_id: int | None = None) -> str:
    """A new session for an account, an operator or a reseller; its token (for the cookie only)."""
    now = utcnow()
    token = secrets.token_urlsafe(32)
    # Sessions that ran out are dropped as new ones open: no job needed to keep the table small.
    await db.execute(login_sessions.delete().where(login_sessions.c.expires_at < now))
    await db.execute(login_sessions.insert().values(token_hash=_digest(token), account_id=account_id,
                                                    operator_id=operator_id, reseller_id=reseller_id, created_at=now,
                                                    expires_at=now + lifetime))
    return token


async def close(db: Database, *, token: str) -> None:
    if token:
        await db.execute(login_sessions.delete().where(login_sessions.c.token_hash == _digest(token)))


def _live(token: str):
    return sa.and_(login_sessions.c.token_hash == _digest(token), login_sessions.c.expires_at > utcnow())


async def account_of(db: Database, *, token: str, account_id: int):
    """The account of a live session token, or None (logged out, expired, or another account's)."""
    if not token:
        return None
    return await db.fetch_one(
        accounts.select().select_from(accounts.join(login_sessions, login_sessions.c.account_id == accounts.c.id))
        .where(_live(token), accounts.c.id == account_id))


async def operator_of(db: Database, *, token: str, login: str):
    """The operator of a live session token, or None."""
    if not token:
        return None
    return await db.fetch_one(
        operators.select().select_from(operators.join(login_sessions, login_sessions.c.operator_id == operators.c.id))
        .where(_live(token), operators.c.login == login))


async def reseller_of(db: Database, *, token: str, login: str):
    """The reseller of a live session token, or None."""
    if not token:
        return None
    return await db.fetch_one(
        resellers.select().select_from(resellers.join(login_sessions, login_sessions.c.reseller_id == resellers.c.id))
        .where(_live(token), resellers.c.login == login))
