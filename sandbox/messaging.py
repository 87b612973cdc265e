"""SMS: messages sent through the REST API or TwiML, and texts from handsets.

An outbound message steps queued -> sending -> sent -> delivered (or
undelivered when its handset cannot be reached), posting its status callbacks
in order. A handset's text goes to the service number's SMS webhook, and any
`<Message>` in the reply is sent back.
"""

from __future__ import annotations

from typing import Callable

from . import errors
from . import twiml_reader as twiml
from .clock import Clock
from .messages import Message
from .numbers import ServiceNumber
from .phones import Phone
from .sids import is_e164, new_sid
from .tasks import Tasks
from .webhooks import WebhookError, Webhooks

SMS_HOP_SECONDS = 0.5  # each step queued -> sending -> sent -> delivered
MAX_SMS_REDIRECTS = 10


class Messaging:
    def __init__(
        self,
        account_sid: str,
        clock: Clock,
        webhooks: Webhooks,
        tasks: Tasks,
        *,
        phone: Callable[[str], Phone],
        number: Callable[[str], ServiceNumber],
        new_sid: Callable[[str], str] = new_sid,
    ) -> None:
        # `phone` and `number` are looked up on every message: the network's
        # phone book and default webhooks may be replaced after it is built.
        self.account_sid = account_sid
        self.clock = clock
        self.webhooks = webhooks
        self.tasks = tasks
        self.phone = phone
        self.number = number
        self.messages: dict[str, Message] = {}
        self.new_sid = new_sid  # the dialect's ids

    async def text(self, from_: str, to: str, body: str) -> Message:
        """A handset texts service number `to`; any `<Message>` reply is sent back."""
        number = self.number(to)
        if not number.sms_url:
            raise ValueError(f"no SMS URL for {to}: set Carrier.sms_url or Carrier.numbers[{to!r}]")
        now = self.clock.now()
        inbound = Message(
            sid=self.new_sid("SM"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            direction="inbound",
            status="receiving",
            date_created=now,
        )
        self.messages[inbound.sid] = inbound
        inbound.move("received", now)
        params = {
            "MessageSid": inbound.sid,
            "SmsSid": inbound.sid,
            "SmsMessageSid": inbound.sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": str(inbound.num_segments),
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        url, method = number.sms_url, number.sms_method
        for _ in range(MAX_SMS_REDIRECTS):
            try:
                response = await self.webhooks.request("sms", url, params, method)
            except WebhookError as exc:
                inbound.error_code, inbound.error_message = exc.code, exc.message
                return inbound
            try:
                verbs = twiml.parse_messaging(response.content) if response.content.strip() else []
            except twiml.TwimlError as exc:
                inbound.error_code, inbound.error_message = exc.code, exc.message
                return inbound
            redirect = None
            for verb in verbs:
                if isinstance(verb, twiml.Message):
                    reply = self.send_message(
                        to=verb.to or from_,
                        from_=verb.from_ or to,
                        body=verb.body,
                        media=verb.media,
                        direction="outbound-reply",
                        in_reply_to=inbound.sid,
                    )
                    inbound.replies.append(reply)
                elif isinstance(verb, twiml.Redirect):
                    redirect = verb
                    break
                else:
                    inbound.error_code, inbound.error_message = errors.DOCUMENT_PARSE_FAILURE, verb.reason
            if redirect is None:
                break
            url, method = redirect.url, redirect.method
        return inbound

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
        message = Message(
            sid=self.new_sid("MM" if media else "SM"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            direction=direction,
            status="accepted" if messaging_service_sid and not from_ else "queued",
            date_created=self.clock.now(),
            status_callback=status_callback,
            messaging_service_sid=messaging_service_sid,
            media=tuple(media),
            in_reply_to=in_reply_to,
        )
        self.messages[message.sid] = message
        self.tasks.spawn(self._deliver(message))
        return message

    async def _deliver(self, message: Message) -> None:
        phone = self.phone(message.to) if is_e164(message.to) else None
        for status in ("queued", "sending", "sent"):
            if message.status == "canceled":
                return
            if message.status != status:
                self._progress(message, status)
            await self.clock.sleep(SMS_HOP_SECONDS)
        if phone is None or phone.answer == "fail":
            message.error_code, message.error_message = 30003, "Unreachable destination handset"
            self._progress(message, "undelivered")
            return
        phone.inbox.append(message)
        self._progress(message, "delivered")

    def _progress(self, message: Message, status: str) -> None:
        message.move(status, self.clock.now())
        reportable = status in ("sent", "delivered", "undelivered", "failed")
        if message.status_callback and reportable and not self.tasks.closing:
            params = message.status_params()
            if message.error_code:
                params["ErrorCode"] = str(message.error_code)
            message.callbacks.append(params)
            self.tasks.post_in_order(message.sid, "message-status", message.status_callback, params, "POST")
