"""Queries for operator logins (the admin pages), kept apart from subscribers."""

from __future__ import annotations

from app.core import security
from app.data.db import Database, utcnow
from app.data.tables import operators


class OperatorError(ValueError):
    pass


async def create_operator(db: Database, *, login: str, password: str) -> int:
    if await get_operator(db, login=login):
        raise OperatorError(f"operator {login!r} already exists")
    password_hash = await security.hash_password_async(password)
    return await db.execute(operators.insert().values(login=login, password_hash=password_hash, created_at=utcnow()))


async def get_operator(db: Database, *, login: str):
    return await db.fetch_one(operators.select().where(operators.c.login == login))


async def authenticate(db: Database, *, login: str, password: str):
    """The operator row when the password is right; None otherwise, in the same time either way."""
    operator = await get_operator(db, login=login[:64])
    if not await security.verify_password_async(operator["password_hash"] if operator else None, password):
        return None
    await db.execute(operators.update().where(operators.c.id == operator["id"]).values(last_login_at=utcnow()))
    return operator


async def set_password(db: Database, *, login: str, password: str) -> bool:
    password_hash = await security.hash_password_async(password)
    got = await db.fetch_val(operators.update().where(operators.c.login == login)
                             .values(password_hash=password_hash).returning(operators.c.id))
    return got is not None
