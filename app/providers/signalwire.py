"""The SignalWire adapter: its Compatibility (LaML) REST API is Twilio's 2010-04-01 API under another base.

https://{space}/api/laml/2010-04-01/Accounts/{project}/Calls.json, Basic auth
with the project id and an API token, the same form fields, statuses, call
resource and error body ({code, message, more_info, status}). So this is the
Twilio adapter with three differences, each from SignalWire's published API
description (tests/providers/specs/signalwire_laml.json):

- call and message sids are UUIDs (opaque to the app anyway, app/core/ids.py);
- create call takes no TimeLimit: the carrier does not cap leg A; each call to
  the second party is capped by its <Dial timeLimit>, and lost_callbacks ends
  a leg A still up past the longest session (billing.LEG_A_MAX_SECONDS);
- its errors carry SignalWire's own codes, so "no such call" is a 404 that the
  API itself answered (a JSON error with a code), not Twilio's 20404.

Prices come as positive numbers (0.003), which the billing reads as a cost
like Twilio's negative strings (app/billing/provider_prices.py).
"""

from __future__ import annotations

from app.providers.interface import ProviderError
from app.providers.twilio import TwilioProvider


class SignalWireProvider(TwilioProvider):  # implements interface.Provider; Credentials(project id, API token, base)
    name = "signalwire"
    takes_time_limit = False

    @staticmethod
    def not_found(error: ProviderError) -> bool:
        # A 404 with SignalWire's error body: the API looked and has no such call. A 404 with
        # no code came from something else on the way (a wrong space URL, a proxy).
        return error.status == 404 and error.code is not None
