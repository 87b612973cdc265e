"""Outbound calls end to end: a platform on loopback answers the carrier's signed webhooks."""

from email.utils import parsedate_to_datetime

import httpx
import pytest
from starlette.responses import Response

from sandbox import Phone
from tests.sandbox.support import ACCOUNT_SID, AUTH_TOKEN, CALLEE, SERVICE_NUMBER, SUBSCRIBER


def gather(action: str, prompt: str, **attributes) -> str:
    extra = "".join(f' {name}="{value}"' for name, value in attributes.items())
    return f'<Response><Gather action="{action}"{extra}><Say>{prompt}</Say></Gather><Say>We did not get that</Say></Response>'


async def test_scripted_phone_gathers_digits_and_is_bridged(carrier, platform, place):
    carrier.phones[SUBSCRIBER] = Phone(answer_after=3, keys=["482193#", "442071234567#", "1"])
    carrier.phones[CALLEE] = Phone(answer_after=5, talk_seconds=300)
    platform.on("/voice", gather("/pin", "Enter your PIN"))
    platform.on("/pin", gather("/number", "Enter the number to call"))
    platform.on("/number", gather("/confirm", "Press 1 to confirm", numDigits=1))
    platform.on(
        "/confirm",
        f"""<Response><Say>Connecting you now</Say>
        <Dial action="/dialed" timeout="30" callerId="{SERVICE_NUMBER}">
          <Number statusCallback="{platform.url('/child-status')}"
                  statusCallbackEvent="initiated ringing answered completed">{CALLEE}</Number>
        </Dial></Response>""",
    )
    platform.on("/dialed", "<Response><Say>Goodbye</Say><Hangup/></Response>")
    platform.on("/child-status", "")

    sid = await place(
        To=SUBSCRIBER,
        Url=platform.url("/voice"),
        StatusCallback=platform.url("/status"),
        StatusCallbackEvent=["initiated", "ringing", "answered", "completed"],
    )
    await carrier.wait_idle(timeout=15)
    assert carrier.errors == []

    call = carrier.calls[sid]
    assert call.status == "completed"
    heard = call.heard()
    dial_status = heard.pop(5)
    assert heard == [
        ("gather", ("Enter your PIN",), "482193"),
        ("gather", ("Enter the number to call",), "442071234567"),
        ("gather", ("Press 1 to confirm",), "1"),
        ("say", "Connecting you now", "en-US"),
        ("dial", CALLEE),
        ("say", "Goodbye", "en-US"),
        ("hangup",),
    ]
    assert dial_status[:2] == ("dial-status", "completed") and 300 <= dial_status[2] <= 320
    assert [entry.at for entry in call.transcript] == sorted(entry.at for entry in call.transcript)

    # What the platform was told, in Twilio's words.
    first = platform.received("/voice")[0]
    assert first["CallSid"] == sid and first["CallStatus"] == "in-progress"
    assert first["Direction"] == "outbound-api" and first["ApiVersion"] == "2010-04-01"
    assert first["From"] == first["Caller"] == SERVICE_NUMBER and first["To"] == first["Called"] == SUBSCRIBER
    pin = platform.received("/pin")[0]
    assert pin["Digits"] == "482193" and pin["FinishedOnKey"] == "#"
    confirm = platform.received("/confirm")[0]
    assert confirm["Digits"] == "1" and confirm["FinishedOnKey"] == ""

    child = carrier.calls[call.children[0]]
    assert child.direction == "outbound-dial" and child.parent_sid == sid
    assert child.from_ == SERVICE_NUMBER and child.to == CALLEE
    assert child.heard() == [("bridged", SUBSCRIBER), ("phone-hangup",)]
    dialed = platform.received("/dialed")[0]
    assert dialed["DialCallStatus"] == "completed" and dialed["DialCallSid"] == child.sid
    assert dialed["DialBridged"] == "true"
    assert 300 <= int(dialed["DialCallDuration"]) <= 320

    statuses = platform.received("/status")
    assert [s["CallStatus"] for s in statuses] == ["initiated", "ringing", "in-progress", "completed"]
    assert [s["SequenceNumber"] for s in statuses] == ["0", "1", "2", "3"]
    assert all(s["CallbackSource"] == "call-progress-events" for s in statuses)
    times = [parsedate_to_datetime(s["Timestamp"]) for s in statuses]
    assert times == sorted(times)
    completed = statuses[-1]
    assert int(completed["CallDuration"]) == call.duration >= 300
    assert int(completed["Duration"]) == -(-call.duration // 60)

    child_statuses = platform.received("/child-status")
    assert [s["CallStatus"] for s in child_statuses] == ["initiated", "ringing", "in-progress", "completed"]
    assert all(s["ParentCallSid"] == sid and s["Direction"] == "outbound-dial" for s in child_statuses)
    assert int(child_statuses[-1]["CallDuration"]) == child.duration


@pytest.mark.parametrize(
    ("answer", "status"), [("busy", "busy"), ("no-answer", "no-answer"), ("fail", "failed")]
)
async def test_unanswered_calls_report_their_outcome(carrier, platform, place, answer, status):
    carrier.phones[SUBSCRIBER] = Phone(answer=answer)
    platform.on("/voice", "<Response><Say>never heard</Say></Response>")
    sid = await place(To=SUBSCRIBER, Url=platform.url("/voice"), StatusCallback=platform.url("/status"), Timeout="25")
    await carrier.wait_idle(timeout=10)
    call = carrier.calls[sid]
    assert call.status == status and call.transcript == [] and call.price is None
    assert platform.received("/voice") == []
    (completed,) = platform.received("/status")
    assert completed["CallStatus"] == status
    assert completed["CallDuration"] == "0" and completed["Duration"] == "0"
    if answer == "no-answer":
        # It rang for the whole Timeout before giving up.
        assert (call.end_time - call.start_time).total_seconds() >= 25


async def test_voicemail_answers_but_never_presses(carrier, platform, place):
    carrier.phones[SUBSCRIBER] = Phone(answer="voicemail", keys=["1"])
    platform.on("/voice", gather("/choice", "Press 1 to talk to an agent", numDigits=1))
    sid = await place(To=SUBSCRIBER, Url=platform.url("/voice"), MachineDetection="Enable")
    await carrier.wait_idle(timeout=10)
    call = carrier.calls[sid]
    assert call.status == "completed" and call.answered_by == "machine_start"
    # Twilio moves past a Gather that got nothing to the verb after it.
    assert call.heard() == [("gather", ("Press 1 to talk to an agent",), ""), ("say", "We did not get that", "en-US")]
    assert platform.received("/voice")[0]["AnsweredBy"] == "machine_start"
    assert platform.received("/choice") == []


@pytest.mark.parametrize(
    ("callee", "dial_status"),
    [(Phone(answer="busy"), "busy"), (Phone(answer="no-answer"), "no-answer"), (Phone(answer="fail"), "failed"),
     (Phone(answer_after=40), "no-answer")],
)
async def test_dial_outcomes_reach_the_action(carrier, platform, place, callee, dial_status):
    carrier.phones[CALLEE] = callee
    platform.on("/voice", f'<Response><Dial action="/dialed" timeout="20">{CALLEE}</Dial></Response>')
    platform.on("/dialed", "<Response><Say>Sorry, no luck</Say></Response>")
    sid = await place(To=SUBSCRIBER, Url=platform.url("/voice"))
    await carrier.wait_idle(timeout=10)
    (dialed,) = platform.received("/dialed")
    assert dialed["DialCallStatus"] == dial_status
    assert dialed["DialBridged"] == "false" and dialed["DialCallDuration"] == "0"
    call = carrier.calls[sid]
    assert call.heard()[-1] == ("say", "Sorry, no luck", "en-US")
    assert carrier.calls[dialed["DialCallSid"]].status == dial_status


async def test_hangup_on_star_drops_leg_b_and_continues(carrier, platform, place):
    carrier.phones[SUBSCRIBER] = Phone(star_after=30)
    carrier.phones[CALLEE] = Phone(talk_seconds=None)
    platform.on("/voice", f'<Response><Dial hangupOnStar="true" action="/dialed">{CALLEE}</Dial></Response>')
    platform.on("/dialed", "<Response><Say>Back with us</Say></Response>")
    sid = await place(To=SUBSCRIBER, Url=platform.url("/voice"))
    await carrier.wait_idle(timeout=10)
    call = carrier.calls[sid]
    assert ("press", "*") in call.transcript
    assert call.heard("say") == [("say", "Back with us", "en-US")]
    (dialed,) = platform.received("/dialed")
    assert dialed["DialCallStatus"] == "completed" and dialed["DialBridged"] == "true"
    assert 30 <= int(dialed["DialCallDuration"]) < 60
    child = carrier.calls[dialed["DialCallSid"]]
    assert child.status == "completed"


async def test_time_limit_cuts_a_45_minute_call(carrier, platform, place):
    carrier.clock.speed = 3000
    carrier.phones[CALLEE] = Phone(talk_seconds=45 * 60)
    platform.on("/voice", f'<Response><Dial timeLimit="600" action="/dialed">{CALLEE}</Dial></Response>')
    platform.on("/dialed", "<Response><Hangup/></Response>")
    sid = await place(To=SUBSCRIBER, Url=platform.url("/voice"), StatusCallback=platform.url("/status"))
    await carrier.wait_idle(timeout=10)
    assert ("time-limit", 600.0) in carrier.calls[sid].transcript
    (dialed,) = platform.received("/dialed")
    assert 600 <= int(dialed["DialCallDuration"]) < 700
    assert ("phone-hangup",) not in carrier.calls[dialed["DialCallSid"]].transcript


async def test_a_45_minute_call_runs_in_seconds_and_is_billed_in_minutes(carrier, platform, place):
    carrier.clock.speed = 3000
    carrier.phones[CALLEE] = Phone(talk_seconds=45 * 60)
    platform.on("/voice", f"<Response><Dial>{CALLEE}</Dial></Response>")
    sid = await place(To=SUBSCRIBER, Url=platform.url("/voice"), StatusCallback=platform.url("/status"))
    await carrier.wait_idle(timeout=10)
    call = carrier.calls[sid]
    # No action: the call continues after the Dial, finds no more verbs, and ends.
    assert call.status == "completed" and call.duration >= 45 * 60
    (completed,) = platform.received("/status")
    assert int(completed["CallDuration"]) == call.duration
    # Billed in whole minutes, rounded up; real HTTP latency adds a little virtual time.
    assert 46 <= int(completed["Duration"]) <= 50


async def test_rest_time_limit_ends_the_call(carrier, platform, place):
    platform.on("/voice", "<Response><Pause length='3600'/></Response>")
    sid = await place(To=SUBSCRIBER, Url=platform.url("/voice"), TimeLimit="120")
    await carrier.wait_idle(timeout=10)
    call = carrier.calls[sid]
    assert call.status == "completed" and 120 <= call.duration < 180
    assert ("time-limit", 120) in call.transcript


async def test_phone_hangs_up_mid_call(carrier, platform, place):
    carrier.phones[SUBSCRIBER] = Phone(hangup_after=20)
    platform.on("/voice", "<Response><Say loop='0'>Please hold</Say></Response>")
    sid = await place(To=SUBSCRIBER, Url=platform.url("/voice"), StatusCallback=platform.url("/status"))
    await carrier.wait_idle(timeout=10)
    call = carrier.calls[sid]
    assert call.heard()[-1] == ("phone-hangup",)
    assert 20 <= call.duration < 60
    assert platform.received("/status")[-1]["CallStatus"] == "completed"


async def test_caller_hanging_up_mid_dial_ends_leg_b_and_still_requests_the_action(carrier, platform, place):
    carrier.phones[SUBSCRIBER] = Phone(hangup_after=60)
    carrier.phones[CALLEE] = Phone(talk_seconds=None)
    platform.on("/voice", f'<Response><Dial action="/dialed">{CALLEE}</Dial></Response>')
    platform.on("/dialed", "<Response><Say>ignored</Say></Response>")
    sid = await place(To=SUBSCRIBER, Url=platform.url("/voice"))
    await carrier.wait_idle(timeout=10)
    call = carrier.calls[sid]
    child = carrier.calls[call.children[0]]
    assert call.status == child.status == "completed"
    (dialed,) = platform.received("/dialed")
    assert dialed["CallStatus"] == "completed" and dialed["DialCallStatus"] == "completed"
    assert ("say", "ignored", "en-US") not in call.transcript


async def test_whisper_and_simultaneous_dial(carrier, platform, place):
    busy, answering = "+15550009991", "+15550009992"
    carrier.phones[busy] = Phone(answer="busy")
    carrier.phones[answering] = Phone(answer_after=4, talk_seconds=50, keys=["1"])
    platform.on(
        "/voice",
        f'<Response><Dial action="/dialed"><Number>{busy}</Number><Number url="/whisper">{answering}</Number></Dial></Response>',
    )
    platform.on("/whisper", gather("/accept", "Press 1 to accept a callback", numDigits=1))
    platform.on("/accept", "<Response><Say>Connecting</Say></Response>")
    platform.on("/dialed", "<Response/>")
    sid = await place(To=SUBSCRIBER, Url=platform.url("/voice"))
    await carrier.wait_idle(timeout=10)
    (dialed,) = platform.received("/dialed")
    winner = carrier.calls[dialed["DialCallSid"]]
    assert winner.to == answering and dialed["DialBridged"] == "true"
    assert winner.heard() == [
        ("gather", ("Press 1 to accept a callback",), "1"),
        ("say", "Connecting", "en-US"),
        ("bridged", SUBSCRIBER),
        ("phone-hangup",),
    ]
    whisper = platform.received("/whisper")[0]
    assert whisper["Direction"] == "outbound-dial" and whisper["ParentCallSid"] == sid
    assert [carrier.calls[c].status for c in carrier.calls[sid].children] == ["busy", "completed"]


async def test_application_errors_are_spoken_and_end_the_call(carrier, platform, place):
    platform.on("/voice", Response("boom", status_code=500))
    platform.on("/bad-xml", "<Response><Say>unclosed</Response>")
    platform.on("/unknown-verb", "<Response><Say>Before</Say><Conference>room</Conference><Say>After</Say></Response>")
    failing = await place(To=SUBSCRIBER, Url=platform.url("/voice"), StatusCallback=platform.url("/status"))
    bad_xml = await place(To=SUBSCRIBER, Url=platform.url("/bad-xml"))
    unknown = await place(To=SUBSCRIBER, Url=platform.url("/unknown-verb"))
    missing = await place(To=SUBSCRIBER, Url=platform.url("/nowhere"))
    await carrier.wait_idle(timeout=10)
    assert carrier.errors == []

    assert carrier.calls[failing].error[0] == 11200
    assert carrier.calls[failing].heard("say") == [("say", "We are sorry, an application error has occurred. Goodbye.", "en-US")]
    assert carrier.calls[failing].status == "completed"
    assert platform.received("/status")[-1]["CallStatus"] == "completed"
    assert carrier.calls[bad_xml].error[0] == 12100
    assert carrier.calls[missing].error[0] == 11200
    heard = carrier.calls[unknown].heard()
    assert heard[0] == ("say", "Before", "en-US") and heard[1][:2] == ("error", 12100)
    assert ("say", "After", "en-US") not in heard


async def test_fallback_url_serves_when_the_voice_url_fails(carrier, platform, place):
    platform.on("/voice", Response(status_code=503))
    platform.on("/fallback", "<Response><Say>Fallback speaking</Say></Response>")
    sid = await place(To=SUBSCRIBER, Url=platform.url("/voice"), FallbackUrl=platform.url("/fallback"))
    await carrier.wait_idle(timeout=10)
    assert carrier.calls[sid].heard() == [("say", "Fallback speaking", "en-US")]
    assert platform.received("/fallback")[0]["ErrorCode"] == "11200"


async def test_gather_defaults_relative_urls_and_get(carrier, platform, place):
    carrier.phones[SUBSCRIBER] = Phone(keys=["7", None])
    calls = []

    def voice(params):
        calls.append(params)
        if "Digits" not in params:
            return gather_without_action
        if params["Digits"] == "7":
            return '<Response><Gather actionOnEmptyResult="true" action="next" method="GET" timeout="3"><Say>Again</Say></Gather></Response>'
        return "<Response/>"

    gather_without_action = '<Response><Gather numDigits="1"><Say>Choose</Say></Gather></Response>'
    platform.on("/ivr/voice", voice)
    platform.on("/ivr/next", "<Response><Say>Empty result</Say></Response>")
    sid = await place(To=SUBSCRIBER, Url=platform.url("/ivr/voice"))
    await carrier.wait_idle(timeout=10)
    # Without an action, Gather posts back to the document's own URL.
    assert calls[1]["Digits"] == "7"
    # A relative action resolves against the document URL, GET puts params in the query.
    (empty,) = platform.received("/ivr/next")
    assert empty["Digits"] == "" and empty["CallSid"] == sid
    assert carrier.calls[sid].heard()[-1] == ("say", "Empty result", "en-US")


async def test_redirecting_a_live_call(carrier, platform, place, sandbox_url):
    platform.on("/voice", "<Response><Say>Hold on</Say><Pause length='3600'/></Response>")
    platform.on("/moved", "<Response><Say>You have been moved</Say></Response>")
    sid = await place(To=SUBSCRIBER, Url=platform.url("/voice"))
    call = carrier.calls[sid]
    while ("pause", 3600.0) not in call.transcript:
        await carrier.clock.sleep(1)
    async with httpx.AsyncClient(base_url=sandbox_url, auth=(ACCOUNT_SID, AUTH_TOKEN)) as api:
        response = await api.post(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json", data={"Url": platform.url("/moved")})
    assert response.status_code == 200
    await carrier.wait_idle(timeout=10)
    assert call.heard()[-2:] == [("redirect", platform.url("/moved")), ("say", "You have been moved", "en-US")]
    assert call.duration < 3600


async def test_redirect_verb_and_get_status_callbacks(carrier, platform, place):
    platform.on("/voice", '<Response><Say>One moment</Say><Redirect method="GET">/queue?position=1</Redirect></Response>')
    platform.on("/queue", lambda p: f"<Response><Say>You are number {p['position']}</Say></Response>")
    sid = await place(
        To=SUBSCRIBER,
        Url=platform.url("/voice"),
        StatusCallback=platform.url("/status?tenant=7"),
        StatusCallbackMethod="GET",
        StatusCallbackEvent="answered",
    )
    await carrier.wait_idle(timeout=10)
    assert carrier.calls[sid].heard() == [
        ("say", "One moment", "en-US"),
        ("redirect", platform.url("/queue?position=1")),
        ("say", "You are number 1", "en-US"),
    ]
    (queued,) = platform.received("/queue")
    assert queued["CallSid"] == sid and queued["CallStatus"] == "in-progress"
    # GET callbacks carry Twilio's parameters in the query string, after the URL's own.
    statuses = platform.received("/status")
    assert [s["CallStatus"] for s in statuses] == ["in-progress", "completed"]
    assert all(s["tenant"] == "7" for s in statuses)


async def test_message_verb_during_a_call_texts_the_handset(carrier, platform, place):
    platform.on("/voice", "<Response><Say>We will text you the details</Say><Message>Ref 1234</Message></Response>")
    sid = await place(To=SUBSCRIBER, Url=platform.url("/voice"))
    await carrier.wait_idle(timeout=10)
    assert carrier.calls[sid].heard()[-1] == ("message", SUBSCRIBER, "Ref 1234")
    (text,) = carrier.phones[SUBSCRIBER].inbox
    assert text.direction == "outbound-call" and text.from_ == SERVICE_NUMBER and text.status == "delivered"


async def test_wait_idle_names_the_calls_still_live_and_aclose_ends_them(carrier, platform, place):
    carrier.phones[SUBSCRIBER] = Phone(interactive=True)
    platform.on("/voice", '<Response><Gather timeout="100000"><Say>Waiting for you</Say></Gather></Response>')
    sid = await place(To=SUBSCRIBER, Url=platform.url("/voice"))
    with pytest.raises(TimeoutError, match=sid):
        await carrier.wait_idle(timeout=0.3)
    await carrier.aclose()
    assert carrier.errors == []
    assert carrier.idle
