"""An SMS record, with the segment count Twilio would bill."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

# GSM 03.38 basic set plus its extension table; anything else forces UCS-2.
_GSM = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")
PRICE_PER_SEGMENT = 0.0079
TERMINAL = frozenset({"delivered", "undelivered", "failed", "received", "canceled"})


def segments(body: str) -> int:
    if not body:
        return 1
    if all(ch in _GSM or ch in _GSM_EXTENDED for ch in body):
        length = sum(2 if ch in _GSM_EXTENDED else 1 for ch in body)
        return 1 if length <= 160 else math.ceil(length / 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


@dataclass(eq=False)
class Message:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    direction: str  # inbound | outbound-api | outbound-call | outbound-reply
    status: str
    date_created: datetime
    date_updated: datetime | None = None
    date_sent: datetime | None = None
    status_callback: str | None = None
    messaging_service_sid: str | None = None
    media: tuple = ()
    error_code: int | None = None
    error_message: str | None = None
    in_reply_to: str | None = None
    replies: list = field(default_factory=list)
    callbacks: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.date_updated = self.date_updated or self.date_created

    @property
    def num_segments(self) -> int:
        return segments(self.body)

    @property
    def price(self) -> str | None:
        if self.status not in ("sent", "delivered", "received"):
            return None
        return f"{-PRICE_PER_SEGMENT * self.num_segments:.5f}"

    def move(self, status: str, at: datetime) -> None:
        self.status = status
        self.date_updated = at
        if status in ("sent", "received"):
            self.date_sent = self.date_sent or at

    def status_params(self) -> dict[str, str]:
        return {
            "MessageSid": self.sid,
            "SmsSid": self.sid,
            "AccountSid": self.account_sid,
            "From": self.from_,
            "To": self.to,
            "MessageStatus": self.status,
            "SmsStatus": self.status,
            "ApiVersion": "2010-04-01",
        }
