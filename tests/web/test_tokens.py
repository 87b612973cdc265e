"""Attacks on API tokens, over HTTP: a token outlives the session and the password it was made under.

- a stolen session (cookie and CSRF token, no password) cannot mint a token; the password asked for is
  counted by the same lockout as the portal's other password checks;
- an account holds at most MAX_LIVE_TOKENS live tokens;
- changing the password revokes the account's tokens;
- a blocked account's token opens nothing;
- the operator's CLI still makes tokens, without a password.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.data import accounts
from app.data.tables import accounts as accounts_t
from app.data.tables import api_tokens, auth_failures
from app.fraud import lockouts
from tests.utils.web import logged_in, web_platform


@pytest.fixture
def p(settings, engine):
    with web_platform(settings, engine) as platform:
        yield platform


def _live_tokens(p, login: str = "alice") -> int:
    with p.engine.connect() as c:
        return c.execute(sa.select(sa.func.count()).select_from(
            api_tokens.join(accounts_t, accounts_t.c.id == api_tokens.c.account_id)).where(
            accounts_t.c.login == login, api_tokens.c.revoked_at.is_(None))).scalar()


def _new_token(response) -> str | None:
    found = re.search(r'id="new-token">(cbp_[^<]+)<', response.text)
    return found.group(1) if found else None


def _api(p, token: str):
    return p.client.get("/api/v1/account", headers={"Authorization": f"Bearer {token}"})


def _make_token(browser, name: str = "office dialer", password: str | None = "alice-password"):
    browser.get("/settings")
    fields = {"name": name} if password is None else {"name": name, "current_password": password}
    return browser.submit("/settings/tokens", fields)


def test_a_session_without_the_password_cannot_make_a_token(p, lockout_clock):
    thief = logged_in(p)  # the cookie and the page's CSRF token: all a stolen session has
    for password in (None, "", "a-guess"):
        response = _make_token(thief, password=password)
        assert response.status_code == 422 and _new_token(response) is None
        assert "Your current password is not right." in response.text
    assert _live_tokens(p) == 0
    # The password is checked through the lockout: guessing it here meets the same limit as anywhere.
    with p.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(auth_failures)).scalar() == 3
    for n in range(lockouts.MAX_FAILURES):
        lockout_clock.wait_out_backoff()
        _make_token(thief, password=f"guess-{n}")
    response = _make_token(thief)  # even the right password, now
    assert response.status_code == 422 and "Too many failed attempts" in response.text and _new_token(response) is None
    assert _live_tokens(p) == 0


def test_the_password_makes_a_token_that_works(p):
    alice = logged_in(p)
    response = _make_token(alice)
    assert response.status_code == 200
    token = _new_token(response)
    assert _api(p, token).status_code == 200


def test_an_account_holds_at_most_the_most_live_tokens(p):
    alice = logged_in(p)
    for n in range(accounts.MAX_LIVE_TOKENS):
        assert _new_token(_make_token(alice, name=f"token {n}")) is not None
    refused = _make_token(alice, name="one too many")
    assert refused.status_code == 422 and _new_token(refused) is None
    assert f"You have {accounts.MAX_LIVE_TOKENS} API tokens" in refused.text
    assert "revoke one first" in refused.text
    assert _live_tokens(p) == accounts.MAX_LIVE_TOKENS
    # Revoking one makes room for one.
    token_id = re.search(r'/settings/tokens/(\d+)/revoke', alice.get("/settings").text).group(1)
    alice.submit(f"/settings/tokens/{token_id}/revoke", {})
    assert _new_token(_make_token(alice, name="replacement")) is not None
    assert _live_tokens(p) == accounts.MAX_LIVE_TOKENS


def test_changing_the_password_revokes_the_accounts_tokens(p):
    alice = logged_in(p)
    tokens = [_new_token(_make_token(alice, name=name)) for name in ("dialer", "script")]
    bobs = _new_token(_make_token(logged_in(p, "bob"), name="bob's", password="bob-password"))
    assert all(_api(p, token).status_code == 200 for token in [*tokens, bobs])
    alice.get("/settings")
    assert "revokes your API tokens" in alice.page.text
    done = alice.submit("/settings/password", {"current_password": "alice-password",
                                               "new_password": "a-new-password", "new_password_again": "a-new-password"})
    assert "your API tokens were revoked" in done.text
    for token in tokens:
        response = _api(p, token)
        assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_token"
    assert _api(p, bobs).status_code == 200  # another account's are its own
    assert _live_tokens(p) == 0
    # A wrong current password changes nothing, tokens included.
    fresh = _new_token(_make_token(alice, password="a-new-password"))
    refused = alice.submit("/settings/password", {"current_password": "wrong", "new_password": "x" * 10,
                                                  "new_password_again": "x" * 10})
    assert refused.status_code == 422 and _api(p, fresh).status_code == 200


def test_a_blocked_accounts_token_is_refused(p):
    token = _new_token(_make_token(logged_in(p)))
    assert _api(p, token).status_code == 200
    assert p.cli("account", "set", "alice", "--status", "blocked") == 0
    for response in (_api(p, token),
                     p.client.get("/api/v1/callbacks", headers={"Authorization": f"Bearer {token}"}),
                     p.client.post("/api/v1/callbacks", json={"to": "+12125550123"},
                                   headers={"Authorization": f"Bearer {token}"})):
        assert response.status_code == 403
        assert response.json()["error"] == {"code": "auth_failed", "message": "this account is blocked; ask the operator"}
    assert p.cli("account", "set", "alice", "--status", "active") == 0
    assert _api(p, token).status_code == 200


def test_the_operator_cli_still_makes_tokens_without_a_password(p, capsys):
    capsys.readouterr()
    for n in range(accounts.MAX_LIVE_TOKENS + 1):  # the operator is not held to the subscriber's limit
        assert p.cli("token", "create", "alice", "--name", f"ops {n}") == 0
    token = capsys.readouterr().out.split()[-1]
    assert token.startswith("cbp_") and _api(p, token).status_code == 200
