"""The simulated network: places, receives and ends calls; SMS through `Messaging`.

This is the carrier without its HTTP face (`Carrier` in carrier.py adds the
REST and control APIs on top). Each call runs as one asyncio task through its lifecycle (CPS queue,
ringing, conversation, hang-up). Anything that ends a call from outside (a
REST update, the phone hanging up, a time limit, the carrier closing) sets
`call.pending_end` and cancels that task; the task catches the cancellation
and finishes the call, so a call always ends through `_finish` and always
reports its final status callback.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Awaitable, Callable

import httpx

from . import telnyx
from . import twiml_reader as twiml
from .call_control import DialLeg, Fetch, Inline, Source, describe
from .calls import EVENTS, TERMINAL, Call
from .clock import Clock
from .cps import Pacer
from .dialects import Dialect, dialect as dialect_named
from .faults import Faults
from .interpreter import Interpreter, dial_params
from .messages import Message
from .messaging import Messaging
from .numbers import ServiceNumber
from .phones import Phone, Phones
from .pricing import CallPricing
from .recordings import Recording, channels_for
from .sids import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, is_e164
from .tasks import Tasks
from .webhooks import WebhookError, Webhooks

logger = logging.getLogger("sandbox")

SETUP_SECONDS = 0.5  # from dialling to the far end ringing


class Network:
    """Provides `CallControl` (call_control.py) to the interpreters it runs."""

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        clock: Clock | None = None,
        cps: float = 1.0,
        voice_url: str | None = None,
        voice_method: str = "POST",
        sms_url: str | None = None,
        sms_method: str = "POST",
        status_callback: str | None = None,
        default_phone: Phone | None = None,
        faults: Faults | None = None,
        webhook_timeout: float = 15.0,
        api_keys: dict[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        pricing: CallPricing | None = None,
        dialect: str = "twilio",
        signing_key: str | None = None,
        application_id: str = telnyx.DEFAULT_APPLICATION_ID,
    ) -> None:
        """`dialect`: the provider it stands in for (dialects.py). With "signalwire", `account_sid` is the
        project id (a UUID), `auth_token` the API token, and `signing_key` signs the webhooks. With "telnyx"
        (TeXML REST with Bearer auth, `v3:` call ids, Ed25519-signed webhooks, texts as JSON events),
        `auth_token` is the API key, `account_sid` Telnyx's account id, `application_id` the TeXML
        application calls are created with, and `public_key` verifies webhooks."""
        self.dialect: Dialect = dialect_named(dialect)
        if self.dialect.name == "telnyx":
            if account_sid == DEFAULT_ACCOUNT_SID:
                account_sid = telnyx.DEFAULT_ACCOUNT_ID
        elif not self.dialect.is_sid(account_sid, "AC"):
            raise ValueError(f"account_sid must be shaped like a {dialect} account's: {account_sid!r}")
        if self.dialect.uuid_sids and not signing_key:
            raise ValueError("the signalwire dialect signs webhooks with a signing key: give signing_key")
        self.application_id = application_id
        self.signer = telnyx.Signer() if self.dialect.name == "telnyx" else None
        # Requests made of the REST API, as (operation, parameters): tests check them against the provider's spec.
        self.api_log: list[tuple[str, dict]] = []
        self.account_sid = account_sid
        self._signing_key = signing_key
        self.clock = clock or Clock()
        self.pacer = Pacer(self.clock, cps)
        self.phones = Phones(default_phone)
        self.numbers: dict[str, ServiceNumber] = {}
        self.voice_url = voice_url
        self.voice_method = voice_method
        self.sms_url = sms_url
        self.sms_method = sms_method
        self.status_callback = status_callback
        self.faults = faults or Faults()
        self.pricing = pricing or CallPricing()
        # `http_client` may be an httpx.AsyncClient on an ASGITransport, to
        # deliver webhooks to an application in-process without a server.
        self.webhooks = Webhooks(signing_key or auth_token, self.clock, webhook_timeout, http_client,
                                 dialect=self.dialect, signer=self.signer)
        self.auth_token = auth_token
        self.api_keys = dict(api_keys or {})
        self.calls: dict[str, Call] = {}
        self.recordings: dict[str, Recording] = {}
        # Where the REST API is reached from outside, for the absolute RecordingUrl of recording callbacks
        # (Twilio's: https://api.twilio.com); the embedding app sets it once it serves the carrier.
        self.public_url = "https://api.twilio.com"
        self.tasks = Tasks(self.webhooks)
        self.messaging = Messaging(
            account_sid, self.clock, self.webhooks, self.tasks, new_sid=self.dialect.new_sid,
            phone=lambda number: self.phones[number], number=self.number, dialect=self.dialect.name,
        )

    # Configuration

    def new_call_sid(self) -> str:
        return telnyx.call_id() if self.dialect.name == "telnyx" else self.dialect.new_sid("CA")

    @property
    def public_key(self) -> str | None:
        """The Telnyx dialect's webhook verification key (base64 Ed25519), for the application."""
        return self.signer.public_key if self.signer is not None else None

    @property
    def auth_token(self) -> str:
        return self._auth_token

    @auth_token.setter
    def auth_token(self, value: str) -> None:
        # In Twilio's dialect REST authentication and webhook signatures use the same token.
        self._auth_token = value
        if self._signing_key is None:
            self.webhooks.key = value

    @property
    def signing_key(self) -> str | None:
        """The key webhooks are signed with when it is not the auth token (SignalWire's dialect)."""
        return self._signing_key

    @signing_key.setter
    def signing_key(self, value: str) -> None:
        self._signing_key = value
        self.webhooks.key = value

    @property
    def cps(self) -> float:
        return self.pacer.rate

    @cps.setter
    def cps(self, value: float) -> None:
        self.pacer.rate = value

    @property
    def call_starts(self) -> list:
        """Virtual times at which REST-created calls left the CPS queue, in order."""
        return list(self.pacer.starts)

    @property
    def webhook_log(self) -> list:
        return self.webhooks.log

    def number(self, number: str) -> ServiceNumber:
        """Webhook settings for a service number, falling back to the carrier's defaults."""
        configured = self.numbers.get(number)
        if configured is not None:
            return configured
        return ServiceNumber(
            voice_url=self.voice_url,
            voice_method=self.voice_method,
            sms_url=self.sms_url,
            sms_method=self.sms_method,
            status_callback=self.status_callback,
        )

    @property
    def messages(self) -> dict[str, Message]:
        return self.messaging.messages

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected exceptions inside the carrier (tests assert it stays empty)."""
        return self.tasks.errors

    # Outbound calls (the REST API calls these)

    def create_call(
        self,
        *,
        to: str,
        from_: str,
        url: str | None = None,
        twiml: str | None = None,
        method: str = "POST",
        fallback_url: str | None = None,
        fallback_method: str = "POST",
        status_callback: str | None = None,
        status_callback_events=(),
        status_callback_method: str = "POST",
        timeout: float = 60,
        time_limit: float = 14400,
        machine_detection: str | None = None,
    ) -> Call:
        if url is None and twiml is None:
            raise ValueError("a call needs a url or twiml")
        call = Call(
            sid=self.new_call_sid(),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            direction="outbound-api",
            phone=self.phones[to],
            date_created=self.clock.now(),
            pricing=replace(self.pricing),
            url=url,
            method=method,
            twiml=twiml,
            fallback_url=fallback_url,
            fallback_method=fallback_method,
            status_callback=status_callback,
            status_callback_events=frozenset(status_callback_events) | {"completed"},
            status_callback_method=status_callback_method,
            timeout=timeout,
            time_limit=time_limit,
            machine_detection=machine_detection,
        )
        self.calls[call.sid] = call
        call.task = self.tasks.spawn(self._run(call, self._outbound))
        return call

    def end(self, call: Call | str, status: str = "completed", note: tuple | None = None) -> bool:
        """End a call from outside: hang up a live call, cancel a queued or ringing one.

        `status` is what an unanswered call ends as ("canceled", "busy", ...);
        an answered call always ends "completed". `note` is a transcript entry
        to record, e.g. ("phone-hangup",). False if the call had already ended.
        """
        call = self.calls[call] if isinstance(call, str) else call
        if call.ended or call.pending_end is not None:
            return False
        call.pending_end = status
        if note:
            call.hear(self.clock.now(), *note)
        task = call.task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        return True

    def redirect(self, call: Call | str, *, url: str | None = None, method: str = "POST", twiml: str | None = None) -> bool:
        """Make a call leave its current TwiML for `url` (or inline `twiml`); False if it cannot."""
        call = self.calls[call] if isinstance(call, str) else call
        if (url is None) == (twiml is None):
            raise ValueError("give either url or twiml")
        source = Inline(twiml) if twiml is not None else Fetch(url, method, kind="redirect")
        if call.ended or call.direction == "outbound-dial":
            return False
        if call.status != "in-progress":
            # Not answered yet: the new instructions apply once it is.
            if isinstance(source, Inline):
                call.url, call.twiml = None, source.twiml
            else:
                call.url, call.method, call.twiml = source.url, source.method, None
            return True
        call.pending_redirect = source
        call.task.cancel()
        return True

    def press(self, call: Call | str, digits: str) -> None:
        """Keys pressed on the phone of a live call (interactive phones wait for these)."""
        call = self.calls[call] if isinstance(call, str) else call
        if call.ended:
            raise ValueError(f"call {call.sid} has ended")
        for key in digits:
            call.keypad.put_nowait(key)

    async def _outbound(self, call: Call) -> None:
        call.start_time = await self.pacer.acquire()
        self._advance(call, "initiated")
        outcome = await self._alert(call)
        if outcome != "answered":
            self._finish(call, outcome)
            return
        self._watch(call)
        source = Inline(call.twiml) if call.twiml is not None else Fetch(call.url, call.method)
        await self._converse(call, Interpreter(self, call), source)

    async def _alert(self, call: Call) -> str:
        """Ring the far end; return 'answered' or how the attempt failed."""
        phone = call.phone
        # Ringing is timed from when the far end rang, not from when this task woke up after the setup.
        rang = self.clock.now() + timedelta(seconds=SETUP_SECONDS)
        await self.clock.sleep_until(rang)
        if phone.answer == "fail" or not is_e164(call.to):
            return "failed"
        self._advance(call, "ringing")
        delay = phone.answer_after + self.faults.answer_delay
        if phone.answer == "busy":
            await self.clock.sleep_until(rang + timedelta(seconds=min(delay, call.timeout)))
            return "busy"
        if phone.answer == "no-answer" or delay > call.timeout:
            await self.clock.sleep_until(rang + timedelta(seconds=call.timeout))
            return "no-answer"
        await self.clock.sleep_until(rang + timedelta(seconds=delay))
        if call.machine_detection:
            if phone.answer != "voicemail":
                call.answered_by = "human"
            elif call.machine_detection == "DetectMessageEnd":
                call.answered_by = "machine_end_beep"
            else:
                call.answered_by = "machine_start"
        self._advance(call, "in-progress")
        return "answered"

    # Inbound calls and messages (a handset rings or texts a service number)

    async def ring(self, from_: str, to: str, *, wait: bool = True) -> Call:
        """A handset (`from_`, scripted by `phones[from_]`) calls service number `to`.

        With `wait` the call has ended when this returns; otherwise it returns
        as soon as the call exists (the demo's softphone polls it).
        """
        number = self.number(to)
        if not number.voice_url:
            raise ValueError(f"no voice URL for {to}: set Carrier.voice_url or Carrier.numbers[{to!r}]")
        now = self.clock.now()
        call = Call(
            sid=self.new_call_sid(),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            direction="inbound",
            phone=self.phones[from_],
            date_created=now,
            pricing=replace(self.pricing),
            status="ringing",
            url=number.voice_url,
            method=number.voice_method,
            fallback_url=number.voice_fallback_url,
            fallback_method=number.voice_fallback_method,
            status_callback=number.status_callback,
            status_callback_method=number.status_callback_method,
            phone_number_sid=phone_number_sid(to),
            start_time=now,
        )
        call.activity = "ringing"
        self.calls[call.sid] = call
        call.task = self.tasks.spawn(self._run(call, self._inbound))
        if wait:
            await asyncio.wait([call.task])
        return call

    async def _inbound(self, call: Call) -> None:
        interpreter = Interpreter(self, call)
        verbs = await interpreter.fetch(Fetch(call.url, call.method))
        if verbs and isinstance(verbs[0], twiml.Reject):
            # Rejected before answering: never billed.
            call.rejected = verbs[0].reason
            call.hear(self.clock.now(), "reject", call.rejected)
            self._finish(call, "busy" if call.rejected == "busy" else "no-answer")
            return
        self._advance(call, "in-progress")
        self._watch(call)
        await self._converse(call, interpreter, verbs)

    async def text(self, from_: str, to: str, body: str) -> Message:
        """A handset texts service number `to`; any `<Message>` reply is sent back."""
        return await self.messaging.text(from_, to, body)

    def send_message(
        self,
        *,
        to: str,
        from_: str | None,
        body: str,
        direction: str = "outbound-api",
        status_callback: str | None = None,
        messaging_service_sid: str | None = None,
        media: tuple = (),
        in_reply_to: str | None = None,
    ) -> Message:
        return self.messaging.send_message(
            to=to,
            from_=from_,
            body=body,
            direction=direction,
            status_callback=status_callback,
            messaging_service_sid=messaging_service_sid,
            media=media,
            in_reply_to=in_reply_to,
        )

    # Dial (the interpreter calls these)

    def dial_leg(self, parent: Call, number: twiml.Number, dial: twiml.Dial) -> DialLeg:
        child = Call(
            sid=self.new_call_sid(),
            account_sid=self.account_sid,
            to=number.number,
            from_=dial.caller_id or parent.from_,
            direction="outbound-dial",
            phone=self.phones[number.number],
            date_created=self.clock.now(),
            pricing=replace(self.pricing),
            parent_sid=parent.sid,
            url=number.url,
            method=number.method,
            status_callback=number.status_callback,
            status_callback_events=number.status_callback_events,
            status_callback_method=number.status_callback_method,
            timeout=dial.timeout,
            time_limit=0,  # the parent's <Dial timeLimit> governs the bridge
        )
        parent.children.append(child.sid)
        self.calls[child.sid] = child
        bridged = asyncio.get_running_loop().create_future()
        child.task = self.tasks.spawn(self._run(child, self._dialled, parent, bridged))
        return DialLeg(child, number, child.task, bridged)

    async def _dialled(self, child: Call, parent: Call, bridged: asyncio.Future) -> None:
        try:
            self._advance(child, "initiated")
            outcome = await self._alert(child)
            if outcome != "answered":
                self._finish(child, outcome)
                return
            self._watch(child)
            if child.url:
                # The whisper plays to leg B alone; a <Hangup> there declines the call.
                whisper = Interpreter(self, child)
                await self._converse(child, whisper, Fetch(child.url, child.method, kind="whisper"))
                if whisper.hung_up:
                    return
            bridged.set_result(self.clock.now())
            child.activity = "bridged"
            caller = parent.from_ if parent.direction == "inbound" else parent.to
            child.hear(self.clock.now(), "bridged", caller)
            if child.phone.talk_seconds is None:
                await asyncio.Event().wait()  # until the other side or timeLimit ends it
            else:
                await self.clock.sleep(child.phone.talk_seconds)
                child.hear(self.clock.now(), "phone-hangup")
        finally:
            if not bridged.done():
                bridged.cancel()

    def late_dial_action(self, parent: Call, legs: list[DialLeg], fetch: Fetch) -> None:
        """Twilio still requests the Dial action when the caller hangs up mid-Dial."""
        if parent.pending_end is None:
            return  # redirected, not hung up: the new document takes over

        async def post() -> None:
            await asyncio.wait([leg.task for leg in legs] + [parent.task])
            params = parent.params() | dial_params(legs)
            try:
                await self.webhooks.request("dial-action", fetch.url, params, fetch.method, parent.sid)
            except WebhookError:
                pass  # its TwiML would be ignored anyway

        self.tasks.spawn(post())

    # Recordings (the interpreter calls these for a <Dial record>)

    def start_recording(self, parent: Call, dial: twiml.Dial) -> Recording:
        now = self.clock.now()
        recording = Recording(
            sid=self.dialect.new_sid("RE"), account_sid=self.account_sid, call_sid=parent.sid, channels=channels_for(dial.record),
            start_time=now, date_updated=now, status_callback=dial.recording_status_callback,
            status_callback_method=dial.recording_status_callback_method,
            status_callback_events=dial.recording_status_callback_events,
        )
        self.recordings[recording.sid] = recording
        parent.hear(now, "recording", recording.sid)
        self._recording_progress(recording)
        return recording

    def finish_recording(self, recording: Recording) -> None:
        if recording.status != "in-progress":
            return
        now = self.clock.now()
        recording.duration = max(0, round((now - recording.start_time).total_seconds()))
        # Twilio keeps no empty recording: one with no audio is `absent`.
        recording.status = "completed" if recording.duration > 0 else "absent"
        recording.date_updated = now
        self._recording_progress(recording)

    def delete_recording(self, sid: str) -> bool:
        return self.recordings.pop(sid, None) is not None

    def _recording_progress(self, recording: Recording) -> None:
        if not recording.status_callback or self.tasks.closing or \
                recording.status not in recording.status_callback_events:
            return
        url = f"{self.public_url.rstrip('/')}{recording.uri.removesuffix('.json')}"
        params = recording.callback_params(url)
        recording.callbacks.append(params)
        self.tasks.post_in_order(recording.sid, "recording-status", recording.status_callback, params,
                                 recording.status_callback_method, recording.call_sid)

    # Lifecycle plumbing

    async def _run(self, call: Call, body: Callable[..., Awaitable[None]], *args) -> None:
        try:
            await body(call, *args)
        except asyncio.CancelledError:
            if self.tasks.closing:
                raise
            _uncancel()
        except Exception as exc:
            # A carrier bug must not leave the call hanging forever.
            self.errors.append(exc)
            logger.exception("call %s failed inside the sandbox", call.sid)
            call.hear(self.clock.now(), "error", 0, f"sandbox error: {exc!r}")
            call.pending_end = call.pending_end or "failed"
        finally:
            for watcher in call.watchers:
                watcher.cancel()
        self._finish(call, call.pending_end or "completed")

    async def _converse(self, call: Call, interpreter: Interpreter, start: Source | list) -> None:
        step = start
        while step is not None:
            try:
                await interpreter.run(step)
                step = None
            except asyncio.CancelledError:
                if call.pending_end is not None or call.pending_redirect is None or self.tasks.closing:
                    raise
                _uncancel()
                step, call.pending_redirect = call.pending_redirect, None
                call.hear(self.clock.now(), "redirect", describe(step))

    def _watch(self, call: Call) -> None:
        if call.phone.hangup_after is not None:
            call.watchers.append(self.tasks.spawn(self._later(call, call.phone.hangup_after, ("phone-hangup",))))
        if call.time_limit:
            call.watchers.append(self.tasks.spawn(self._later(call, call.time_limit, ("time-limit", call.time_limit))))

    async def _later(self, call: Call, seconds: float, note: tuple) -> None:
        await self.clock.sleep(seconds)
        self.end(call, "completed", note)

    def _advance(self, call: Call, status: str) -> None:
        now = self.clock.now()
        call.move(status, now)
        if status in ("ringing", "in-progress"):
            call.activity = "ringing" if status == "ringing" else "answered"
        self._progress(call, status, now)

    def _finish(self, call: Call, requested: str) -> None:
        if call.ended:
            return
        if call.status == "in-progress":
            status = "completed"
        elif requested == "completed":
            status = "canceled"  # ended before anyone answered
        else:
            status = requested
        now = self.clock.now()
        call.move(status, now)
        for watcher in call.watchers:
            watcher.cancel()
        self._progress(call, status, now)

    def _progress(self, call: Call, status: str, at) -> None:
        if not call.status_callback or self.tasks.closing:
            return
        event = "completed" if status in TERMINAL else EVENTS.get(status)
        if event not in call.status_callback_events:
            return
        params = call.progress_params(status, at)
        call.callbacks.append(params)
        self.tasks.post_in_order(call.sid, "status", call.status_callback, params, call.status_callback_method, call.sid)

    async def stall(self, seconds: float) -> None:
        """Hold a request for `seconds` of real time, or until the carrier closes."""
        await self.tasks.stall(seconds)

    @property
    def idle(self) -> bool:
        """No call live, no callback or message delivery pending."""
        return self.tasks.idle

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait (real seconds) until every call has ended and every callback is delivered."""

        def live() -> list[str]:
            return [f"{c.sid} {c.direction} {c.to} {c.status}/{c.activity}" for c in self.calls.values() if not c.ended]

        await self.tasks.wait_idle(timeout, live)

    async def aclose(self) -> None:
        await self.tasks.aclose()
        await self.webhooks.aclose()


def phone_number_sid(number: str) -> str:
    return "PN" + hashlib.md5(number.encode()).hexdigest()


def _uncancel() -> None:
    task = asyncio.current_task()
    if task is not None:
        while task.cancelling():
            task.uncancel()
