"""Telnyx's webhooks: Ed25519 over `timestamp|body`, five minutes either way; anything else is 403 and writes nothing.

The TeXML webhooks (the trigger, status callbacks, the IVR steps) and the Messaging events at /telnyx/sms,
each attacked over HTTP: another key, a stale or future timestamp, a body altered after signing, no signature,
Twilio's signature, and the happy path that does write (with a `v3:` id, on both backends).
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from app.data.tables import sms_messages
from sandbox import telnyx as sandbox_telnyx
from tests.utils import scenario as sc
from tests.utils import telnyx as tx
from tests.utils import twilio as tw
from tests.utils.harness import PlatformUnderTest

TELNYX = sandbox_telnyx.Signer(b"t" * 32)
STRANGER_KEY = sandbox_telnyx.Signer(b"s" * 32)
ROUTES = ["/twilio/voice", "/twilio/status?request=1&leg=a", "/legs/1/answer", "/legs/1/pin"]


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(tx.settings_for(settings, TELNYX), engine) as platform:
        sc.seed(platform)
        yield platform


def trigger(call_sid: str | None = None) -> dict[str, str]:
    return tw.voice_params(From=sc.STRANGER, To=sc.PIN_NUMBER, CallSid=call_sid or sandbox_telnyx.call_id(),
                           AccountSid=sandbox_telnyx.DEFAULT_ACCOUNT_ID)


def post(p, path, body: bytes, headers: dict):
    return p.client.post(path, content=body, headers=headers)


def texts(p) -> list:
    with p.engine.connect() as c:
        return c.execute(sa.select(sms_messages)).mappings().all()


def event(text="CALL 2125550123", message_id="4031a6b5-3e0c-4c3e-9d8b-0f0b2b1c9a11"):
    return sandbox_telnyx.message_received(message_id=message_id, from_=sc.ALICE_MOBILE, to=sc.PIN_NUMBER,
                                           text=text, at=__import__("datetime").datetime(2026, 12, 4, 22, 0),
                                           url="http://testserver/telnyx/sms")


def test_a_signed_trigger_is_taken_with_its_v3_call_id(p):
    params = trigger()
    response = post(p, "/twilio/voice", *tx.signed_form(TELNYX, params))
    assert response.status_code == 200 and "<Reject" in response.text
    (row,) = p.requests()
    assert row["trigger_id"] == params["CallSid"] and row["trigger_id"].startswith("v3:")


ATTACKS = [("/twilio/voice", attack) for attack in ("another-key", "stale", "future", "altered", "unsigned",
                                                    "twilio-signature", "garbled-signature")]
ATTACKS += [(path, "another-key") for path in ROUTES[1:]]


@pytest.mark.parametrize("path, attack", ATTACKS)
def test_texml_webhooks_refuse_what_telnyx_did_not_sign(p, path, attack):
    params = trigger()
    now = time.time()
    if attack == "another-key":
        body, headers = tx.signed_form(STRANGER_KEY, params)
    elif attack in ("stale", "future"):
        body, headers = tx.signed_form(TELNYX, params, now=now - 301 if attack == "stale" else now + 301)
    elif attack == "altered":
        body, headers = tx.signed_form(TELNYX, params)
        body = body.replace(sc.STRANGER[1:].encode(), sc.ALICE_MOBILE[1:].encode())
    else:
        body, headers = tx.signed_form(TELNYX, params)
        del headers["telnyx-signature-ed25519"]
        if attack == "twilio-signature":
            headers["X-Twilio-Signature"] = tw.sign("http://testserver" + path, params)
        elif attack == "garbled-signature":
            headers["telnyx-signature-ed25519"] = "not base64 \u00e9".encode("latin-1")
    response = post(p, path, body, headers)
    assert response.status_code == 403, response.text
    assert p.requests() == []


def test_the_tolerance_is_five_minutes_either_way(p):
    now = time.time()
    for skew in (-290, 290):
        assert post(p, "/twilio/voice", *tx.signed_form(TELNYX, trigger(), now=now + skew)).status_code == 200
    assert len(p.requests()) == 2


def test_a_signed_text_is_acted_on_and_replied_to_through_the_messaging_api(p, monkeypatch):
    sent = []

    async def send_sms(*, to, from_, body):
        sent.append((to, from_, body))
        return "40385f64-5717-4562-b3fc-2c963f66afa6"

    monkeypatch.setattr(p.platform.provider, "send_sms", send_sms)
    response = post(p, "/telnyx/sms", *tx.signed_json(TELNYX, event("BAL")))
    assert response.status_code == 204
    assert sent == [(sc.ALICE_MOBILE, sc.PIN_NUMBER, "Your balance is 10.00 USD.")]
    inbound = [row for row in texts(p) if row["direction"] == "in"]
    assert [(row["source"], row["message_id"]) for row in inbound] == [("telnyx", event()["data"]["payload"]["id"])]


@pytest.mark.parametrize("attack", ["another-key", "stale", "altered", "unsigned"])
def test_messaging_events_refuse_what_telnyx_did_not_sign(p, attack):
    payload = event()
    if attack == "another-key":
        body, headers = tx.signed_json(STRANGER_KEY, payload)
    elif attack == "stale":
        body, headers = tx.signed_json(TELNYX, payload, now=time.time() - 301)
    else:
        body, headers = tx.signed_json(TELNYX, payload)
        if attack == "altered":
            body = body.replace(b"CALL 2125550123", b"CALL 2125550124")
        else:
            del headers["telnyx-signature-ed25519"]
    response = post(p, "/telnyx/sms", body, headers)
    assert response.status_code == 403
    assert texts(p) == [] and p.requests() == []


@pytest.mark.parametrize("body, status", [(b"{not json", 400), (b"[]", 400), (b'{"data": {"event_type": 7}}', 400),
                                          (b'{"data": {"event_type": "message.received", "payload": []}}', 400),
                                          (b'{"data": {"event_type": "message.finalized", "payload": {}}}', 204)])
def test_signed_nonsense_is_a_clear_4xx_or_ignored(p, body, status):
    headers = {"Content-Type": "application/json", **TELNYX.headers(body)}
    response = post(p, "/telnyx/sms", body, headers)
    assert response.status_code == status
    assert texts(p) == []


def test_a_hostile_message_id_is_refused(p):
    payload = event(message_id="x' OR 1=1 --")
    response = post(p, "/telnyx/sms", *tx.signed_json(TELNYX, payload))
    assert response.status_code == 400 and texts(p) == []


def test_an_oversized_body_is_refused_before_it_is_verified(p):
    body = b"{" + b" " * (70 * 1024) + b"}"
    response = post(p, "/telnyx/sms", body, {"Content-Type": "application/json", **TELNYX.headers(body)})
    assert response.status_code == 413 and texts(p) == []


def test_the_telnyx_route_is_closed_when_telnyx_is_not_the_provider(settings, engine):
    with PlatformUnderTest(settings, engine) as p:
        response = post(p, "/telnyx/sms", *tx.signed_json(TELNYX, event()))
        assert response.status_code == 404 and texts(p) == []
