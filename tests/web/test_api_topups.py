"""Top-ups by a payment system over the API: token scopes, Idempotency-Key (once, even when the
retries arrive together), the balance history and the operator webhook's event, and bad input."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import sqlalchemy as sa

from app.data.tables import accounts as accounts_t
from app.data.tables import balance_adjustments
from app.data.tables import operator_events as outbox
from tests.utils.harness import PlatformUnderTest
from tests.utils.live import seed

TOPUP = {"amount": "12.50", "currency": "USD", "reference": "pay_8842"}


@pytest.fixture
def hooked(settings):
    # Events are kept (and their bodies checked here) only with a webhook set; nothing listens on it.
    return settings.with_(operator_webhook_url="http://127.0.0.1:9/hook", operator_webhook_secret="s3cret")


@pytest.fixture
def p(hooked, engine):
    with PlatformUnderTest(hooked, engine) as platform:
        platform.run(seed, platform.platform.db, hooked.secret_key)
        yield platform


def token(p, capsys, *argv) -> str:
    capsys.readouterr()
    assert p.cli("token", "create", *argv) == 0
    return capsys.readouterr().out.strip()


def bearer(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


def balance(p, login: str) -> int:
    return p.scalar(sa.select(accounts_t.c.balance).where(accounts_t.c.login == login))


def topup(p, login, body, headers, key="pay_8842"):
    return p.client.post(f"/api/v1/accounts/{login}/topups", json=body,
                         headers={**headers, **({"Idempotency-Key": key} if key else {})})


def test_an_operator_token_tops_up_once_per_key(p, capsys, engine):
    payments = bearer(token(p, capsys, "--operator", "--scope", "topup", "--name", "payments"))
    first = topup(p, "alice", TOPUP, payments)
    assert first.status_code == 201, first.text
    view = first.json()
    assert (view["amount"], view["balance"], view["balance_minor"], view["reference"]) == ("12.50", "22.50", 2250,
                                                                                            "pay_8842")
    again = topup(p, "alice", TOPUP, payments)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true" and again.json() == view
    conflict = topup(p, "alice", {**TOPUP, "amount": "99.00"}, payments)
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"
    assert topup(p, "bob", TOPUP, payments, key="pay_8843").status_code == 201
    assert (balance(p, "alice"), balance(p, "bob")) == (2250, 1750)
    with engine.connect() as c:
        history = c.execute(sa.select(balance_adjustments).where(balance_adjustments.c.amount == 1250)).mappings().all()
        events = [json.loads(row.body) for row in c.execute(sa.select(outbox).order_by(outbox.c.id))]
    assert [(row["actor"], row["note"]) for row in history] == [("api:payments", "top-up pay_8842")] * 2
    assert [(e["type"], e["account"]["login"], e["amount"], e["balance"], e["reference"]) for e in events] == [
        ("balance.changed", "alice", "12.50", "22.50", "pay_8842"), ("balance.changed", "bob", "12.50", "17.50",
                                                                     "pay_8842")]


def test_concurrent_retries_of_one_key_credit_once(p, capsys):
    payments = bearer(token(p, capsys, "--operator", "--scope", "topup"))

    async def twenty_at_once():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=p.app), base_url="http://testserver") as c:
            return await asyncio.gather(*(
                c.post("/api/v1/accounts/alice/topups", json=TOPUP, headers={**payments, "Idempotency-Key": "k-1"})
                for _ in range(20)))

    answers = p.run(twenty_at_once)
    assert sorted(r.status_code for r in answers) == [200] * 19 + [201], [r.text for r in answers]
    assert len({r.content for r in answers}) == 1
    assert balance(p, "alice") == 1000 + 1250


def test_scopes_keep_each_token_to_its_rights(p, capsys):
    plain = bearer(token(p, capsys, "alice"))  # as every token before scopes: the account's own API
    refused = topup(p, "alice", TOPUP, plain)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    assert p.client.get("/api/v1/account", headers=plain).status_code == 200
    top_only = bearer(token(p, capsys, "alice", "--scope", "topup"))
    assert p.client.get("/api/v1/account", headers=top_only).json()["error"]["code"] == "insufficient_scope"
    # An account's own top-up token reaches its account only: another login is as if it did not exist.
    assert topup(p, "bob", TOPUP, top_only).status_code == 404
    assert topup(p, "alice", TOPUP, top_only).status_code == 201
    operator = bearer(token(p, capsys, "--operator", "--scope", "topup"))
    assert p.client.get("/api/v1/callbacks", headers=operator).json()["error"]["code"] == "insufficient_scope"
    assert topup(p, "nobody", TOPUP, operator).status_code == 404
    assert balance(p, "bob") == 500


BAD = [
    (TOPUP, None, 400, "idempotency_key_required"),
    (TOPUP, "with space", 400, "invalid_idempotency_key"),
    ({**TOPUP, "currency": "EUR"}, "k", 422, "currency_mismatch"),
    ({**TOPUP, "amount": "-5.00"}, "k", 422, "invalid_amount"),
    ({**TOPUP, "amount": "0.001"}, "k", 422, "invalid_amount"),
    ({**TOPUP, "amount": "NaN"}, "k", 422, "invalid_amount"),
    ({**TOPUP, "amount": "9" * 40}, "k", 422, "invalid_amount"),
    ({**TOPUP, "amount": 5}, "k", 422, "invalid_field"),
    ({**TOPUP, "extra": "x"}, "k", 422, "unknown_field"),
    ({"currency": "USD"}, "k", 422, "missing_field"),
]


def test_bad_top_ups_are_refused_and_credit_nothing(p, capsys):
    operator = bearer(token(p, capsys, "--operator", "--scope", "topup"))
    for body, key, status, code in BAD:
        refused = topup(p, "alice", body, operator, key=key)
        assert (refused.status_code, refused.json()["error"]["code"]) == (status, code), body
    # A refused request keeps no key: the same key with a good body then credits.
    assert topup(p, "alice", TOPUP, operator, key="k").status_code == 201
    assert balance(p, "alice") == 1000 + 1250


def test_token_create_refuses_what_makes_no_sense(p, capsys):
    assert p.cli("token", "create", "--operator") == 1  # an operator's token is not an account's
    assert p.cli("token", "create", "alice", "--operator", "--scope", "topup") == 1
    assert p.cli("token", "create") == 1
    assert "LOGIN" in capsys.readouterr().err


def test_an_operators_token_is_listed_and_revoked_by_the_cli(p, capsys):
    payments = bearer(token(p, capsys, "--operator", "--scope", "topup", "--name", "payments"))
    token(p, capsys, "alice")
    capsys.readouterr()
    assert p.cli("token", "list", "--operator") == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    token_id, owner, scopes, name = line.split("\t")[:4]
    assert (owner, scopes, name) == ("(operator)", "topup", "payments")
    assert p.cli("token", "revoke", token_id) == 0
    refused = topup(p, "alice", TOPUP, payments)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"
    assert p.cli("token", "revoke", token_id) == 1  # revoked already
    assert p.cli("token", "list", "alice") == 0 and "\taccount\t" in capsys.readouterr().out
