"""The sandbox carrier inside the platform, when no Twilio credentials are set.

It listens on its own loopback port, because the provider client reaches it
over HTTP like any Twilio-compatible API; its control API is also mounted at
/sandbox for the demo softphone page.
"""

from __future__ import annotations

import contextlib
import hashlib

from app.core.settings import Settings
from sandbox import Carrier, Clock, Phone, serve

# Any value works for the local carrier; a fixed one keeps logs comparable.
SANDBOX_ACCOUNT_SID = "AC" + hashlib.sha256(b"callback-platform sandbox").hexdigest()[:32]


def build_carrier(settings: Settings) -> Carrier:
    # Phones nobody configured answer after two seconds and talk for a minute,
    # so a demo callback or a second party always picks up.
    return Carrier(SANDBOX_ACCOUNT_SID, "set-at-startup", clock=Clock(speed=settings.sandbox_speed),
                   cps=settings.sandbox_cps, default_phone=Phone(answer_after=2.0, talk_seconds=60.0))


@contextlib.asynccontextmanager
async def running(carrier: Carrier, auth_token: str):
    """Serve the carrier's REST API on a free loopback port; yields its base URL."""
    carrier.auth_token = auth_token
    try:
        async with serve(carrier.app) as base_url:
            carrier.public_url = base_url  # the RecordingUrl its recording callbacks give
            yield base_url
    finally:
        await carrier.aclose()
