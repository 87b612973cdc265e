"""Each provider's webhook signature over HTTP: SignalWire's signing key, Twilio's Webhook Rules (SHA-256
with a shared key), and opaque provider ids. A forged request gets 403 and writes nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from app.data.tables import sms_messages
from tests.utils import scenario as sc
from tests.utils import signalwire as sw
from tests.utils import twilio as tw
from tests.utils.harness import BASE, PlatformUnderTest

ROUTES = ["/twilio/voice", "/twilio/sms", "/twilio/status?request=1&leg=a", "/legs/1/answer", "/legs/1/pin"]
SHARED_KEY = "webhooks-shared-key-0123456789abcdef"
RULE = {"X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_01hzx,algorithm=HMAC_SHA256"}


def params_for(path: str, call_sid: str) -> dict[str, str]:
    if path == "/twilio/sms":
        params = tw.sms_params(From=sc.STRANGER, To=sc.PIN_NUMBER, Body="CALL 2125550123")
        return params | {"MessageSid": call_sid, "SmsMessageSid": call_sid, "SmsSid": call_sid}
    return tw.voice_params(From=sc.STRANGER, To=sc.PIN_NUMBER) | {"CallSid": call_sid}


def nothing_written(p: PlatformUnderTest) -> bool:
    return p.requests() == [] and p.scalar(sa.select(sa.func.count()).select_from(sms_messages)) == 0


@pytest.fixture
def signalwire(settings, engine):
    configured = settings.with_(provider="signalwire", signalwire_space_url="example.signalwire.com",
                                signalwire_project_id=sw.PROJECT_ID, signalwire_api_token=sw.API_TOKEN,
                                signalwire_signing_key=sw.SIGNING_KEY)
    with PlatformUnderTest(configured, engine) as platform:
        sc.seed(platform)
        yield platform


@pytest.fixture
def rules(settings, engine):
    with PlatformUnderTest(settings.with_(twilio_webhook_shared_key=SHARED_KEY), engine) as platform:
        sc.seed(platform)
        yield platform


def test_signalwire_webhooks_signed_with_the_signing_key_are_served(signalwire):
    sid = sw.call_sid()
    params = params_for("/twilio/voice", sid)
    response = signalwire.client.post("/twilio/voice", data=params, headers=sw.headers(BASE + "/twilio/voice", params))
    assert response.status_code == 200 and "<Reject" in response.text
    (row,) = signalwire.requests()
    assert row["trigger_id"] == sid  # a UUID, kept as the provider gave it
    assert signalwire.client.get("/healthz").json()["provider"] == "signalwire"


@pytest.mark.parametrize("header", ["X-SignalWire-Signature", "X-Twilio-Signature"])
def test_either_signalwire_header_carries_the_signature(signalwire, header):
    params = params_for("/twilio/voice", sw.call_sid())
    signature = sw.headers(BASE + "/twilio/voice", params)[header]
    assert signalwire.client.post("/twilio/voice", data=params, headers={header: signature}).status_code == 200


@pytest.mark.parametrize("key", [sw.API_TOKEN, tw.AUTH_TOKEN], ids=["api-token", "twilio-auth-token"])
def test_signalwire_webhooks_signed_with_another_key_are_refused(signalwire, key):
    """The API token is a REST credential, not the signing key: whoever holds it cannot forge a webhook."""
    for path in ROUTES:
        params = params_for(path, sw.call_sid())
        response = signalwire.client.post(path, data=params, headers=sw.headers(BASE + path, params, key=key))
        assert response.status_code == 403 and "X-SignalWire-Signature" in response.text, path
    assert nothing_written(signalwire)


def test_a_forged_signalwire_header_is_not_saved_by_a_genuine_twilio_one(signalwire):
    params = params_for("/twilio/voice", sw.call_sid())
    genuine = sw.headers(BASE + "/twilio/voice", params)
    forged = {**genuine, "X-SignalWire-Signature": sw.headers(BASE + "/twilio/voice", params, key=sw.API_TOKEN)[
        "X-SignalWire-Signature"]}
    assert signalwire.client.post("/twilio/voice", data=params, headers=forged).status_code == 403
    assert nothing_written(signalwire)


def sha256(url: str, params: dict[str, str], key: str) -> str:
    return RequestValidator(key).compute_signature(url, params, "HMAC_SHA256")


@pytest.mark.parametrize("path", ["/twilio/voice", "/twilio/sms"])
def test_webhook_rules_sha256_with_the_shared_key_is_served(rules, path):
    params = params_for(path, tw.call_sid())
    headers = {**RULE, "X-Twilio-Signature": sha256(BASE + path, params, SHARED_KEY)}
    assert rules.client.post(path, data=params, headers=headers).status_code == 200
    assert not nothing_written(rules)


@pytest.mark.parametrize("case", ["wrong-shared-key", "auth-token-under-a-rule", "unknown-algorithm", "sha1-signed"])
def test_webhook_rules_refuse_what_the_shared_key_did_not_sign(rules, case):
    for path in ROUTES:
        params = params_for(path, tw.call_sid())
        url = BASE + path
        signature, settings_header = {
            "wrong-shared-key": (sha256(url, params, "someone-elses-shared-key"), RULE),
            # The header names the shared key: the auth token's SHA-256 (or anyone's) does not stand in for it.
            "auth-token-under-a-rule": (sha256(url, params, tw.AUTH_TOKEN), RULE),
            "unknown-algorithm": (sha256(url, params, SHARED_KEY),
                                  {"X-Twilio-Webhooks-Signature-Settings": "key=k,algorithm=HMAC_MD5"}),
            "sha1-signed": (tw.sign(url, params, SHARED_KEY), RULE),  # the header says SHA-256
        }[case]
        response = rules.client.post(path, data=params, headers={**settings_header, "X-Twilio-Signature": signature})
        assert response.status_code == 403, path
    assert nothing_written(rules)


def test_a_rule_header_without_a_configured_shared_key_is_refused(settings, engine):
    with PlatformUnderTest(settings, engine) as p:
        sc.seed(p)
        params = params_for("/twilio/voice", tw.call_sid())
        headers = {**RULE, "X-Twilio-Signature": sha256(BASE + "/twilio/voice", params, SHARED_KEY)}
        response = p.client.post("/twilio/voice", data=params, headers=headers)
        assert response.status_code == 403 and "TWILIO_WEBHOOK_SHARED_KEY" in response.text
        assert nothing_written(p)


def test_the_auth_token_still_signs_urls_no_rule_covers(rules):
    params = params_for("/twilio/voice", tw.call_sid())
    assert rules.post("/twilio/voice", params).status_code == 200


@pytest.mark.parametrize("sid", ["0b7d3cd0-6e5c-4b8e-9a4f-1a2b3c4d5e6f", "CA" + "f" * 32, "a" * 64,
                                 "v3:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d"])
def test_any_reasonable_opaque_id_is_a_call_id(rules, sid):
    params = params_for("/twilio/voice", sid)
    assert rules.post("/twilio/voice", params).status_code == 200
    (row,) = rules.requests()
    assert row["trigger_id"] == sid


BAD_IDS = ["", "a" * 65, "CA/../admin", "CA 1", "CA1\n", "-leading-dash", "CA1;drop", "ÇA1"]


def test_an_id_that_cannot_be_one_gets_400_and_nothing_is_written(rules):
    for path in ("/twilio/voice", "/twilio/sms"):
        for sid in BAD_IDS:
            response = rules.post(path, params_for(path, sid))
            assert response.status_code == 400, (path, sid)
    assert nothing_written(rules)


@pytest.fixture
def twilio_and_signalwire(settings, engine):
    configured = settings.with_(providers=("twilio", "signalwire"), signalwire_space_url="example.signalwire.com",
                                signalwire_project_id=sw.PROJECT_ID, signalwire_api_token=sw.API_TOKEN,
                                signalwire_signing_key=sw.SIGNING_KEY)
    with PlatformUnderTest(configured, engine) as platform:
        sc.seed(platform)
        yield platform


def test_with_several_providers_any_ones_signature_is_served_and_a_named_one_takes_only_its_own(
        twilio_and_signalwire):
    p = twilio_and_signalwire
    assert p.client.get("/healthz").json()["providers"] == ["twilio", "signalwire"]
    voice = "/twilio/voice"
    by_signalwire = params_for(voice, sw.call_sid())
    assert p.client.post(voice, data=by_signalwire, headers=sw.headers(BASE + voice, by_signalwire)).status_code == 200
    assert p.post(voice, params_for(voice, tw.call_sid())).status_code == 200  # Twilio's auth token
    forged = params_for(voice, sw.call_sid())
    # SignalWire's API token signs for neither provider.
    assert p.client.post(voice, data=forged, headers=sw.headers(BASE + voice, forged, key=sw.API_TOKEN)).status_code == 403
    (request_id, _) = (row["id"] for row in p.requests())

    # A URL naming its provider takes that provider's signature and no other configured one's.
    for named, other in [("twilio", "signalwire"), ("signalwire", "twilio")]:
        path = f"/twilio/status?request={request_id}&leg=a&provider={named}"
        status = tw.status_params(CallSid=tw.call_sid(), CallStatus="ringing", From=sc.ANI_NUMBER, To=sc.ALICE_HOME,
                                  SequenceNumber=1)
        signed = {"twilio": lambda: {"X-Twilio-Signature": tw.sign(BASE + path, status)},
                  "signalwire": lambda: sw.headers(BASE + path, status)}
        refused = p.client.post(path, data=status, headers=signed[other]())
        assert refused.status_code == 403, (named, other)
        assert p.client.post(path, data=status, headers=signed[named]()).status_code == 204, named


def test_with_twilio_and_telnyx_each_ones_own_scheme_is_checked(settings, engine):
    """Telnyx signs the raw body (Ed25519), Twilio the URL and form: with both configured, a webhook is
    served when either signed it its own way, and a Telnyx signature by another key is refused."""
    from sandbox import telnyx as sandbox_telnyx
    from tests.utils import telnyx as tx

    signer, stranger = sandbox_telnyx.Signer(), sandbox_telnyx.Signer()
    configured = tx.settings_for(settings, signer, public_base_url=BASE).with_(
        provider=None, providers=("twilio", "telnyx"), twilio_account_sid=tw.ACCOUNT_SID,
        twilio_auth_token=tw.AUTH_TOKEN)
    with PlatformUnderTest(configured, engine) as p:
        sc.seed(p)
        voice = "/twilio/voice"
        assert p.client.get("/healthz").json()["providers"] == ["twilio", "telnyx"]
        assert p.post(voice, params_for(voice, tw.call_sid())).status_code == 200  # Twilio's auth token
        by_telnyx = params_for(voice, "v3:" + "A" * 40)
        body, headers = tx.signed_form(signer, by_telnyx)
        assert p.client.post(voice, content=body, headers=headers).status_code == 200
        forged = params_for(voice, "v3:" + "B" * 40)
        body, headers = tx.signed_form(stranger, forged)
        assert p.client.post(voice, content=body, headers=headers).status_code == 403
        assert len(p.requests()) == 2
