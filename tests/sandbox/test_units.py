import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest

from sandbox import Clock, Phone, Phones, max_in_window, rfc2822
from sandbox import twiml_reader as twiml
from sandbox.cps import Pacer
from sandbox.faults import Faults
from sandbox.messages import segments


async def test_clock_runs_virtual_time_at_its_speed():
    clock = Clock(speed=1000, start=datetime(2026, 11, 26, 3, 40, tzinfo=timezone.utc))
    real_start = time.monotonic()
    virtual_start = clock.now()
    await clock.sleep(60)
    assert time.monotonic() - real_start < 1.0
    assert clock.since(virtual_start) >= 60


async def test_clock_speed_change_keeps_time_continuous():
    clock = Clock(speed=100)
    before = clock.now()
    clock.speed = 1
    assert clock.now() >= before
    assert clock.since(before) < 1


def test_rfc2822_is_twilios_format():
    moment = datetime(2026, 11, 26, 3, 40, 0, 123456, tzinfo=timezone.utc)
    assert rfc2822(moment) == "Thu, 26 Nov 2026 03:40:00 +0000"
    assert rfc2822(None) is None


def test_max_in_window_is_half_open():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    starts = [t0, t0 + timedelta(seconds=1), t0 + timedelta(seconds=2)]
    assert max_in_window(starts) == 1
    assert max_in_window(starts + [t0 + timedelta(seconds=0.5)]) == 2


async def test_pacer_never_exceeds_its_rate():
    clock = Clock(speed=1000)
    pacer = Pacer(clock, rate=3)
    await asyncio.gather(*(pacer.acquire() for _ in range(20)))
    assert len(pacer.starts) == 20
    assert max_in_window(pacer.starts) == 3
    # 20 calls at 3 per second need at least 6 seconds of virtual time.
    assert (pacer.starts[-1] - pacer.starts[0]).total_seconds() >= 6


async def test_pacer_fractional_rate():
    pacer = Pacer(Clock(speed=1000), rate=0.5)
    await asyncio.gather(*(pacer.acquire() for _ in range(3)))
    assert max_in_window(pacer.starts, window=2.0) == 1


def test_phones_give_unknown_numbers_the_default_script():
    phones = Phones(Phone(answer_after=3, talk_seconds=10))
    phone = phones["+15551234567"]
    assert phone.answer == "answer" and phone.answer_after == 3 and phone.talk_seconds == 10
    phone.inbox.append("x")
    assert phones.default.inbox == []
    again = phones.set("+15551234567", answer="busy")
    assert again.answer == "busy" and again.inbox == ["x"]


def test_phone_script_entries():
    phone = Phone(keys=["482193#", None, "1"])
    assert [phone.keys_for(i) for i in range(4)] == ["482193#", None, "1", None]
    assert Phone(answer="voicemail", keys=["1"]).keys_for(0) is None
    with pytest.raises(ValueError):
        Phone(answer="maybe")
    with pytest.raises(ValueError):
        Phone.from_script({"answer": "answer", "colour": "red"})


def test_faults_are_reproducible_and_scriptable():
    first = Faults(error_rate=0.3, timeout_rate=0.2, seed=7)
    second = Faults(error_rate=0.3, timeout_rate=0.2, seed=7)
    assert [first.draw("x") for _ in range(50)] == [second.draw("x") for _ in range(50)]
    faults = Faults()
    faults.fail_next(2, status=429)
    faults.stall_next()
    assert [faults.draw("x") for _ in range(4)] == [429, 429, "stall", None]


def test_sms_segments():
    assert segments("hello") == 1
    assert segments("a" * 160) == 1
    assert segments("a" * 161) == 2
    assert segments("é" * 70) == 1  # é is in the GSM alphabet
    assert segments("ж" * 71) == 2  # Cyrillic forces UCS-2


def test_parse_voice_fills_twilio_defaults():
    verbs = twiml.parse_voice(
        """<?xml version="1.0" encoding="UTF-8"?>
        <Response>
          <Say voice="alice" language="en-GB" loop="2">Hello   there</Say>
          <Gather numDigits="6" action="/pin"><Say>Enter PIN</Say><Pause length="2"/></Gather>
          <Dial action="/dialed" timeLimit="600" hangupOnStar="true" callerId="+18005550100">
            <Number statusCallback="https://example.com/s" statusCallbackEvent="ringing answered">+15550001111</Number>
          </Dial>
          <Dial>+15550002222</Dial>
          <Redirect method="GET">/next</Redirect>
          <Reject reason="busy"/>
          <Hangup/>
          <Record/>
        </Response>"""
    )
    say, gather, dial, plain_dial, redirect, reject, hangup, unknown = verbs
    assert say == twiml.Say("Hello there", voice="alice", language="en-GB", loop=2)
    assert gather.num_digits == 6 and gather.finish_on_key == "#" and gather.timeout == 5
    assert gather.action == "/pin" and gather.method == "POST" and not gather.action_on_empty_result
    assert gather.prompts == (twiml.Say("Enter PIN"), twiml.Pause(2.0))
    assert dial.time_limit == 600 and dial.timeout == 30 and dial.hangup_on_star and dial.caller_id == "+18005550100"
    number = dial.numbers[0]
    assert number.number == "+15550001111"
    assert number.status_callback_events == {"ringing", "answered", "completed"}
    assert plain_dial.numbers == (twiml.Number("+15550002222"),)
    assert plain_dial.time_limit == 14400
    assert redirect == twiml.Redirect("/next", "GET")
    assert reject == twiml.Reject("busy")
    assert hangup == twiml.Hangup()
    assert isinstance(unknown, twiml.Unknown) and unknown.name == "Record"


def test_parse_rejects_documents_that_are_not_twiml():
    with pytest.raises(twiml.TwimlError) as error:
        twiml.parse_voice("<html><body>oops</body></html>")
    assert error.value.code == 12100
    with pytest.raises(twiml.TwimlError):
        twiml.parse_voice("<Response><Say>unclosed</Response>")


def test_parse_messaging():
    verbs = twiml.parse_messaging(
        '<Response><Message>Thanks!</Message><Message to="+15550002222" from="+18005550100"><Body>Hi</Body></Message></Response>'
    )
    assert verbs == [twiml.Message("Thanks!"), twiml.Message("Hi", to="+15550002222", from_="+18005550100")]


async def test_the_network_provides_what_the_interpreter_asks_for():
    from sandbox import Carrier
    from sandbox.call_control import CallControl

    carrier = Carrier()
    try:
        assert isinstance(carrier, CallControl)
    finally:
        await carrier.aclose()
