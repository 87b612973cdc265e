"""Prompts in the account's language, recorded prompts, and the caller ID leg B sees."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.data.tables import accounts, service_numbers
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.harness import PlatformUnderTest
from tests.utils.provider import TwilioRecorder
from twiml.prompts import PROMPTS, SAY_LANGUAGE, SAY_VOICE

LANGUAGES = {"en": ("en-US", "Polly.Joanna", "Welcome"), "es": ("es-ES", "Polly.Lucia", "Bienvenido"),
             "fr": ("fr-FR", "Polly.Lea", "Bienvenue")}


@pytest.fixture
def p(settings, engine):
    recorder = TwilioRecorder()
    with PlatformUnderTest(settings, engine) as platform, recorder.cassette("calls_create.yaml"):
        sc.seed(platform)
        yield platform


def says(verbs):
    out = []
    for verb in verbs:
        if verb.name == "Say":
            out.append(verb)
        out.extend(says(verb.children))
    return out


def set_account(engine, login: str, **values):
    with engine.begin() as c:
        c.execute(accounts.update().where(accounts.c.login == login).values(**values))


def test_every_prompt_exists_in_every_language_with_the_same_fields():
    for language in ("es", "fr"):
        assert PROMPTS[language].keys() == PROMPTS["en"].keys()
    assert SAY_LANGUAGE.keys() == SAY_VOICE.keys() == PROMPTS.keys()


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_each_prompt_of_a_call_is_said_in_the_accounts_language(p, engine, language):
    say_language, voice, welcome = LANGUAGES[language]
    set_account(engine, "alice", language=language)
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_AND_PIN_NUMBER)
    s.trigger()
    p.dispatch()
    heard = []
    heard += says(s.step("answer"))
    heard += says(s.step("pin", Digits="000001"))  # wrong, asked again
    heard += says(s.step("pin", Digits=sc.ALICE_PIN))
    heard += says(s.step("destination", Digits="12"))  # invalid, asked again
    heard += says(s.step("destination", Digits="2125550123"))
    leg_b = tw.call_sid()
    s.status_b(leg_b, "busy", 1, duration=0)
    heard += says(s.step("dialed", DialCallStatus="busy", DialCallSid=leg_b, DialCallDuration="0"))
    heard += says(s.step("next", Digits=""))
    assert len(heard) >= 9
    for say in heard:
        assert (say.attrs["language"], say.attrs["voice"]) == (say_language, voice), say
    texts = [say.text for say in heard]
    assert texts[0].startswith(welcome)
    expected = [PROMPTS[language][key].split("{")[0] for key in
                ("enter_pin", "wrong_pin", "enter_destination", "invalid_destination", "connecting", "b_busy",
                 "next_call", "goodbye")]
    for prefix in expected:
        assert any(text.startswith(prefix) for text in texts), prefix


def test_a_recorded_prompt_is_played_instead_of_said(p, engine, tmp_path):
    audio = tmp_path / "bienvenue.wav"
    audio.write_bytes(b"RIFF....WAVEfmt fake audio")
    assert p.cli("prompt", "record", "enter_pin", str(audio), "--language", "fr") == 0
    assert p.cli("prompt", "record", "connecting", str(audio)) == 1  # it says a balance: not recordable
    set_account(engine, "alice", language="fr")
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_AND_PIN_NUMBER)
    s.trigger()
    p.dispatch()
    gather = s.step("answer")[0]
    (play,) = [v for v in gather.children if v.name == "Play"]
    assert play.text == "http://testserver/media/prompts/enter_pin/fr"
    assert not [v for v in gather.children if v.name == "Say"]
    served = p.client.get("/media/prompts/enter_pin/fr")
    assert served.status_code == 200 and served.content == audio.read_bytes()
    assert served.headers["content-type"] == "audio/wav"
    assert p.client.get("/media/prompts/enter_pin/de").status_code == 404


@pytest.mark.parametrize(
    "account_mode, number_mode, withheld, expected",
    [
        ("service", None, None, sc.ANI_NUMBER),
        ("subscriber", None, None, sc.ALICE_HOME),  # alice's default number: hers for sure
        ("service", "subscriber", None, sc.ALICE_HOME),  # the number overrides the account
        ("subscriber", "service", None, sc.ANI_NUMBER),
        ("withheld", None, "anonymous", "anonymous"),
        ("withheld", None, None, sc.ANI_NUMBER),  # the provider takes none: the service number
    ],
)
def test_caller_id_presentation(settings, engine, account_mode, number_mode, withheld, expected):
    recorder = TwilioRecorder()
    with PlatformUnderTest(settings.with_(withheld_caller_id=withheld), engine) as p, recorder.cassette("calls_create.yaml"):
        sc.seed(p)
        set_account(engine, "alice", caller_id_mode=account_mode)
        with engine.begin() as c:
            c.execute(service_numbers.update().where(service_numbers.c.number == sc.ANI_NUMBER)
                      .values(caller_id_mode=number_mode))
        s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
        s.trigger()
        p.dispatch()
        s.step("answer")
        dial = next(v for v in s.step("destination", Digits="2125550123") if v.name == "Dial")
        assert dial.attrs["callerId"] == expected


def test_a_callback_number_that_is_not_the_subscribers_is_never_presented(settings, engine):
    """Connect-two calls a number the subscriber typed: showing it to leg B would be spoofing."""
    with engine.begin() as c:
        c.execute(accounts.update().values(caller_id_mode="subscriber"))
    recorder = TwilioRecorder()
    with PlatformUnderTest(settings, engine) as p, recorder.cassette("calls_create.yaml"):
        sc.seed(p)
        set_account(engine, "alice", caller_id_mode="subscriber", confirm_mode="none")
        response = p.post("/twilio/sms", tw.sms_params(From=sc.ALICE_MOBILE, To=sc.PIN_NUMBER,
                                                       Body="4155550123 2125550123"))
        assert response.status_code == 200
        (row,) = p.requests()
        s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.PIN_NUMBER)
        s.request_id = row["id"]
        p.dispatch()
        dial = next(v for v in s.step("answer") if v.name == "Dial")
        assert dial.attrs["callerId"] == sc.PIN_NUMBER
        assert p.scalar(sa.select(sa.func.count()).select_from(accounts)) == 2
