"""Runs TwiML on one call: fetches documents, plays verbs, gathers, dials.

Each verb takes virtual time (speech at about 150 words a minute, a fixed
length per `<Play>`), so call durations come out plausible. What the call's
party hears and presses goes into `call.transcript`:

    ("say", text, language)          ("play", url)          ("pause", seconds)
    ("gather", prompts, digits)      ("dial", number)       ("dial-status", status, seconds)
    ("press", "*")                   ("time-limit", seconds)
    ("redirect", url)                ("hangup",)            ("reject", reason)
    ("message", to, body)            ("error", code, message)
    ("recording", recording_sid)     (a <Dial record> began recording this call)

`prompts` is a tuple of the texts (or URLs) the Gather played.

A call's script keeps its own time: each verb, prompt and key press ends a fixed
virtual time after the previous one ended, not after the event loop got round to
waking the call up. Under a fast clock a wake-up a millisecond late is a tenth of
a virtual second, and a PIN, a number and their prompts are twenty of them in a
row. The script's time starts again from the clock's after anything it waits for
outside itself: a webhook, a key pressed on the keypad, the legs of a Dial.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urljoin, urlsplit

from . import errors
from . import twiml_reader as twiml
from .call_control import CallControl, DialLeg, Fetch, Inline, Source
from .calls import Call
from .recordings import RECORD_MODES
from .webhooks import WebhookError

APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
PLAY_SECONDS = 3.0
KEY_GAP = 0.4  # between a scripted phone's key presses
LOOP_FOREVER = 1000  # `loop="0"` outside a Gather: bounded, the call ends long before
END = object()  # a verb ended the call


@dataclass(frozen=True)
class Failure:
    """Stands in for a document that could not be fetched or parsed."""

    code: int
    message: str


def speech_seconds(text: str) -> float:
    return max(1.0, len(text.split()) / 2.5)


class Interpreter:
    def __init__(self, control: CallControl, call: Call) -> None:
        self.control = control
        self.call = call
        self.clock = control.clock
        self.document_url: str | None = None
        # True when a verb (Hangup, Reject, an error) ended the call, rather
        # than the document running out of verbs.
        self.hung_up = False
        self._held: list[str] = []
        # Where the script has got to in virtual time; None: at the clock's time (after waiting on the outside).
        self._at: datetime | None = None
        # Telnyx's TeXML has no actionOnEmptyResult, and posts a Gather's action with the application's method.
        self.texml = getattr(getattr(control, "dialect", None), "name", "twilio") == "telnyx"

    async def run(self, start: Source | list) -> None:
        verbs = start if isinstance(start, list) else await self.fetch(start)
        while verbs is not None:
            following = await self.execute(verbs)
            verbs = await self.fetch(following) if following is not None else None

    async def fetch(self, source: Source) -> list:
        if isinstance(source, Inline):
            self.document_url = None
            return self._parse(source.twiml)
        params = self.call.params() | source.extra
        if self.call.status == "in-progress":
            self.call.activity = "fetching"
        try:
            response = await self.control.webhooks.request(
                source.kind, source.url, params, source.method, self.call.sid
            )
        except WebhookError as exc:
            return await self._fallback(source, params, exc.code, exc.message)
        finally:
            self._at = None
        verbs = self._parse(response.content)
        if verbs and isinstance(verbs[0], Failure):
            return await self._fallback(source, params, verbs[0].code, verbs[0].message)
        self.document_url = source.url
        return verbs

    async def _fallback(self, source: Source, params: dict, code: int, message: str) -> list:
        call = self.call
        if source.kind != "voice" or not call.fallback_url:
            return [Failure(code, message)]
        params = params | {"ErrorCode": str(code), "ErrorUrl": source.url}
        try:
            response = await self.control.webhooks.request(
                "voice-fallback", call.fallback_url, params, call.fallback_method, call.sid
            )
        except WebhookError as exc:
            return [Failure(exc.code, exc.message)]
        finally:
            self._at = None
        self.document_url = call.fallback_url
        return self._parse(response.content)

    @staticmethod
    def _parse(document: str | bytes) -> list:
        try:
            return twiml.parse_voice(document)
        except twiml.TwimlError as exc:
            return [Failure(exc.code, exc.message)]

    async def execute(self, verbs: list) -> Source | None:
        """Play `verbs` in order; return the next document to fetch, or None when the call ends."""
        for verb in verbs:
            outcome = await self._perform(verb)
            if outcome is END:
                return None
            if outcome is not None:
                return outcome
        return None

    async def _perform(self, verb):
        call = self.call
        now = self.clock.now
        if isinstance(verb, twiml.Say):
            call.activity = "listening"
            for _ in range(verb.loop or LOOP_FOREVER):
                entry = call.hear(now(), "say", verb.text, verb.language)
                entry.voice = verb.voice
                await self._spend(speech_seconds(verb.text))
        elif isinstance(verb, twiml.Play):
            call.activity = "listening"
            for _ in range(verb.loop or LOOP_FOREVER):
                call.hear(now(), "play", verb.url)
                await self._spend(PLAY_SECONDS)
        elif isinstance(verb, twiml.Pause):
            call.activity = "listening"
            call.hear(now(), "pause", verb.length)
            await self._spend(verb.length)
        elif isinstance(verb, twiml.Gather):
            return await self._gather(verb)
        elif isinstance(verb, twiml.Dial):
            return await self._dial(verb)
        elif isinstance(verb, twiml.Redirect):
            url = self._resolve(verb.url)
            if url is None:
                return await self._fail(errors.SCHEMA_VALIDATION, f"<Redirect> to relative URL {verb.url!r} from inline TwiML")
            call.hear(now(), "redirect", url)
            return Fetch(url, verb.method, kind="redirect")
        elif isinstance(verb, twiml.Hangup):
            call.hear(now(), "hangup")
            self.hung_up = True
            return END
        elif isinstance(verb, twiml.Reject):
            call.hear(now(), "reject", verb.reason)
            self.hung_up = True
            return END
        elif isinstance(verb, twiml.Message):
            self._message(verb)
        elif isinstance(verb, twiml.Unknown):
            return await self._fail(errors.DOCUMENT_PARSE_FAILURE, verb.reason)
        elif isinstance(verb, Failure):
            return await self._fail(verb.code, verb.message)
        return None

    async def _fail(self, code: int, message: str):
        call = self.call
        call.error = (code, message)
        call.hear(self.clock.now(), "error", code, message)
        call.hear(self.clock.now(), "say", APPLICATION_ERROR, "en-US")
        await self._spend(speech_seconds(APPLICATION_ERROR))
        self.hung_up = True
        return END

    # The script's time

    async def _spend(self, seconds: float) -> None:
        """Let `seconds` of the script pass, from where it had got to."""
        self._at = (self._at or self.clock.now()) + timedelta(seconds=max(0.0, seconds))
        await self.clock.sleep_until(self._at)

    async def _key_within(self, seconds: float) -> str:
        """A key pressed on the keypad within `seconds` of the script's time; TimeoutError if none was."""
        deadline = (self._at or self.clock.now()) + timedelta(seconds=max(0.0, seconds))
        try:
            key = await self.clock.wait_for(self.call.keypad.get(), (deadline - self.clock.now()).total_seconds())
        except TimeoutError:
            self._at = deadline
            raise
        self._at = None
        return key

    def _resolve(self, url: str) -> str | None:
        if urlsplit(url).scheme in ("http", "https"):
            return url
        if self.document_url is None:
            return None
        return urljoin(self.document_url, url)

    def _message(self, verb: twiml.Message) -> None:
        call = self.call
        # The service number is whichever end of the call is not the handset.
        service, handset = (call.to, call.from_) if call.direction == "inbound" else (call.from_, call.to)
        to = verb.to or handset
        self.control.send_message(to=to, from_=verb.from_ or service, body=verb.body, direction="outbound-call")
        call.hear(self.clock.now(), "message", to, verb.body)

    # Gather

    async def _gather(self, verb: twiml.Gather):
        call = self.call
        started = self.clock.now()
        call.activity = "gathering"
        script = call.phone.keys_for(call.gathers_met)
        call.gathers_met += 1
        pending = list(script or "")
        heard = call.prompts = []
        try:
            await self._prompt(verb.prompts, heard)
            call.waiting_for_keys = True
            digits, finished_on = await self._collect(verb, pending)
        finally:
            call.waiting_for_keys = False
            call.prompts = []
        entry = call.hear(started, "gather", tuple(heard), digits)
        entry.finished_on_key = finished_on
        if not digits and (self.texml or not verb.action_on_empty_result):
            return None  # Twilio (and TeXML) move on to the verb after the Gather
        action = self._resolve(verb.action) if verb.action else self.document_url
        if action is None:
            return None
        method = "POST" if self.texml else verb.method  # the sandbox's TeXML application posts
        return Fetch(action, method, {"Digits": digits, "FinishedOnKey": finished_on}, kind="gather")

    async def _prompt(self, prompts: tuple, heard: list[str]) -> None:
        """Play the prompts into `heard`; a key pressed meanwhile (barge-in) cuts them short."""
        for prompt in prompts:
            if isinstance(prompt, twiml.Pause):
                if await self._listen(prompt.length):
                    break
                continue
            text, seconds = (
                (prompt.text, speech_seconds(prompt.text)) if isinstance(prompt, twiml.Say) else (prompt.url, PLAY_SECONDS)
            )
            interrupted = False
            # loop="0" repeats a prompt until input; the phone answers after one pass.
            for _ in range(max(1, prompt.loop)):
                heard.append(text)
                if await self._listen(seconds):
                    interrupted = True
                    break
            if interrupted:
                break

    async def _listen(self, seconds: float) -> bool:
        if self._held:
            return True
        try:
            self._held.append(await self._key_within(seconds))
            return True
        except TimeoutError:
            return False

    async def _collect(self, verb: twiml.Gather, script: list[str]) -> tuple[str, str]:
        if "dtmf" not in verb.input:
            script = []
        digits = ""
        while True:
            key = await self._next_key(script, verb.timeout)
            if key is None:
                return digits, ""
            if verb.finish_on_key and key == verb.finish_on_key:
                return digits, key
            if key not in "0123456789*#":
                continue
            digits += key
            if verb.num_digits and len(digits) >= verb.num_digits:
                return digits, ""

    async def _next_key(self, script: list[str], timeout: float) -> str | None:
        if self._held:
            return self._held.pop(0)
        if not self.call.keypad.empty():
            return self.call.keypad.get_nowait()
        if script:
            await self._spend(KEY_GAP)
            return script.pop(0)
        try:
            return await self._key_within(timeout)
        except TimeoutError:
            return None

    # Dial

    async def _dial(self, verb: twiml.Dial):
        call = self.call
        call.activity = "dialing"
        for number in verb.numbers:
            call.hear(self.clock.now(), "dial", number.number)
        numbers = [
            replace(
                number,
                url=self._resolve(number.url) if number.url else None,
                status_callback=self._resolve(number.status_callback) if number.status_callback else None,
            )
            for number in verb.numbers
        ]
        legs = [self.control.dial_leg(call, number, verb) for number in numbers]
        action = self._resolve(verb.action) if verb.action else None
        recording = None
        if verb.record in RECORD_MODES and verb.record.startswith("record-from-ringing"):
            recording = self._record(verb)
        completed = False
        try:
            winner = await self._first_answer(legs)
            for leg in legs:
                if leg is not winner:
                    self.control.end(leg.child, "canceled")
            if winner is not None:
                if verb.record in RECORD_MODES and recording is None:
                    recording = self._record(verb)  # from the answer: leg B's whisper is not on it
                await self._bridge(winner, verb)
            # asyncio.wait, not gather: cancelling this call must not cancel the legs' tasks.
            await asyncio.wait([leg.task for leg in legs])
            completed = True
        finally:
            if recording is not None:
                self.control.finish_recording(recording)
            if not completed:
                # The parent hung up (or was redirected) mid-Dial: drop leg B.
                for leg in legs:
                    self.control.end(leg.child, "completed")
                if action:
                    self.control.late_dial_action(call, legs, Fetch(action, verb.method, kind="dial-action"))
        self._at = None
        params = dial_params(legs)
        call.hear(self.clock.now(), "dial-status", params["DialCallStatus"], int(params["DialCallDuration"]))
        call.activity = "listening"
        if action:
            return Fetch(action, verb.method, params, kind="dial-action")
        return None

    def _record(self, verb: twiml.Dial):
        callback = self._resolve(verb.recording_status_callback) if verb.recording_status_callback else None
        return self.control.start_recording(self.call, replace(verb, recording_status_callback=callback))

    async def _first_answer(self, legs: list[DialLeg]) -> DialLeg | None:
        while True:
            for leg in legs:
                if leg.bridged.done() and not leg.bridged.cancelled():
                    return leg
            running = [leg.task for leg in legs if not leg.task.done()]
            if not running:
                return None
            waiting = running + [leg.bridged for leg in legs if not leg.bridged.done()]
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)

    async def _bridge(self, leg: DialLeg, verb: twiml.Dial) -> None:
        call = self.call
        call.activity = "bridged"
        limit = asyncio.ensure_future(self.clock.sleep(verb.time_limit))
        star = asyncio.ensure_future(self._star()) if verb.hangup_on_star else None
        watched = [w for w in (leg.task, limit, star) if w is not None]
        try:
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            limit.cancel()
            if star is not None:
                star.cancel()
        if leg.task in done:
            return
        if star is not None and star in done:
            call.hear(self.clock.now(), "press", "*")
        else:
            call.hear(self.clock.now(), "time-limit", verb.time_limit)
        self.control.end(leg.child, "completed")
        await asyncio.wait([leg.task])

    async def _star(self) -> None:
        """Return when leg A presses `*`: by script after `star_after`, or on its keypad."""

        async def keypad_star():
            while await self.call.keypad.get() != "*":
                pass

        after = self.call.phone.star_after
        if after is None or self.call.phone.interactive:
            await keypad_star()
            return
        try:
            await self.clock.wait_for(keypad_star(), after)
        except TimeoutError:
            pass


def dial_params(legs: list[DialLeg]) -> dict[str, str]:
    """Twilio's Dial action parameters, from how the dialled legs ended."""
    chosen = next((leg for leg in legs if leg.bridged.done() and not leg.bridged.cancelled()), None)
    bridged = chosen is not None
    if chosen is None:
        chosen = next((leg for leg in legs if leg.child.answered), None)
    if chosen is not None:
        status = "completed"
    else:
        statuses = {leg.child.status for leg in legs}
        if statuses <= {"failed"}:
            status = "failed"
        elif "busy" in statuses:
            status = "busy"
        elif statuses <= {"canceled"}:
            status = "canceled"
        else:
            status = "no-answer"
        chosen = legs[-1]
    return {
        "DialCallStatus": status,
        "DialCallSid": chosen.child.sid,
        "DialCallDuration": str(chosen.child.duration or 0),
        "DialBridged": "true" if bridged else "false",
    }
