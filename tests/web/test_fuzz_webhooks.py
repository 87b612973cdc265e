"""Fuzzing: every webhook's form handling, and the number normalization behind it.

Whatever a client sends to a provider-facing route, the answer is a 4xx unless the provider
signed it; whatever the provider signs (random keys, unicode, huge values, fields missing or
duplicated, odd content types), the answer is never a 5xx, and the app keeps working after.
The SMS command parser has its properties in tests/calls/test_sms_commands.py (any text gives a
command, every valid form round-trips); here it is driven through the webhooks instead.

No value is bounded to what a provider would send: ids and counters go beyond 64 bits,
stored fields beyond their columns, with NUL characters. The tests at the end pin down, one
by one, each input that once made the app answer 500.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from app.data import sms_log
from app.core import states
from app.core.phone import InvalidNumber, to_e164, usable_caller_id
from tests.providers.test_replays_and_forgeries import snapshot
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.databases import database_url_for, isolated_postgres_url
from tests.utils.harness import BASE, PlatformUnderTest
from tests.utils.provider import TwilioRecorder

__all__ = ["isolated_postgres_url"]

FUZZ = hsettings(max_examples=120, deadline=None, derandomize=False,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.function_scoped_fixture])
PROVIDER_ROUTES = ["/twilio/voice", "/twilio/status?request=1&leg=a", "/twilio/sms", "/legs/1/answer",
                   "/legs/1/destination", "/legs/1/next", "/twilio/recording?request=1"]
STEPS = ["answer", "pin", "destination", "confirm", "dialed", "next"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    return database_url_for(request, tmp_path)


class Fuzzed:
    def __init__(self, p: PlatformUnderTest, gateway_secret: str, request_id: int, leg_a_sid: str):
        self.p, self.gateway_secret, self.request_id, self.leg_a_sid = p, gateway_secret, request_id, leg_a_sid

    def post(self, path: str, *, data=None, content=None, headers=None):
        return self.p.client.post(path, data=data, content=content, headers=headers or {})

    def still_works(self) -> None:
        """After the fuzzing: a genuine trigger is still accepted and queued."""
        params = tw.voice_params(From=sc.ALICE_MOBILE, To=sc.ANI_NUMBER, CallSid=tw.call_sid())
        response = self.p.post("/twilio/voice", params)
        assert response.status_code == 200 and tw.parse_twiml(response.text)[0].name == "Reject"
        (row,) = [r for r in self.p.requests() if r["trigger_id"] == params["CallSid"]]
        assert row["state"] in (states.QUEUED, states.FAILED)
        health = self.p.client.get("/healthz")
        assert health.status_code == 200, health.text


@pytest.fixture
def fz(settings, engine):
    """The app with a 500 answered as a 500 (not raised into the test), seeded, one callback placed."""
    platform = PlatformUnderTest(settings, engine)
    platform.client = TestClient(platform.app, base_url=BASE, raise_server_exceptions=False)
    with platform as p:
        sc.seed(p)
        secret = p.run(sms_log.add_gateway, p.platform.db, name="fuzz-gateway")
        s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
        s.trigger()
        with TwilioRecorder().cassette("calls_create.yaml"):
            assert p.dispatch() == 1
        yield Fuzzed(p, secret, s.request_id, s.row["leg_a_sid"])


# --- strategies ---------------------------------------------------------------------------

anything = st.text(max_size=40)
unbounded = st.text(max_size=120)  # longer than any column, NUL characters included
big = st.text(min_size=1000, max_size=20_000)
keys = st.text(min_size=0, max_size=20)
numbers_typed = st.sampled_from([sc.ALICE_MOBILE, sc.ALICE_HOME, sc.STRANGER, sc.PIN_NUMBER, sc.ANI_NUMBER,
                                 "anonymous", "+266696687", "", "2125550123", "+442071234567", "client:alice",
                                 "sip:alice@example.com", "+1", "00442071234567"])
counters = st.integers(min_value=-(2**70), max_value=2**70).map(str) | st.sampled_from(
    ["", "x", "1.5", "-0", "0x10", "1e9", str(2**31), str(2**63), "\u0661\u0662"])
statuses = st.sampled_from(["queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer",
                            "failed", "canceled", "answered", "", "COMPLETED"]) | unbounded
digits = st.text("0123456789*#+ ", max_size=20) | anything


def sids(prefix: str):
    return st.one_of(st.just(prefix + "0" * 32), st.text("0123456789abcdefABCDEF", min_size=32, max_size=32).map(
        lambda h: prefix + h), unbounded, st.from_regex(r"[A-Za-z0-9]{1,100}", fullmatch=True))


def field_values(call_sid):
    """Values for the fields the app reads: realistic ones, and anything at all."""
    return {
        "CallSid": call_sid, "MessageSid": sids("SM"), "SmsSid": sids("SM"), "ParentCallSid": sids("CA"),
        "DialCallSid": sids("CA"), "From": numbers_typed | unbounded, "To": numbers_typed | unbounded,
        "CallStatus": statuses, "DialCallStatus": statuses, "SequenceNumber": counters, "CallDuration": counters,
        "DialCallDuration": counters, "Digits": digits, "AnsweredBy": st.sampled_from(
            ["human", "machine_start", "machine_end_beep", "fax", "unknown", ""]) | anything,
        "Body": st.text(max_size=200) | big, "Direction": st.sampled_from(["inbound", "outbound-api", "outbound-dial"]),
        "RecordingSid": sids("RE"), "RecordingStatus": st.sampled_from(["in-progress", "completed", "absent", "failed",
                                                                        "deleted", ""]) | unbounded,
        "RecordingDuration": counters, "RecordingChannels": counters, "RecordingUrl": unbounded | big,
    }


@st.composite
def provider_forms(draw, base: dict[str, str], call_sid):
    """A form the provider could sign: a realistic one, then fields changed, removed and added."""
    params = dict(base)
    values = field_values(call_sid)
    for key in draw(st.lists(st.sampled_from(sorted(values)), max_size=6, unique=True)):
        params[key] = draw(values[key])
    for key in draw(st.lists(st.sampled_from(sorted(params)), max_size=3, unique=True)):
        params.pop(key, None)
    extra = draw(st.dictionaries(keys, anything | big, max_size=4))
    for key, value in extra.items():
        params.setdefault(key, value)
    if len(urlencode(params)) > 60_000:
        params = {k: v[:1000] for k, v in params.items()}
    return params


def signed_post(p: PlatformUnderTest, path: str, params: dict[str, str]):
    return p.client.post(path, data=params, headers={"X-Twilio-Signature": tw.sign(BASE + path, params)})


# --- unsigned -----------------------------------------------------------------------------


bodies = st.one_of(
    st.dictionaries(keys, anything | big, max_size=8).map(lambda d: ("form", urlencode(d).encode())),
    st.binary(max_size=2000).map(lambda b: ("raw", b)),
    st.dictionaries(keys, anything, max_size=5).map(lambda d: ("json", json.dumps(d).encode())),
    st.just(("raw", b"\xff\xfe\x00" * 100)),
    st.just(("raw", b"a=" + b"x" * 70_000)),
)
content_types = st.sampled_from([None, "application/x-www-form-urlencoded", "application/json", "text/plain",
                                 "multipart/form-data; boundary=x", "application/x-www-form-urlencoded; charset=latin-1",
                                 "APPLICATION/X-WWW-FORM-URLENCODED"])
signatures = st.one_of(st.none(), st.just(""), st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40),
                       st.just(tw.sign(BASE + "/twilio/voice", {})))


def test_unsigned_or_forged_requests_get_a_4xx_and_write_nothing(fz, engine):
    before = snapshot(engine)

    @FUZZ
    @given(route=st.sampled_from(PROVIDER_ROUTES), body=bodies, content_type=content_types, signature=signatures)
    def run(route, body, content_type, signature):
        _, content = body
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        response = fz.post(route, content=content, headers=headers)
        assert 400 <= response.status_code < 500, (route, response.status_code, response.text[:200])

    run()
    assert snapshot(engine) == before
    fz.still_works()


# --- signed -------------------------------------------------------------------------------


def base_for(fz: Fuzzed, route: str) -> dict[str, str]:
    leg = {"From": sc.ANI_NUMBER, "To": sc.ALICE_HOME, "CallStatus": "in-progress"}
    if route == "voice":
        return tw.voice_params(From=sc.ALICE_MOBILE, To=sc.ANI_NUMBER)
    if route == "sms":
        return tw.sms_params(From=sc.ALICE_MOBILE, To=sc.PIN_NUMBER, Body="BAL")
    if route == "status":
        return tw.status_params(CallSid=fz.leg_a_sid, SequenceNumber=1, **leg)
    if route == "recording":
        return {"AccountSid": tw.ACCOUNT_SID, "CallSid": fz.leg_a_sid, "RecordingSid": "RE" + "0" * 32,
                "RecordingStatus": "completed", "RecordingDuration": "12", "RecordingChannels": "2",
                "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE" + "0" * 32}
    return tw.voice_params(CallSid=fz.leg_a_sid, Direction="outbound-api", **leg)


@pytest.mark.parametrize("route", ["voice", "status", "sms", "legs", "recording"])
def test_signed_forms_never_get_a_5xx(fz, route):
    """The provider's own signature over whatever it sends: 200, 204 or a 4xx, never a 5xx."""
    call_sid = st.one_of(st.just(fz.leg_a_sid), st.just(fz.leg_a_sid), sids("CA"))
    request_ids = st.one_of(st.just(fz.request_id), st.just(fz.request_id), st.integers(0, 2**31 + 5),
                            st.integers(0, 10**30))
    paths = {
        "voice": st.just("/twilio/voice"),
        "sms": st.just("/twilio/sms"),
        "status": st.builds(lambda r, leg, extra: f"/twilio/status?request={r}&leg={leg}" + extra,
                            request_ids.map(str) | st.sampled_from(["", "x", "-1", "01"]),
                            st.sampled_from(["a", "b", "a", "b", "c", ""]),
                            st.sampled_from(["", "&leg=b", "&x=1"])),
        "recording": st.builds(lambda r: f"/twilio/recording?request={r}", request_ids.map(str) | st.just("x")),
        "legs": st.builds(lambda r, step: f"/legs/{r}/{step}", request_ids, st.sampled_from(STEPS) | st.text(
            st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=10)),
    }[route]
    base = base_for(fz, route)

    @FUZZ
    @given(path=paths, params=provider_forms(base, call_sid))
    def run(path, params):
        response = signed_post(fz.p, path, params)
        assert response.status_code in (200, 204) or 400 <= response.status_code < 500, (
            path, params, response.status_code, response.text[:300])

    run()
    fz.still_works()


def test_signed_forms_with_odd_encodings_never_get_a_5xx(fz):
    """Duplicate keys, '+' for spaces, a charset parameter, percent-encoded bytes that are not UTF-8."""

    @FUZZ
    @given(route=st.sampled_from(["/twilio/voice", "/twilio/sms", f"/legs/{fz.request_id}/destination"]),
           params=st.dictionaries(st.sampled_from(["From", "To", "CallSid", "Body", "Digits", "X"]), anything,
                                  min_size=1, max_size=5),
           duplicate=st.sampled_from(["From", "To", "Body", "Digits"]), value=anything,
           raw_bytes=st.binary(min_size=1, max_size=8), charset=st.sampled_from(["", "; charset=utf-8", "; charset=x"]))
    def run(route, params, duplicate, value, raw_bytes, charset):
        body = urlencode(params) + "&" + urlencode({duplicate: value}) + "&Odd=" + "".join(f"%{b:02X}" for b in raw_bytes)
        # What a provider would sign: the fields as the app reads them (the last value of a key wins).
        from urllib.parse import parse_qsl

        seen = dict(parse_qsl(body, keep_blank_values=True))
        headers = {"Content-Type": "application/x-www-form-urlencoded" + charset,
                   "X-Twilio-Signature": tw.sign(BASE + route, seen)}
        response = fz.post(route, content=body.encode(), headers=headers)
        assert response.status_code in (200, 204) or 400 <= response.status_code < 500, (route, body[:200],
                                                                                          response.status_code)

    run()
    fz.still_works()


# --- the SMS gateway ----------------------------------------------------------------------


gateway_fields = st.dictionaries(
    st.sampled_from(["from", "text", "message", "to", "sent_to", "message_id", "id", "uuid", "messageId",
                     "sent_timestamp", "secret", "device_id"]) | keys,
    st.one_of(anything, st.sampled_from([sc.ALICE_MOBILE, sc.BOB_MOBILE, "BAL", "CALL", "CALL 2125550123", "HELP",
                                         "STOP", "START", "PIN 482193"]), st.text(min_size=1500, max_size=1700)),
    max_size=7)
json_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), anything,
                        st.lists(st.integers(), max_size=2), st.dictionaries(keys, st.integers(), max_size=2))


def test_the_gateway_never_answers_a_5xx(fz):
    @FUZZ
    @given(fields=gateway_fields, as_json=st.booleans(), odd=st.dictionaries(keys, json_values, max_size=3),
           auth=st.sampled_from(["header", "bearer", "field", "query", "wrong", "none"]),
           method=st.sampled_from(["POST", "POST", "GET"]), task=st.sampled_from(["send", "", "x"]))
    def run(fields, as_json, odd, auth, method, task):
        headers, params = {}, {}
        fields = dict(fields)
        fields.pop("secret", None)
        if auth == "header":
            headers["X-Gateway-Secret"] = fz.gateway_secret
        elif auth == "bearer":
            headers["Authorization"] = f"Bearer {fz.gateway_secret}"
        elif auth == "field":
            fields["secret"] = fz.gateway_secret
        elif auth == "query":
            params["secret"] = fz.gateway_secret
        elif auth == "wrong":
            headers["X-Gateway-Secret"] = "not-the-secret"
        if method == "GET":
            params["task"] = task
            response = fz.p.client.get("/sms/gateway", params=params, headers=headers)
        elif as_json:
            payload = {**fields, **{k: v for k, v in odd.items() if k not in fields}}
            response = fz.p.client.post("/sms/gateway", params=params, content=json.dumps(payload).encode(),
                                        headers={**headers, "Content-Type": "application/json"})
        else:
            response = fz.p.client.post("/sms/gateway", params=params, data=fields, headers=headers)
        assert response.status_code < 500, (method, fields, response.status_code, response.text[:300])
        if auth in ("wrong", "none") and not (auth == "none" and "secret" in fields):
            assert response.status_code in (400, 401, 403, 413, 415, 422)
        assert response.json()["payload"] is not None

    run()
    fz.still_works()


# --- inputs that once made the app answer 500, each pinned down ----------------------------


def assert_no_5xx(answers: dict[str, int]) -> None:
    failing = {case: status for case, status in answers.items() if status >= 500}
    assert not failing, f"answered 5xx: {failing}"


def test_a_lone_surrogate_in_a_gateway_json_field_is_a_4xx(fz):
    answers = {}
    for field in ["secret", "text", "message_id", "to"]:
        payload = json.dumps({"from": sc.ALICE_MOBILE, "text": "BAL", "message_id": f"m-{field}"})
        raw = payload[:-1] + f', "{field}": "\\ud800x"}}'
        headers = {"Content-Type": "application/json"}
        if field != "secret":
            headers["X-Gateway-Secret"] = fz.gateway_secret
        answers[field] = fz.post("/sms/gateway", content=raw.encode(), headers=headers).status_code
    assert_no_5xx(answers)


def test_a_signed_leg_step_for_an_impossible_request_id_is_not_a_500(fz):
    params = tw.voice_params(From=sc.ANI_NUMBER, To=sc.ALICE_HOME)
    assert_no_5xx({str(rid): signed_post(fz.p, f"/legs/{rid}/answer", params).status_code
                   for rid in (2**63, 10**30)})


postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@postgres_only
def test_a_number_beyond_32_bits_from_the_provider_is_not_a_500_on_postgresql(fz):
    big = 2**31
    anyone = tw.status_params(CallSid=tw.call_sid(), CallStatus="ringing", From="+1", To="+1", SequenceNumber=1)
    duration = tw.status_params(CallSid=tw.call_sid(), CallStatus="completed", From=sc.ANI_NUMBER,
                                To="+12125550123", SequenceNumber=2, CallDuration=big)
    assert_no_5xx({
        "leg-step-id": signed_post(fz.p, f"/legs/{big}/answer",
                                   tw.voice_params(From=sc.ANI_NUMBER, To=sc.ALICE_HOME)).status_code,
        "status-request-id": signed_post(fz.p, f"/twilio/status?request={big}&leg=a", anyone).status_code,
        "call-duration": signed_post(fz.p, f"/twilio/status?request={fz.request_id}&leg=b", duration).status_code,
    })


@postgres_only
def test_an_unstorable_status_callback_field_is_not_a_500_on_postgresql(fz):
    cases = {"long-status": ("CallStatus", "x" * 17), "long-from": ("From", "sip:" + "a" * 40 + "@example.com"),
             "long-to": ("To", "sip:" + "b" * 40 + "@example.com"), "long-sid": ("CallSid", "CA" + "f" * 70),
             "nul-from": ("From", "+1800555\x000001"), "nul-status": ("CallStatus", "ring\x00ing")}
    answers = {}
    for case, (field, value) in cases.items():
        params = tw.status_params(CallSid=tw.call_sid(), CallStatus="ringing", From=sc.ANI_NUMBER,
                                  To="+12125550123", SequenceNumber=1)
        params[field] = value
        answers[case] = signed_post(fz.p, f"/twilio/status?request={fz.request_id}&leg=b", params).status_code
    assert_no_5xx(answers)


@postgres_only
def test_a_nul_in_the_dial_status_is_not_a_500_on_postgresql(fz):
    p = fz.p
    leg = {"CallSid": fz.leg_a_sid, "From": sc.ANI_NUMBER, "To": sc.ALICE_HOME, "CallStatus": "in-progress",
           "Direction": "outbound-api"}
    assert p.post(f"/legs/{fz.request_id}/answer", tw.voice_params(**leg)).status_code == 200
    assert p.post(f"/legs/{fz.request_id}/destination", tw.voice_params(Digits="2125550123", **leg)).status_code == 200
    response = signed_post(p, f"/legs/{fz.request_id}/dialed", tw.voice_params(DialCallStatus="bu\x00sy", **leg))
    assert response.status_code < 500


def test_an_answer_with_another_requests_call_sid_is_not_a_500(fz):
    p = fz.p
    other = sc.Session(p, caller=sc.BOB_MOBILE, service_number=sc.ANI_NUMBER)
    other.trigger()
    assert other.row["state"] == states.QUEUED and other.row["leg_a_sid"] is None
    params = tw.voice_params(CallSid=fz.leg_a_sid, From=sc.ANI_NUMBER, To=sc.ALICE_HOME, CallStatus="in-progress",
                             Direction="outbound-api")
    assert signed_post(p, f"/legs/{other.request_id}/answer", params).status_code < 500


# --- number normalization -----------------------------------------------------------------

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


@st.composite
def valid_numbers(draw):
    """(E.164, region, a valid number of that region)."""
    region = draw(st.sampled_from(REGIONS))
    kind = draw(st.sampled_from([phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE]))
    example = phonenumbers.example_number_for_type(region, kind)
    assume(example is not None and phonenumbers.is_valid_number(example))
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164), region, example


@hsettings(max_examples=300, deadline=None)
@given(valid_numbers(), st.data())
def test_a_valid_number_written_any_way_normalizes_to_its_e164(number, data):
    e164, region, parsed = number
    style = data.draw(st.sampled_from(["e164", "international", "national"]))
    text = {"e164": e164,
            "international": phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
            "national": phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)}[style]
    # People group digits every way: spaces, dashes, dots, brackets between any two characters.
    separators = data.draw(st.lists(st.tuples(st.integers(1, max(1, len(text) - 1)), st.sampled_from(" -.")),
                                    max_size=4))
    for position, separator in sorted(separators, reverse=True):
        text = text[:position] + separator + text[position:]
    assume(len(text) <= 32)
    read_in = region if style == "national" else data.draw(st.sampled_from(["US", "GB", "FR", region]))
    assert to_e164(text, read_in) == e164, (text, read_in)


@hsettings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.sampled_from(REGIONS + ["", "ZZ", "us", "usa"]), st.sampled_from(REGIONS))
def test_normalized_numbers_are_fixed_points_whatever_the_region(text, region, other):
    try:
        e164 = to_e164(text, region)
    except InvalidNumber:
        return
    assert e164.startswith("+") and e164[1:].isdigit() and len(e164) <= 16
    assert to_e164(e164, other) == e164
    assert usable_caller_id(e164) in (e164, None)


@hsettings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=60), numbers_typed))
def test_a_usable_caller_id_is_an_e164_number_or_none(raw):
    caller = usable_caller_id(raw)
    assert caller is None or (caller.startswith("+") and to_e164(caller) == caller)


@hsettings(max_examples=200, deadline=None)
@given(valid_numbers(), st.sampled_from(["US", "CA", "GB", "FR", "DE", "IT", "ES", "NL"]))
def test_international_prefixes_typed_on_a_keypad(number, region):
    e164, _, _ = number
    idd = "011" if region in ("US", "CA") else "00"
    typed = idd + e164[1:]
    try:
        assert to_e164(typed, region) == e164
    except InvalidNumber:
        raise AssertionError(f"{typed} typed in {region} is refused")

