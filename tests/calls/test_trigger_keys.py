"""Keys longer than their column: a gateway text's "gateway:<name>:<message id>" and a web or API requester
"web:<login>" are stored whole or as a digest of the whole, never cut short, so two different triggers never
share one request or one trigger limit; and a failure notice goes back through the gateway the text came in on."""

from __future__ import annotations

import dataclasses

import pytest

from tests.utils import scenario as sc
from tests.utils.harness import PlatformUnderTest
from tests.utils.web import Browser

LONG_GATEWAY = "g" * 64  # the longest name `gateway add` takes
CALL_ME = {"from": sc.ALICE_MOBILE, "text": "CALL"}




@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        sc.seed(platform)
        yield platform


def add_gateway(p: PlatformUnderTest, name: str, capsys) -> str:
    assert p.cli("gateway", "add", name) == 0
    return capsys.readouterr().out.strip().rsplit(" ", 1)[-1]


def test_texts_from_a_long_named_gateway_with_long_ids_are_each_their_own_request(p, capsys):
    secret = add_gateway(p, LONG_GATEWAY, capsys)
    headers = {"X-Gateway-Secret": secret}
    for message_id in ["m" * 79 + "1", "m" * 79 + "2"]:
        response = p.client.post("/sms/gateway", json={**CALL_ME, "id": message_id}, headers=headers)
        assert response.status_code == 200 and "Callback queued" in response.json()["reply"]["text"]
    first, second = p.requests()
    assert first["id"] != second["id"] and first["trigger_id"] != second["trigger_id"]
    assert all(len(row["trigger_id"]) <= 64 for row in (first, second))
    # The same text delivered again is still the same request (the key is the same digest).
    again = p.client.post("/sms/gateway", json={**CALL_ME, "id": "m" * 79 + "1"}, headers=headers)
    assert again.status_code == 200 and len(p.requests()) == 2


def test_texts_whose_ids_share_their_first_80_characters_are_two_texts(p, capsys):
    secret = add_gateway(p, "office-phone", capsys)
    for message_id in ["m" * 100 + "1", "m" * 100 + "2"]:
        response = p.client.post("/sms/gateway", json={**CALL_ME, "id": message_id},
                                 headers={"X-Gateway-Secret": secret})
        assert response.status_code == 200 and "Callback queued" in response.json()["reply"]["text"]
    assert len(p.requests()) == 2


@pytest.mark.parametrize("name", [LONG_GATEWAY, "office-phone"])
@pytest.mark.parametrize("with_timestamp", [True, False])
def test_a_failure_notice_of_a_text_with_a_generated_id_goes_back_through_its_gateway(p, capsys, name,
                                                                                       with_timestamp):
    secret = add_gateway(p, name, capsys)
    fields = {**CALL_ME, "sent_timestamp": "1700000000"} if with_timestamp else CALL_ME
    p.client.post("/sms/gateway", json=fields, headers={"X-Gateway-Secret": secret})
    (row,) = p.requests()
    p.run(_fail, p, row["id"])
    p.run(_send_notices, p)
    polled = p.client.get("/sms/gateway", params={"task": "send", "secret": secret}).json()
    (message,) = polled["payload"]["messages"]
    assert message["to"] == sc.ALICE_MOBILE and "could not be completed" in message["message"]


def test_accounts_with_a_long_common_login_prefix_have_their_own_trigger_limit(settings, engine):
    logins = ["a" * 40 + "-first-account", "a" * 40 + "-second-account"]
    with PlatformUnderTest(dataclasses.replace(settings, trigger_limit=1), engine) as p:
        sc.seed(p)
        statuses = []
        for login in logins:
            assert p.cli("account", "create", login, "--password", "long-enough-password",
                         "--default-number", sc.ALICE_HOME, "--balance", "10") == 0
            browser = Browser(p)
            assert "Log out" in browser.log_in(login, "long-enough-password").text
            for _ in range(2):  # the second one is over this account's own limit
                browser.get("/")
                response = browser.submit("/calls", {"to": sc.UK_DESTINATION, "from": ""}, follow=False)
                statuses.append(response.status_code)
        assert statuses == [303, 429, 303, 429]


async def _fail(p: PlatformUnderTest, request_id: int):
    from app.core import states
    from app.data import callbacks

    row = await callbacks.get_request(p.platform.db, request_id=request_id)
    await callbacks.transition(p.platform.db, row, states.FAILED, reason=states.A_BUSY)


async def _send_notices(p: PlatformUnderTest):
    from app.calls import notices

    await notices.send_outcome_notices(p.platform)
