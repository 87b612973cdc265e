"""Every provider-facing route refuses what the provider did not sign, and writes nothing."""

from __future__ import annotations

import pytest

from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.harness import BASE, PlatformUnderTest

ROUTES = ["/twilio/voice", "/twilio/status?request=1&leg=a", "/legs/1/answer", "/legs/1/pin"]


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        sc.seed(platform)
        yield platform


def trigger_params():
    return tw.voice_params(From=sc.STRANGER, To=sc.PIN_NUMBER)


@pytest.mark.parametrize("path", ROUTES)
def test_unsigned_request_is_refused(p, path):
    response = p.client.post(path, data=trigger_params())
    assert response.status_code == 403
    assert p.requests() == []


@pytest.mark.parametrize("path", ROUTES)
def test_signature_with_another_token_is_refused(p, path):
    params = trigger_params()
    response = p.post(path, params, signature=tw.sign(BASE + path, params, token="someone-elses-token"))
    assert response.status_code == 403
    assert p.requests() == []


@pytest.mark.parametrize(
    "tamper",
    [
        lambda params: params.update(From=sc.ALICE_MOBILE),
        lambda params: params.update(Extra="1"),
        lambda params: params.pop("Caller"),
        lambda params: params.update(To=sc.ANI_NUMBER),
    ],
    ids=["changed-field", "added-field", "removed-field", "changed-number"],
)
def test_any_altered_field_is_refused(p, tamper):
    params = trigger_params()
    signature = tw.sign(BASE + "/twilio/voice", params)
    tamper(params)
    assert p.post("/twilio/voice", params, signature=signature).status_code == 403
    assert p.requests() == []


@pytest.mark.parametrize("signed_url", ["https://testserver/twilio/voice", "http://testserver/twilio/other",
                                        "http://evil.example/twilio/voice", "http://testserver:8443/twilio/voice"])
def test_signature_for_another_url_is_refused(p, signed_url):
    params = trigger_params()
    assert p.post("/twilio/voice", params, signature=tw.sign(signed_url, params)).status_code == 403
    assert p.requests() == []


def test_public_base_url_is_what_the_provider_signed(settings, engine):
    """Behind a TLS-terminating proxy the app sees http://internal; the provider signed the public URL."""
    proxied = settings.with_(public_base_url="https://callback.example.com")
    with PlatformUnderTest(proxied, engine) as p:
        sc.seed(p)
        params = trigger_params()
        internal = p.post("/twilio/voice", params)  # signed for http://testserver/...
        assert internal.status_code == 403
        public = p.post("/twilio/voice", params,
                        signature=tw.sign("https://callback.example.com/twilio/voice", params))
        assert public.status_code == 200
        rows = p.requests()
        assert len(rows) == 1 and rows[0]["base_url"] == "https://callback.example.com"


def test_port_variants_of_the_signed_url_are_accepted(p):
    """Twilio may sign with or without the default port; the SDK accepts both."""
    params = trigger_params()
    assert p.post("/twilio/voice", params, signature=tw.sign("http://testserver:80/twilio/voice", params)).status_code == 200


@pytest.mark.parametrize(
    "body, content_type, expected",
    [
        (b"x" * (70 * 1024), "application/x-www-form-urlencoded", 413),
        (b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded", 400),
        (b'{"CallSid": "CA1"}', "application/json", 415),
        (b"&".join(b"f%d=1" % i for i in range(500)), "application/x-www-form-urlencoded", 400),
    ],
    ids=["huge", "not-utf8", "json", "too-many-fields"],
)
def test_odd_bodies_get_a_clear_4xx(p, body, content_type, expected):
    response = p.client.post("/twilio/voice", content=body,
                             headers={"Content-Type": content_type, "X-Twilio-Signature": "abc"})
    assert response.status_code == expected
    assert "Traceback" not in response.text
    assert p.requests() == []
