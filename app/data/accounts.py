"""Queries for accounts, their ANIs and their API tokens."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.core import security
from app.data import auth_failures as auth_failures_q
from app.data.db import Database, Prepared, utcnow
from app.data.tables import accounts, anis, api_tokens, auth_failures, balance_adjustments


class AccountError(ValueError):
    """A refusal the caller can show as is (duplicate login, PIN in use...)."""


async def create_account(
    db: Database,
    *,
    secret_key: str,
    login: str,
    password: str,
    pin: str | None,
    default_number: str | None = None,
    balance: int = 0,
    currency: str = "USD",
    country: str = "US",
    language: str = "en",
) -> int:
    if await get_account_by_login(db, login=login):
        raise AccountError(f"login {login!r} is already taken")
    pin_hash = security.pin_digest(secret_key, pin) if pin else None
    if pin_hash and await db.fetch_val(sa.select(accounts.c.id).where(accounts.c.pin_hash == pin_hash)):
        raise AccountError("that PIN is already in use; choose another")
    password_hash = await security.hash_password_async(password)
    return await db.execute(
        accounts.insert().values(
            login=login,
            password_hash=password_hash,
            pin_hash=pin_hash,
            balance=balance,
            currency=currency,
            country=country,
            language=language,
            default_number=default_number,
            default_number_trusted=default_number is not None,
            created_at=utcnow(),
        )
    )


# Every IVR step after the PIN, and every leg's CDR, reads its account.
_BY_ID = Prepared(accounts.select().where(accounts.c.id == sa.bindparam("account_id", type_=sa.Integer)))


async def get_account(db: Database, *, account_id: int):
    return await db.fetch_one(_BY_ID, {"account_id": account_id})


async def get_account_by_login(db: Database, *, login: str):
    return await db.fetch_one(accounts.select().where(accounts.c.login == login))


async def update_account(db: Database, *, account_id: int, **values) -> None:
    """A default number set here is the operator's, hence trusted, unless the caller says otherwise
    (`default_number_trusted=False`: the portal, where the subscriber types any number)."""
    if "default_number" in values:
        values.setdefault("default_number_trusted", values["default_number"] is not None)
    await db.execute(accounts.update().where(accounts.c.id == account_id).values(**values))


_BY_PIN = Prepared(accounts.select().where(accounts.c.pin_hash == sa.bindparam("digest")))


async def find_account_by_pin(db: Database, *, secret_key: str, pin: str):
    """The account whose PIN this is, None if none."""
    return await db.fetch_one(_BY_PIN, {"digest": security.pin_digest(secret_key, pin)})


# From a one-row table, so that the lockout's figures come back whether or not an account has the PIN.
_ONE_ROW = sa.select(sa.literal(1).label("one")).subquery("one_row")
_PIN_CHECK = Prepared(
    sa.select(
        sa.select(sa.func.count()).where(*auth_failures_q.of_source()).scalar_subquery().label("source_failures"),
        sa.select(sa.func.max(auth_failures.c.at)).where(*auth_failures_q.of_source())
        .scalar_subquery().label("source_latest"),
        sa.select(sa.func.count()).where(*auth_failures_q.of_account(sa.bindparam("expected", type_=sa.Integer)))
        .scalar_subquery().label("named_failures"),
        *accounts.c,
        sa.select(sa.func.count()).where(*auth_failures_q.of_account(accounts.c.id))
        .scalar_subquery().label("recent_failures"))
    .select_from(_ONE_ROW.outerjoin(accounts, accounts.c.pin_hash == sa.bindparam("digest"))))
LOCKOUT_FIGURES = ("source_failures", "source_latest", "named_failures")


async def check_pin(db: Database, *, secret_key: str, pin: str | None, channel: str, since: dt.datetime,
                    source: str, attempt: int, expected: int | None):
    """An attempt's PIN and what its lockout counts, in one statement: (the account whose PIN `pin` is,
    with its `recent_failures` in `channel` since `since`, or None; the figures app/fraud/lockouts.py
    decides with: `source`'s failures since `since` but the `attempt` row, and the latest of them, and
    the `expected` account's failures in `channel` (0 without one)). A `pin` of None matches no account."""
    row = await db.fetch_one(_PIN_CHECK, {
        "digest": security.pin_digest(secret_key, pin) if pin is not None else None, "channel": channel,
        "since": since, "requester": source, "excluding": attempt, "expected": expected})
    figures = {name: row.pop(name) for name in LOCKOUT_FIGURES}
    return (row if row["id"] is not None else None), figures


async def find_account_by_ani(db: Database, *, number: str):
    query = (
        accounts.select()
        .select_from(accounts.join(anis, anis.c.account_id == accounts.c.id))
        .where(anis.c.number == number, anis.c.verified == sa.true())
    )
    return await db.fetch_one(query)


async def add_ani(db: Database, *, account_id: int, number: str, verified: bool = True) -> int:
    """The new caller ID's id; AccountError when the number is registered already (to any account).

    One insert that skips a taken number (ON CONFLICT DO NOTHING on the unique anis.number), so
    two accounts registering the same number at once get one row and one AccountError, never an
    IntegrityError.
    """
    dialect = postgresql if db.is_postgres else sqlite
    insert = dialect.insert(anis).values(account_id=account_id, number=number, verified=verified,
                                         created_at=utcnow()).on_conflict_do_nothing(index_elements=["number"])
    ani_id = await db.fetch_val(insert.returning(anis.c.id))
    if ani_id is None:
        owner = await db.fetch_val(sa.select(anis.c.account_id).where(anis.c.number == number))
        raise AccountError(f"{number} is already registered" + (" to this account" if owner == account_id else ""))
    return ani_id


async def own_numbers(db: Database, *, account) -> set[str]:
    """The numbers the platform may text on the account's behalf or show as its caller ID: its
    verified caller IDs, and its default number when the operator set it."""
    own = set(await list_anis(db, account_id=account["id"], verified_only=True))
    if account["default_number"] and account["default_number_trusted"]:
        own.add(account["default_number"])
    return own


async def list_anis(db: Database, *, account_id: int, verified_only: bool = False) -> list[str]:
    query = sa.select(anis.c.number).where(anis.c.account_id == account_id).order_by(anis.c.id)
    if verified_only:
        query = query.where(anis.c.verified == sa.true())
    rows = await db.fetch_all(query)
    return [row[0] for row in rows]


async def top_up(db: Database, *, account_id: int, amount: int, actor: str = "cli", note: str = "") -> int:
    """Add `amount` (negative: a correction) and record who did it; the new balance."""
    async with db.transaction():
        # A conditional arithmetic update, never read-modify-write: calls in
        # progress debit the same row at the same time.
        # A credit that lifts the balance to the low-balance threshold or above re-arms the notice
        # (app/calls/low_balance.py); SET expressions see the row as it was, hence `balance + amount`.
        rearm = sa.and_(amount > 0, sa.or_(accounts.c.low_balance_threshold.is_(None),
                                           accounts.c.balance + amount >= accounts.c.low_balance_threshold))
        balance = await db.fetch_val(
            accounts.update().where(accounts.c.id == account_id)
            .values(balance=accounts.c.balance + amount,
                    low_balance_noticed=sa.case((rearm, sa.false()), else_=accounts.c.low_balance_noticed))
            .returning(accounts.c.balance)
        )
        await db.execute(balance_adjustments.insert().values(
            account_id=account_id, amount=amount, balance_after=balance, actor=actor[:80], note=note[:255],
            created_at=utcnow()))
    return balance


async def list_adjustments(db: Database, *, account_id: int, limit: int = 50):
    return await db.fetch_all(balance_adjustments.select().where(balance_adjustments.c.account_id == account_id)
                              .order_by(balance_adjustments.c.id.desc()).limit(limit))


# Live (unrevoked) API tokens a subscriber may hold; the operator's CLI is not held to it.
MAX_LIVE_TOKENS = 10


async def create_token(db: Database, *, account_id: int | None, name: str = "", limit: int | None = None,
                       scopes: str = "account") -> str:
    """A new API token (returned once; stored hashed). With `limit`, refused (AccountError) when the
    account already has that many live tokens: the count and the insert are one transaction, locked.
    `account_id` None makes an operator's token (its scopes act on any account)."""
    token = security.new_api_token()
    async with db.transaction():
        if limit is not None:
            await db.lock(f"api-tokens:{account_id}")
            live = await db.fetch_val(sa.select(sa.func.count()).select_from(api_tokens).where(
                api_tokens.c.account_id == account_id, api_tokens.c.revoked_at.is_(None)))
            if live >= limit:
                raise AccountError(f"you have {live} API tokens, the most an account may have: revoke one first")
        await db.execute(
            api_tokens.insert().values(
                account_id=account_id, name=name, token_hash=security.token_digest(token), created_at=utcnow(),
                scopes=scopes,
            )
        )
    return token


async def account_for_token(db: Database, *, token: str):
    query = (
        accounts.select()
        .select_from(accounts.join(api_tokens, api_tokens.c.account_id == accounts.c.id))
        .where(api_tokens.c.token_hash == security.token_digest(token), api_tokens.c.revoked_at.is_(None))
    )
    return await db.fetch_one(query)


async def all_tokens(db: Database, *, account_id: int | None = None, operator: bool = False):
    """Tokens for the operator's CLI: an account's, the operator's own (`operator`), or every one; newest first."""
    query = (sa.select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.scopes, api_tokens.c.created_at,
                       api_tokens.c.last_used_at, api_tokens.c.revoked_at, accounts.c.login)
             .select_from(api_tokens.outerjoin(accounts, accounts.c.id == api_tokens.c.account_id))
             .order_by(api_tokens.c.id.desc()))
    if account_id is not None:
        query = query.where(api_tokens.c.account_id == account_id)
    elif operator:
        query = query.where(api_tokens.c.account_id.is_(None))
    return await db.fetch_all(query)


async def revoke_any_token(db: Database, *, token_id: int) -> bool:
    """Revoke a live token of any account, or an operator's (the operator's CLI); False if none was live."""
    revoked = await db.fetch_all(
        api_tokens.update().where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=utcnow()).returning(api_tokens.c.id))
    return bool(revoked)


async def operator_token(db: Database, *, token: str):
    """A live operator's token (one of no account): id, name, scopes; or None."""
    return await db.fetch_one(
        sa.select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.scopes)
        .where(api_tokens.c.token_hash == security.token_digest(token), api_tokens.c.revoked_at.is_(None),
               api_tokens.c.account_id.is_(None)))


# For the subscriber portal and the REST API ----------------------------------


async def set_password(db: Database, *, account_id: int, password: str) -> None:
    password_hash = await security.hash_password_async(password)
    await db.execute(accounts.update().where(accounts.c.id == account_id).values(password_hash=password_hash))


async def set_pin(db: Database, *, secret_key: str, account_id: int, pin: str) -> None:
    """Change an account's PIN; PINs are unique, since in PIN mode a PIN alone names its account."""
    pin_hash = security.pin_digest(secret_key, pin)
    owner = await db.fetch_val(sa.select(accounts.c.id).where(accounts.c.pin_hash == pin_hash))
    if owner == account_id:
        return
    if owner is not None:
        raise AccountError("that PIN is already in use; choose another")
    try:
        await db.execute(accounts.update().where(accounts.c.id == account_id).values(pin_hash=pin_hash))
    except Exception as exc:
        # Another account took the same PIN between the check and the write.
        if _is_unique_violation(exc):
            raise AccountError("that PIN is already in use; choose another") from None
        raise


async def assign_random_pin(db: Database, *, secret_key: str, account_id: int,
                            length: int = security.GENERATED_PIN_LENGTH, tries: int = 20) -> str:
    """Give the account a new random PIN, unique, and return it (to be shown once).

    Subscribers never choose their PIN: in PIN mode a PIN alone names its
    account, so "that PIN is taken" would tell them another account's PIN.
    A random one that happens to be taken is silently drawn again.
    """
    for _ in range(tries):
        pin = security.random_pin(length)
        try:
            await set_pin(db, secret_key=secret_key, account_id=account_id, pin=pin)
        except AccountError:
            continue
        return pin
    raise AccountError("no free PIN was found")


def _is_unique_violation(exc: Exception) -> bool:
    return type(exc).__name__ in ("IntegrityError", "UniqueViolationError")


async def remove_ani(db: Database, *, account_id: int, number: str) -> bool:
    removed = await db.fetch_all(
        anis.delete().where(anis.c.account_id == account_id, anis.c.number == number).returning(anis.c.id)
    )
    return bool(removed)


async def list_tokens(db: Database, *, account_id: int):
    return await db.fetch_all(
        sa.select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.created_at, api_tokens.c.last_used_at,
                  api_tokens.c.revoked_at)
        .where(api_tokens.c.account_id == account_id)
        .order_by(api_tokens.c.id.desc())
    )


async def revoke_token(db: Database, *, account_id: int, token_id: int) -> bool:
    revoked = await db.fetch_all(
        api_tokens.update()
        .where(api_tokens.c.id == token_id, api_tokens.c.account_id == account_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(api_tokens.c.id)
    )
    return bool(revoked)


async def revoke_all_tokens(db: Database, *, account_id: int) -> int:
    """Revoke every live token of the account (its password changed); how many were."""
    revoked = await db.fetch_all(
        api_tokens.update()
        .where(api_tokens.c.account_id == account_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(api_tokens.c.id)
    )
    return len(revoked)


async def authenticate_token(db: Database, *, token: str, touch_after_seconds: int = 60):
    """The account of a live API token, or None; stamps the token's `last_used_at`.

    The account is returned whatever its status, for the caller to refuse one
    that is not active; a refused use is not stamped. The stamp is written at
    most once a minute per token, so a busy integrator does not turn every read
    into a write.
    """
    query = (
        sa.select(accounts, api_tokens.c.id.label("token_id"), api_tokens.c.last_used_at.label("token_last_used_at"),
                  api_tokens.c.scopes.label("token_scopes"), api_tokens.c.name.label("token_name"))
        .select_from(accounts.join(api_tokens, api_tokens.c.account_id == accounts.c.id))
        .where(api_tokens.c.token_hash == security.token_digest(token), api_tokens.c.revoked_at.is_(None))
    )
    row = await db.fetch_one(query)
    if row is None or row["status"] != "active":
        return row
    now = utcnow()
    last = row["token_last_used_at"]
    if last is None or (now - last).total_seconds() >= touch_after_seconds:
        await db.execute(api_tokens.update().where(api_tokens.c.id == row["token_id"]).values(last_used_at=now))
    return row
