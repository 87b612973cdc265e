"""Lockouts after failed authorizations (wrong PIN, wrong password).

Failures are throttled per source first: the requester, which is the caller
ID or sender on the phone channels and `web:<client address>` (or
`admin:<address>`) on the web, is refused after MAX_FAILURES failures in a
sliding hour. One source therefore cannot lock an account's owner out: ten
wrong web passwords from one address stop that address, not the owner's texts,
calls, or logins from elsewhere.

Against guessing spread over many sources, each account (or, for a login that
does not exist, the login name) also has a limit per channel, ACCOUNT_MAX_FAILURES
a sliding hour, ten times the per-source one: many sources together can hold
the owner's web login shut for an hour, never their phone channels.

Before that hard lock a source is slowed down: from its BACKOFF_AFTER-th
failure of the window on, its next attempt is refused unchecked until
BACKOFF_FIRST has passed since its latest failure, twice as long after each
further failure, at most BACKOFF_LONGEST. The wait is read off the failure
rows themselves (no sleeping in a handler), and a refused attempt is not
counted, so hammering during the wait neither lengthens it nor adds to the
account's count.

A lockout ends by itself when the window has passed, or when the operator clears it.

Attempts with a password or PIN are counted before it is checked (`begin`):
the failure row is written first, then counted, so concurrent guesses each see
the ones before them and at most the limit are ever checked (with backoff,
usually BACKOFF_AFTER); a right one takes its row back (`succeeded`). The IVR's
PIN takes `begin` in two halves (`count_attempt`, then `refused_unchecked` on
figures read by the PIN's own lookup), one statement fewer on every call.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.data import auth_failures
from app.data.db import Database, utcnow

WINDOW = auth_failures.WINDOW  # the sliding hour failures count in
MAX_FAILURES = 10  # per source (caller ID, sender, client address) a window
ACCOUNT_MAX_FAILURES = 100  # per account (or login name) and channel a window, across all sources
BACKOFF_AFTER = 3  # failures of a source before it must wait between attempts
BACKOFF_FIRST = dt.timedelta(seconds=1)  # the wait after the BACKOFF_AFTER-th failure, doubled after each further one
BACKOFF_LONGEST = dt.timedelta(minutes=1)


def source_key(requester: str | None) -> str:
    """A source (caller ID, sender, client address) as its failures are stored."""
    return (requester or "unknown")[:64]


_requester = source_key


def account_too_many(failures: int) -> bool:
    """Whether an account with `failures` in a channel in the window is locked in that channel."""
    return failures >= ACCOUNT_MAX_FAILURES


def too_many(failures: int) -> bool:
    """Whether a source with `failures` in the window is locked out."""
    return failures >= MAX_FAILURES


async def record_failure(db: Database, *, account_id: int | None, requester: str, channel: str) -> None:
    await auth_failures.insert(db, account_id=account_id, requester=_requester(requester), channel=channel,
                               at=utcnow())


async def account_locked(db: Database, *, account_id: int, channel: str | None = None) -> bool:
    """Whether the account has had ACCOUNT_MAX_FAILURES failures in `channel` (all channels when None)."""
    return account_too_many(await auth_failures.count(db, since=utcnow() - WINDOW, account_id=account_id,
                                                      channel=channel))


async def requester_locked(db: Database, *, requester: str) -> bool:
    return too_many(await auth_failures.count(db, since=utcnow() - WINDOW, requester=_requester(requester)))


def backoff(failures: int) -> dt.timedelta:
    """How long a source with `failures` failures in the window waits after the latest one."""
    if failures < BACKOFF_AFTER:
        return dt.timedelta(0)
    return min(BACKOFF_FIRST * 2 ** min(failures - BACKOFF_AFTER, 16), BACKOFF_LONGEST)


def source_refused(failures: int, latest: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a source's earlier `failures` (the `latest` of them) lock it, or it tries again at `now`
    before its backoff has passed.

    Every row of the source but this attempt's own counts as earlier, concurrent
    attempts' included: a burst of guesses is no faster than guesses one by one.
    """
    return failures >= MAX_FAILURES or (latest is not None and now < latest + backoff(failures))


async def _source_refused(db: Database, requester: str, own: list[int], now: dt.datetime) -> bool:
    failures, latest = await auth_failures.source_failures(db, requester=requester, since=now - WINDOW,
                                                           excluding=own)
    return source_refused(failures, latest, now)


@dataclass(frozen=True)
class Attempt:
    """An attempt already counted as a failure; `succeeded` takes it back."""

    ids: tuple[int, ...]
    at: dt.datetime | None = None  # when it was counted (`count_attempt`)


async def begin(db: Database, *, requester: str, channel: str, account_id: int | None = None,
                name: str | None = None) -> Attempt | None:
    """Count an authorization attempt before checking it; None when it must be refused unchecked.

    `requester` is the source (slowed down by `backoff`, locked at MAX_FAILURES); `account_id` the
    account the attempt names, or `name` a key standing for it when there is no
    such account (e.g. `login:<name>`), so a lockout says nothing about which
    logins exist (both at ACCOUNT_MAX_FAILURES per channel). An attempt refused
    here is not counted: a locked-out source hammering away does not add to the
    account's count.
    """
    requester = _requester(requester)
    now = utcnow()
    ids = [await auth_failures.insert(db, account_id=account_id, requester=requester, channel=channel, at=now)]
    if name is not None:
        ids.append(await auth_failures.insert(db, account_id=None, requester=_requester(name), channel=channel,
                                              at=now))
    # The source's rows are all counted but this attempt's own; the account's include it. Either way every
    # row written before this attempt's is seen, so concurrent attempts cannot all pass as the first.
    locked = await _source_refused(db, requester, ids, now)
    if not locked and account_id is not None:
        locked = await auth_failures.count(db, since=utcnow() - WINDOW, account_id=account_id,
                                           channel=channel) > ACCOUNT_MAX_FAILURES
    if not locked and name is not None:
        locked = await auth_failures.count(db, since=utcnow() - WINDOW,
                                           requester=_requester(name)) > ACCOUNT_MAX_FAILURES
    if locked:
        await auth_failures.delete_ids(db, ids=ids)
        return None
    return Attempt(tuple(ids))


async def succeeded(db: Database, attempt: Attempt) -> None:
    await auth_failures.delete_ids(db, ids=attempt.ids)


# `begin` in two halves, for a check whose own statement reads the figures `begin` reads (the IVR's PIN:
# app/data/accounts.py, check_pin): the attempt is counted first, as in `begin`; then, once the figures are
# read, `refused_unchecked` decides as `begin` would, and an attempt it refuses is taken back (`uncount`)
# and its secret not taken, whatever it was.
async def count_attempt(db: Database, *, requester: str, channel: str, account_id: int | None = None) -> Attempt:
    now = utcnow()
    return Attempt((await auth_failures.insert(db, account_id=account_id, requester=_requester(requester),
                                               channel=channel, at=now),), now)


def refused_unchecked(attempt: Attempt, *, source_failures: int, source_latest: dt.datetime | None,
                      named_failures: int) -> bool:
    """`begin`'s verdict: the source's failures but this attempt's, the latest of them, and those of the
    account the attempt names in its channel, this attempt's included (0 when it names none)."""
    return source_refused(source_failures, source_latest, attempt.at) or named_failures > ACCOUNT_MAX_FAILURES


uncount = succeeded  # an attempt refused unchecked is not counted: its row goes, as a right secret's does


async def clear(db: Database, *, account_id: int | None = None, requester: str | None = None) -> int:
    return await auth_failures.delete(db, account_id=account_id, requester=requester)


async def recent(db: Database):
    """Failed authorizations of the window, by requester and account: what an operator checks."""
    return await auth_failures.recent(db, since=utcnow() - WINDOW)


# Voucher codes ----------------------------------------------------------------
# A redemption is made by an account already authorized; what is guessed is the code. Ten wrong
# codes in the window lock redemption both for the account and for the requester (its own key,
# `voucher:<requester>`, so wrong codes never lock PIN entry nor wrong PINs redemption). No backoff:
# 14 digits with a check digit leave ten guesses an hour no chance, and a subscriber mistyping a
# scratched card should not wait.
VOUCHER_CHANNEL = "voucher"
VOUCHER_MAX_FAILURES = 10


def _voucher_requester(requester: str | None) -> str:
    return _requester(f"{VOUCHER_CHANNEL}:{requester or 'unknown'}")


async def begin_voucher(db: Database, *, account_id: int, requester: str) -> Attempt | None:
    """Count a redemption as a failure before the code is checked; None when redemption is locked.

    The count and the failure row are one transaction holding the account's and the requester's
    locks, so of any number of concurrent wrong codes exactly VOUCHER_MAX_FAILURES are checked;
    a code that credits takes its row back (`succeeded`).
    """
    requester = _voucher_requester(requester)
    async with db.transaction():
        await db.lock(f"voucher-failures:{account_id}", f"voucher-failures:{requester}")
        if await voucher_locked(db, account_id=account_id, requester=requester, keyed=True):
            return None
        row = await auth_failures.insert(db, account_id=account_id, requester=requester, channel=VOUCHER_CHANNEL,
                                         at=utcnow())
    return Attempt((row,))


async def voucher_locked(db: Database, *, account_id: int, requester: str, keyed: bool = False) -> bool:
    """Whether the account or the requester has had VOUCHER_MAX_FAILURES wrong codes in the window."""
    since = utcnow() - WINDOW
    return (await auth_failures.count(db, since=since, account_id=account_id, channel=VOUCHER_CHANNEL)
            >= VOUCHER_MAX_FAILURES
            or await auth_failures.count(db, since=since, requester=requester if keyed else _voucher_requester(requester))
            >= VOUCHER_MAX_FAILURES)
