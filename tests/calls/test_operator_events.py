"""The operator webhook: every top-up (CLI, admin) POSTed once as signed JSON, checked the way the
README tells a receiver to; retried after the receiver's 500s; nothing lost across a restart; nothing
sent for a change that rolled back."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import time

import pytest
import sqlalchemy as sa

from app.calls import operator_events, topups
from app.data import accounts
from app.data.tables import operator_events as outbox
from tests.utils import receiver as rx
from tests.utils.harness import PlatformUnderTest
from tests.utils.web import operator, web_platform

SECRET = "whsec-test-0123456789"


def verified(body: bytes, headers: dict) -> dict:
    """A receiver's check, as README documents it: HMAC-SHA256 of the raw body, compared in constant time."""
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-callback-signature"], expected)
    return json.loads(body)


@pytest.fixture
def receiver():
    with rx.receiving() as receiver:
        yield receiver


@pytest.fixture
def hooked(settings, receiver):
    return settings.with_(operator_webhook_url=receiver.url, operator_webhook_secret=SECRET)


def rows(engine):
    with engine.connect() as c:
        return c.execute(sa.select(outbox).order_by(outbox.c.id)).mappings().all()


def settled(engine, count: int) -> list:
    """The outbox once `count` events are marked delivered: the receiver answers before the sender writes it."""
    deadline = time.monotonic() + 15
    while sum(row["delivered_at"] is not None for row in rows(engine)) < count:
        assert time.monotonic() < deadline, rows(engine)
        time.sleep(0.02)
    return rows(engine)


def test_cli_and_admin_top_ups_are_posted_signed_once_each(hooked, engine, receiver):
    with web_platform(hooked, engine) as p:
        assert p.cli("account", "topup", "alice", "2.50", "--note", "cash") == 0
        admin = operator(p)
        alice = p.run(accounts.get_account_by_login, p.platform.db, login="alice")
        admin.get(f"/admin/accounts/{alice['id']}")
        admin.submit(f"/admin/accounts/{alice['id']}/topup", {"amount": "-0.50", "note": "refund"})
        posts = receiver.wait_for(2)
        delivered = settled(engine, 2)
    first, second = (verified(body, headers) for body, headers in posts)
    assert first["type"] == second["type"] == "balance.changed"
    assert first["account"] == {"id": alice["id"], "login": "alice"}
    # Amounts as decimal strings: 10.00 seeded, +2.50, then -0.50.
    assert (first["amount"], first["balance"], first["currency"]) == ("2.50", "12.50", "USD")
    assert (second["amount"], second["balance"], second["actor"]) == ("-0.50", "12.00", "operator:root")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["created_at"])
    assert first["id"] != second["id"] and posts[0][1]["x-callback-event-id"] == first["id"]
    # A forged or altered body fails the same check.
    body, headers = posts[0]
    with pytest.raises(AssertionError):
        verified(body.replace(b"2.50", b"250.0"), headers)
    assert all(row["attempts"] == 1 for row in delivered)


def test_failed_deliveries_are_retried_with_backoff_until_taken(hooked, engine, receiver, monkeypatch):
    assert [operator_events.backoff(n).total_seconds() for n in (1, 2, 3, 12, 40)] == [2, 4, 8, 3600, 3600]
    receiver.answers = [500, 503]
    with web_platform(hooked, engine, operator=False) as p:
        assert p.cli("account", "topup", "bob", "1") == 0
        # Each failure pushes the next try back by the backoff; the test moves the due time up to now
        # rather than sleep through it.
        for attempt in (1, 2):
            deadline = dt.datetime.now() + dt.timedelta(seconds=10)
            while rows(engine)[0]["attempts"] < attempt:
                assert dt.datetime.now() < deadline
                time.sleep(0.02)
            row = rows(engine)[0]
            assert row["delivered_at"] is None and row["last_error"] == f"HTTP {500 if attempt == 1 else 503}"
            wait = (row["next_attempt_at"] - row["created_at"]).total_seconds()
            assert wait >= operator_events.backoff(attempt).total_seconds() - 0.1
            with engine.begin() as c:
                c.execute(outbox.update().values(next_attempt_at=row["created_at"]))
            p.platform.operator_events_ready.set()
        (body, headers), = receiver.wait_for(1)
        settled(engine, 1)
    statuses = [status for _, _, status in receiver.posts]
    assert statuses == [500, 503, 200]
    # The same bytes each time: the id a receiver dedupes on, and the signature, do not change.
    assert len({body for body, _, _ in receiver.posts}) == 1
    assert verified(body, headers)["amount"] == "1.00"
    assert rows(engine)[0]["attempts"] == 3


def test_no_event_is_lost_across_a_restart(hooked, settings, engine, receiver):
    # The receiver is down while the platform runs: the event waits in the outbox.
    down = settings.with_(operator_webhook_url="http://127.0.0.1:9/hooks/callback", operator_webhook_secret=SECRET)
    with web_platform(down, engine, operator=False) as p:
        assert p.cli("account", "topup", "alice", "3") == 0
        deadline = dt.datetime.now() + dt.timedelta(seconds=10)
        while not rows(engine)[0]["attempts"]:
            assert dt.datetime.now() < deadline
            time.sleep(0.02)
    (row,) = rows(engine)
    assert row["delivered_at"] is None and "Connect" in row["last_error"]
    with engine.begin() as c:  # the retry falls due while the platform is down
        c.execute(outbox.update().values(next_attempt_at=row["created_at"]))
    with PlatformUnderTest(hooked, engine):
        (body, headers), = receiver.wait_for(1)
        settled(engine, 1)
    assert verified(body, headers)["id"] == row["event_id"]


def test_a_change_that_rolls_back_sends_nothing_and_no_webhook_keeps_nothing(hooked, settings, engine, receiver):
    with web_platform(hooked, engine, operator=False) as p:
        alice = p.run(accounts.get_account_by_login, p.platform.db, login="alice")

        async def half_done():
            async with p.platform.db.transaction():
                await topups.change_balance(p.platform.db, hooked, account=alice, amount=100, actor="cli")
                raise RuntimeError("the work after the top-up failed")

        with pytest.raises(RuntimeError):
            p.run(half_done)
        alice = p.run(accounts.get_account_by_login, p.platform.db, login="alice")
        assert rows(engine) == [] and alice["balance"] == 1000
    with web_platform(settings, engine, subscribers=False, operator=False) as p:
        assert p.cli("account", "topup", "alice", "1") == 0
    assert rows(engine) == [] and receiver.posts == []


def test_the_webhook_needs_its_secret_and_an_http_url():
    from app.core.settings import load_settings

    with pytest.raises(SystemExit, match="OPERATOR_WEBHOOK_SECRET"):
        load_settings({"OPERATOR_WEBHOOK_URL": "https://pay.example.com/hook"}, env_file=None)
    with pytest.raises(SystemExit, match="http"):
        load_settings({"OPERATOR_WEBHOOK_URL": "ftp://pay.example.com", "OPERATOR_WEBHOOK_SECRET": "s"}, env_file=None)
