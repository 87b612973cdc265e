"""Least-cost routing and the provider of a leg A, through signed webhooks: which provider is tried first,
and a call of a provider the request was failed over from is ended, never adopted."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from app.calls import dispatcher, routing
from app.core import states
from app.data import callbacks, provider_routes
from app.data.db import utcnow
from app.providers.credentials import sandbox_auth_token
from tests.conftest import SECRET_KEY
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.harness import BASE, PlatformUnderTest


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings.with_(providers=("twilio", "sandbox")), engine) as platform:
        sc.seed(platform)
        yield platform


def test_the_cheapest_provider_at_the_longest_prefix_comes_first_then_providers_order(p):
    db = p.platform.db
    three = SimpleNamespace(db=db, providers=dict.fromkeys(("twilio", "sandbox", "signalwire")))
    for prefix, provider, cost in [("1", "sandbox", 9_000), ("1", "twilio", 8_000), ("1415", "signalwire", 7_000),
                                   ("1415", "sandbox", 6_000), ("1415", "telnyx", 1_000)]:  # telnyx: not configured
        p.run(provider_routes.set_route, db, prefix=prefix, provider=provider, cost_per_minute=cost)
    assert p.run(routing.candidates, three, "+14155550100") == ["sandbox", "signalwire", "twilio"]
    assert p.run(routing.candidates, three, "+12125550123") == ["twilio", "sandbox", "signalwire"]
    assert p.run(routing.candidates, three, "+442071234567") == ["twilio", "sandbox", "signalwire"]  # no route
    p.run(provider_routes.set_down, db, provider="sandbox", down=True)
    assert p.run(routing.candidates, three, "+14155550100") == ["signalwire", "twilio"]
    # A request stays with its provider while it may; failover only moves forward in the order.
    names = ["signalwire", "twilio"]
    assert routing.pick({"provider": "twilio"}, names) == "twilio"
    assert routing.pick({"provider": "sandbox"}, names) == "signalwire"  # marked down meanwhile
    assert routing.after(names, "signalwire") == "twilio" and routing.after(names, "twilio") is None
    one = SimpleNamespace(db=None, providers={"twilio": None})  # one provider: no database read at all
    assert p.run(routing.candidates, one, "+14155550100") == ["twilio"]


def sandbox_sign(url: str, params: dict[str, str]) -> str:
    return tw.sign(url, params, token=sandbox_auth_token(SECRET_KEY))


def test_a_call_of_the_provider_failed_over_from_is_ended_not_adopted(p, monkeypatch):
    ended = []

    async def end_call(sid):
        ended.append(sid)

    monkeypatch.setattr(p.platform.providers["twilio"], "end_call", end_call)
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
    s.trigger()
    # Claimed and routed to twilio; its create call got no answer, and the grace passed without a callback.
    (claimed,) = p.run(callbacks.claim_due, p.platform.db, now=utcnow(), limit=1)
    assert p.run(callbacks.route_leg_a, p.platform.db, claimed, provider="twilio")["provider"] == "twilio"
    later = utcnow() + dt.timedelta(seconds=p.settings.placing_grace_seconds + 5)
    p.run(dispatcher.expire_and_settle, p.platform, later)
    assert (s.row["state"], s.row["provider"]) == (states.QUEUED, "sandbox")
    p.run(callbacks.claim_due, p.platform.db, now=later, limit=1)
    assert (s.row["state"], s.row["leg_a_sid"]) == (states.CALLING_A, None)  # its create at sandbox in flight

    # twilio's call appears now: its callbacks name twilio, so it is not this request's leg.
    late = tw.call_sid()
    status = tw.status_params(CallSid=late, CallStatus="ringing", From=sc.ANI_NUMBER, To=sc.ALICE_HOME,
                              SequenceNumber=1)
    assert p.post(f"/twilio/status?request={s.request_id}&leg=a&provider=twilio", status).status_code == 204
    assert s.row["leg_a_sid"] is None and p.legs(s.request_id) == [] and ended == [late]
    answer = tw.voice_params(From=sc.ANI_NUMBER, To=sc.ALICE_HOME, CallSid=late, CallStatus="in-progress",
                             Direction="outbound-api")
    verbs = p.twiml(f"/legs/{s.request_id}/answer?provider=twilio", answer)
    assert verbs[-1].name == "Hangup" and s.row["state"] == states.CALLING_A and s.row["leg_a_sid"] is None

    # A callback naming sandbox must carry sandbox's signature, not another provider's.
    own = tw.call_sid()
    status = tw.status_params(CallSid=own, CallStatus="ringing", From=sc.ANI_NUMBER, To=sc.ALICE_HOME,
                              SequenceNumber=1)
    path = f"/twilio/status?request={s.request_id}&leg=a&provider=sandbox"
    assert p.post(path, status).status_code == 403  # signed with twilio's token
    assert p.post(path, status, signature=sandbox_sign(BASE + path, status)).status_code == 204
    assert s.row["leg_a_sid"] == own
    assert [(leg["provider_sid"], leg["provider"]) for leg in p.legs(s.request_id)] == [(own, "sandbox")]
