"""A local carrier that speaks Twilio's protocol in both directions.

    carrier = Carrier(account_sid, auth_token, clock=Clock(speed=1000), cps=5,
                      voice_url="http://127.0.0.1:8000/twilio/voice")
    carrier.phones["+15550001111"] = Phone(keys=["1"])
    app = carrier.app  # Twilio's REST API plus the /_sandbox control API
"""

from .calls import Call, Entry
from .carrier import Carrier
from .clock import Clock, rfc2822
from .cps import max_in_window, most_in_window
from .faults import Faults
from .messages import Message
from .numbers import ServiceNumber
from .phones import Phone, Phones
from .pricing import CallPricing
from .server import serve
from .sids import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

__all__ = [
    "Call",
    "CallPricing",
    "Carrier",
    "Clock",
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "Entry",
    "Faults",
    "Message",
    "Phone",
    "Phones",
    "ServiceNumber",
    "max_in_window",
    "most_in_window",
    "rfc2822",
    "serve",
]
