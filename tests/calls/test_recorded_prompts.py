"""Recordings of prompts that say a value: recorded in parts around the value, which <Say> still speaks.

The parts are recorded with the CLI, and what leg A hears is read from the
TwiML of signed webhooks, in each language; the builders are also checked
as pure functions with a Speaker that knows the recordings.
"""

from __future__ import annotations

import re

import pytest

from app.data.tables import accounts
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.harness import PlatformUnderTest
from tests.utils.provider import TwilioRecorder
from twiml import voice
from twiml.prompts import PROMPTS, SAY_LANGUAGE, SAY_VOICE, VOICE_PROMPTS, Speaker, parts, recordable, text

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(32)
BASE = "http://testserver/media/prompts"


@pytest.fixture
def p(settings, engine):
    recorder = TwilioRecorder()
    with PlatformUnderTest(settings, engine) as platform, recorder.cassette("calls_create.yaml"):
        sc.seed(platform)
        yield platform


def set_account(engine, login: str, **values):
    with engine.begin() as c:
        c.execute(accounts.update().where(accounts.c.login == login).values(**values))


def record(p: PlatformUnderTest, tmp_path, name: str, language: str, audio: bytes = WAV) -> None:
    path = tmp_path / f"{name}-{language}.{'mp3' if audio.startswith(b'ID3') else 'wav'}"
    path.write_bytes(audio)
    assert p.cli("prompt", "record", name, str(path), "--language", language) == 0


def heard(verbs) -> list[tuple]:
    """Play and Say verbs in order, nested ones included: ("play", url) or ("say", text, language, voice)."""
    out = []
    for verb in verbs:
        if verb.name == "Play":
            out.append(("play", verb.text))
        elif verb.name == "Say":
            out.append(("say", verb.text, verb.attrs.get("language"), verb.attrs.get("voice")))
        out.extend(heard(verb.children))
    return out


def to_the_dial(p: PlatformUnderTest) -> list:
    """Alice rings the ANI-and-PIN number, types her PIN and a US number: the TwiML that announces and dials.

    Then she hangs up, so the next call of the test is not one too many at once.
    """
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_AND_PIN_NUMBER)
    s.trigger()
    p.dispatch()
    s.step("answer")
    s.step("pin", Digits=sc.ALICE_PIN)
    verbs = s.step("destination", Digits="2125550123")
    assert s.status_a("completed", duration=20).status_code == 204
    return verbs


# The catalogue, as pure functions ---------------------------------------------------------------


def test_every_spoken_prompt_is_recordable_whole_or_in_parts_in_every_language():
    assert "connecting" in VOICE_PROMPTS and "confirm_connect" in VOICE_PROMPTS
    assert not [key for key in VOICE_PROMPTS if key.startswith(("sms_", "why_"))]
    for language in PROMPTS:
        for key in VOICE_PROMPTS:
            pieces = parts(key, language)
            names = [part.recording for part in pieces if not part.is_value]
            assert names, (key, language)
            if "{" in PROMPTS[language][key]:
                assert names == [f"{key}.{n}" for n in range(1, len(names) + 1)]
                assert not recordable(key, language)  # a whole recording cannot say the value
            else:
                assert names == [key] and pieces[0].text == PROMPTS[language][key]
            assert all(recordable(name, language) for name in names)
    assert [(part.text, part.recording) for part in parts("connecting", "en")] == [
        ("Your balance is", "connecting.1"), ("{balance}", None), ("You can talk for up to", "connecting.2"),
        ("{minutes}", None), ("minutes. Connecting your call.", "connecting.3")]
    # The "." after the number is not a part: there are no words to record.
    assert [part.recording for part in parts("confirm_connect", "fr")] == ["confirm_connect.1", None]
    for name, language in [("connecting.4", "en"), ("enter_pin.1", "en"), ("sms_help", "en"), ("nope", "en"),
                           ("enter_pin", "de"), ("", "en"), ("connecting.", "en")]:
        assert not recordable(name, language), name


def test_a_value_prompt_is_played_only_when_every_part_is_recorded():
    recorded = {f"connecting.{n}": f"https://x/{n}" for n in (1, 2, 3)}
    speaker = Speaker("es", recorded)
    assert speaker.script("connecting", balance="9.50 USD", minutes=12) == [
        ("play", "https://x/1"), ("say", "9.50 USD"), ("play", "https://x/2"), ("say", "12"), ("play", "https://x/3")]
    partly = Speaker("es", {"connecting.1": "https://x/1", "connecting.3": "https://x/3"})
    assert partly.script("connecting", balance="9.50 USD", minutes=12) == [
        ("say", text("connecting", "es", balance="9.50 USD", minutes=12))]
    # A recording named like the whole prompt (never stored: refused) would not be played either.
    assert Speaker("es", {"connecting": "https://x/0"}).script("connecting", balance="1", minutes=1)[0][0] == "say"
    assert Speaker("fr", {"goodbye": "https://x/g"}).script("goodbye") == [("play", "https://x/g")]
    assert Speaker("fr", {"sms_help": "https://x/s"}).script("sms_help")[0][0] == "say"  # texts are never played


@pytest.mark.parametrize("language", list(PROMPTS))
def test_the_builders_put_the_values_between_the_recorded_parts(language):
    urls = {name: f"https://media/{name}/{language}" for key in ("connecting", "confirm_connect")
            for name in [part.recording for part in parts(key, language) if part.recording]}
    speaker = Speaker(language, urls)
    attrs = (SAY_LANGUAGE[language], SAY_VOICE[language])
    verbs = tw.parse_twiml(voice.connect(number="+12125550123", action="https://a", status_callback="https://s",
                                         caller_id=None, time_limit=600, speaker=speaker, balance="7.25 USD"))
    assert heard(verbs) == [("play", urls["connecting.1"]), ("say", "7.25 USD", *attrs),
                            ("play", urls["connecting.2"]), ("say", "10", *attrs), ("play", urls["connecting.3"])]
    assert [verb.name for verb in verbs] == ["Play", "Say", "Play", "Say", "Play", "Dial"]
    verbs = tw.parse_twiml(voice.confirm_connect(action="https://a", number="+12125550123", speaker=speaker))
    gather = verbs[0]
    assert gather.name == "Gather"
    assert heard(gather.children) == [("play", urls["confirm_connect.1"]),
                                      ("say", "1, 2, 1, 2, 5, 5, 5, 0, 1, 2, 3", *attrs)]


# Through signed webhooks --------------------------------------------------------------------------


@pytest.mark.parametrize("language", list(PROMPTS))
def test_recorded_parts_and_the_spoken_balance_and_minutes_in_order(p, engine, tmp_path, language):
    set_account(engine, "alice", language=language)
    attrs = (SAY_LANGUAGE[language], SAY_VOICE[language])
    record(p, tmp_path, "connecting.1", language)
    record(p, tmp_path, "connecting.2", language, MP3)
    # Two parts of three: the whole prompt is still said, values and all.
    (said,) = [verb for verb in heard(to_the_dial(p)) if verb[0] == "say"]
    balance, minutes = re.fullmatch(r"(.*) (\d+\.\d\d USD)(.*?) (\d+) (.*)", said[1]).group(2, 4)
    assert said == ("say", text("connecting", language, balance=balance, minutes=minutes), *attrs)

    record(p, tmp_path, "connecting.3", language)
    verbs = to_the_dial(p)
    assert [verb.name for verb in verbs] == ["Play", "Say", "Play", "Say", "Play", "Dial"]
    # The first call was billed: what is left to spend is less now.
    balance, minutes = verbs[1].text, verbs[3].text
    assert re.fullmatch(r"\d+\.\d\d USD", balance) and minutes.isdigit()
    assert heard(verbs) == [
        ("play", f"{BASE}/connecting.1/{language}"), ("say", balance, *attrs),
        ("play", f"{BASE}/connecting.2/{language}"), ("say", minutes, *attrs),
        ("play", f"{BASE}/connecting.3/{language}"),
    ]
    for n, audio, content_type in [(1, WAV, "audio/wav"), (2, MP3, "audio/mpeg")]:
        served = p.client.get(f"/media/prompts/connecting.{n}/{language}")
        assert served.status_code == 200 and served.content == audio
        assert served.headers["content-type"] == content_type
    # Another language's recordings are not this one's.
    other = next(code for code in PROMPTS if code != language)
    set_account(engine, "alice", language=other)
    assert not [verb for verb in heard(to_the_dial(p)) if verb[0] == "play"]

    # Removing one part puts the whole prompt back to speech.
    set_account(engine, "alice", language=language)
    assert p.cli("prompt", "remove", "connecting.2", "--language", language) == 0
    assert [verb[0] for verb in heard(to_the_dial(p))] == ["say"]


@pytest.mark.parametrize("language", list(PROMPTS))
def test_the_number_to_confirm_is_said_after_its_recorded_words(p, engine, tmp_path, language):
    set_account(engine, "alice", language=language, confirm_mode="press1")
    record(p, tmp_path, "confirm_connect.1", language)
    record(p, tmp_path, "next_call", language)
    response = p.post("/twilio/sms", tw.sms_params(From=sc.ALICE_MOBILE, To=sc.PIN_NUMBER, Body="2125550123"))
    assert response.status_code == 200
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.PIN_NUMBER)
    s.request_id = p.requests()[-1]["id"]
    p.dispatch()
    (gather,) = s.step("answer")
    assert gather.name == "Gather" and gather.attrs["numDigits"] == "1"
    assert heard(gather.children) == [("play", f"{BASE}/confirm_connect.1/{language}"),
                                      ("say", "1, 2, 1, 2, 5, 5, 5, 0, 1, 2, 3", SAY_LANGUAGE[language],
                                       SAY_VOICE[language])]


def test_the_cli_records_parts_and_explains_what_it_refuses(p, tmp_path, capsys):
    audio = tmp_path / "part.mp3"
    audio.write_bytes(MP3)
    assert p.cli("prompt", "record", "connecting", str(audio)) == 1
    assert "connecting is recorded as connecting.1 + connecting.2 + connecting.3" in capsys.readouterr().err
    assert p.cli("prompt", "record", "connecting.4", str(audio), "--language", "es") == 1
    assert "no 'connecting.4' to record" in capsys.readouterr().err
    assert p.cli("prompt", "record", "sms_help", str(audio)) == 1
    assert "spoken on calls" in capsys.readouterr().err
    not_audio = tmp_path / "notes.wav"
    not_audio.write_bytes(b"these are not sounds")
    assert p.cli("prompt", "record", "goodbye", str(not_audio)) == 1
    assert "not MP3 or WAV" in capsys.readouterr().err
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert p.cli("prompt", "record", "goodbye", str(empty)) == 1
    assert "empty" in capsys.readouterr().err

    assert p.cli("prompt", "record", "connecting.2", str(audio), "--language", "fr") == 0
    assert "/media/prompts/connecting.2/fr" in capsys.readouterr().out
    assert p.cli("prompt", "list", "--language", "fr") == 0
    listing = capsys.readouterr().out
    assert f"fr\tconnecting.2\taudio/mpeg\t{len(MP3)} bytes" in listing
    assert "  connecting.2\tVous pouvez parler jusqu'à" in listing and "  enter_pin\tBienvenue." in listing
    assert p.cli("prompt", "remove", "connecting.2", "--language", "fr") == 0
    assert "connecting is spoken again" in capsys.readouterr().out
    assert p.cli("prompt", "remove", "connecting.2", "--language", "fr") == 1
