"""The provider webhooks' short way in (app/web/webhook_lane.py): what the layers it skips did, it still does.

Each request goes over HTTP to the app: a forged or overlong Host, an unsigned post,
a path the lane does not take, and the metrics of the requests it serves.
"""

from __future__ import annotations

import re

import pytest

from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.harness import BASE, PlatformUnderTest

LANE_PATHS = ["/twilio/voice", "/twilio/status?request=1&leg=a", "/legs/1/pin"]


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        sc.seed(platform)
        yield platform


@pytest.mark.parametrize("path", LANE_PATHS)
@pytest.mark.parametrize("host", ["evil.example", "a" * 10_000])
def test_a_signed_webhook_with_a_foreign_host_gets_400_and_writes_nothing(p, path, host):
    params = tw.voice_params(From=sc.STRANGER, To=sc.PIN_NUMBER)
    response = p.client.post(path, data=params, headers={"Host": host,
                                                         "X-Twilio-Signature": tw.sign(BASE + path, params)})
    assert response.status_code == 400 and response.text in ("Invalid host header", "Host header too long")
    assert p.requests() == []


@pytest.mark.parametrize("path", LANE_PATHS)
def test_an_unsigned_webhook_gets_403_as_text(p, path):
    response = p.client.post(path, data=tw.voice_params(From=sc.STRANGER, To=sc.PIN_NUMBER),
                             headers={"X-Twilio-Signature": "forged"})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/plain") and "Traceback" not in response.text
    assert p.requests() == []


def test_what_the_lane_does_not_take_goes_to_the_router(p):
    assert p.client.get("/twilio/voice").status_code == 405
    assert p.post("/legs/not-a-number/pin", {"Digits": "1"}).status_code == 404
    assert p.post("/legs/1/no-such-step", {"Digits": "1"}).status_code == 404


def test_the_lanes_requests_are_counted_by_route_template(p):
    params = tw.voice_params(From=sc.STRANGER, To=sc.PIN_NUMBER)
    assert "<Reject" in p.post("/twilio/voice", params).text
    assert p.post("/legs/1/pin", {"Digits": "1234"}).status_code == 200  # no such request: the goodbye
    text = p.client.get("/metrics").text
    assert re.search(r'callback_webhook_requests_total\{route="/twilio/voice",status="200"\} 1\.0', text)
    assert re.search(r'callback_webhook_requests_total\{route="/legs/\{request_id:int\}/\{step\}",status="200"\} 1\.0',
                     text)
    assert 'callback_webhook_duration_seconds_count{route="/twilio/voice"} 1.0' in text


def test_a_crash_in_a_lane_handler_is_a_plain_500_and_logged(p, monkeypatch, caplog):
    from app.calls import triggers

    async def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(triggers, "accept_voice_trigger", broken)
    client = type(p.client)(p.app, base_url=BASE, raise_server_exceptions=False)
    params = tw.voice_params(From=sc.STRANGER, To=sc.PIN_NUMBER)
    response = client.post("/twilio/voice", data=params,
                           headers={"X-Twilio-Signature": tw.sign(BASE + "/twilio/voice", params)})
    assert response.status_code == 500 and response.text == "Internal Server Error"
    assert "boom" not in response.text and any("boom" in (r.exc_text or "") for r in caplog.records)
