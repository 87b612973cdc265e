"""The sandbox carrier inside the platform, when no provider is configured (PROVIDER=sandbox).

It listens on its own loopback port, because the provider client reaches it
over HTTP like any Twilio-compatible API; its control API is also mounted at
/sandbox for the demo softphone page. SANDBOX_DIALECT picks the provider it
stands in for (Twilio, or SignalWire: UUID ids, /api/laml, a signing key), and
the app then talks to it through that provider's own adapter.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid

from app.core.settings import Settings
from app.providers import credentials as accounts
from app.providers.interface import Credentials
from sandbox import Carrier, Clock, Phone, serve

# Any value works for the local carrier; a fixed one keeps logs comparable.
SANDBOX_ACCOUNT_SID = "AC" + hashlib.sha256(b"callback-platform sandbox").hexdigest()[:32]
SANDBOX_PROJECT_ID = str(uuid.UUID(hashlib.sha256(b"callback-platform sandbox project").hexdigest()[:32]))
ACCOUNTS = {"twilio": SANDBOX_ACCOUNT_SID, "signalwire": SANDBOX_PROJECT_ID}
# Where the dialect's REST API lives below the carrier's address (the adapter's API base).
API_PATHS = {"twilio": "", "signalwire": "/api/laml"}


def build_carrier(settings: Settings) -> Carrier:
    # Phones nobody configured answer after two seconds and talk for a minute,
    # so a demo callback or a second party always picks up.
    dialect = settings.sandbox_dialect
    return Carrier(ACCOUNTS[dialect], "set-at-startup", clock=Clock(speed=settings.sandbox_speed),
                   cps=settings.sandbox_cps, default_phone=Phone(answer_after=2.0, talk_seconds=60.0),
                   dialect=dialect, signing_key="set-at-startup" if dialect == "signalwire" else None)


@contextlib.asynccontextmanager
async def running(carrier: Carrier, secret_key: str):
    """Serve the carrier's REST API on a free loopback port; yields the account the app uses there."""
    carrier.auth_token = accounts.sandbox_auth_token(secret_key)
    signing_key = None
    if carrier.signing_key is not None:
        signing_key = carrier.signing_key = accounts.sandbox_signing_key(secret_key)
    try:
        async with serve(carrier.app) as base_url:
            carrier.public_url = base_url + API_PATHS[carrier.dialect.name]  # its recording callbacks' RecordingUrl
            yield Credentials(carrier.account_sid, carrier.auth_token, base_url + API_PATHS[carrier.dialect.name],
                              signing_key)
    finally:
        await carrier.aclose()
