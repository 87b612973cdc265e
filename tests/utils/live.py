"""The platform as a real server on loopback, with the sandbox carrier as its provider.

Both run in the test's event loop: uvicorn serves the platform (lifespan on)
and the carrier; the platform's dispatcher runs on its own thread and loop, as
in production (`app.state.dispatch_thread`). Every webhook, status callback and
REST request crosses a real socket, signed and validated as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from app.data import accounts, rates, service_numbers
from app.core import states
from app.main import create_app
from app.core.settings import Settings
from app.data.tables import accounts as accounts_t
from app.data.tables import call_legs, callback_requests, events
from sandbox import Carrier, Clock, Phone, serve
from tests.utils import scenario as sc
from tests.utils import signalwire as sw
from tests.utils import telnyx as tx
from tests.utils import twilio as tw


@dataclass
class Live:
    carrier: Carrier
    platform_url: str
    app: object
    engine: sa.Engine
    dialect: str = "twilio"

    def signed(self, url: str, params: dict[str, str]) -> dict[str, str]:
        """The headers the provider of this dialect signs a webhook to `url` with."""
        if self.dialect == "signalwire":
            return sw.headers(url, params)
        return {"X-Twilio-Signature": tw.sign(url, params)}

    def message_sid(self) -> str:
        return sw.call_sid() if self.dialect == "signalwire" else tw.message_sid()

    @property
    def db(self):
        return self.app.state.platform.db

    def requests(self):
        with self.engine.connect() as c:
            return c.execute(sa.select(callback_requests).order_by(callback_requests.c.id)).mappings().all()

    def request_for(self, trigger_sid: str):
        with self.engine.connect() as c:
            return c.execute(sa.select(callback_requests).where(callback_requests.c.trigger_id == trigger_sid)).mappings().one_or_none()

    def legs(self, request_id: int):
        with self.engine.connect() as c:
            return c.execute(sa.select(call_legs).where(call_legs.c.request_id == request_id).order_by(call_legs.c.id)).mappings().all()

    def events(self, request_id: int):
        with self.engine.connect() as c:
            return c.execute(sa.select(events).where(events.c.request_id == request_id).order_by(events.c.id)).mappings().all()

    def balance(self, login: str) -> int:
        with self.engine.connect() as c:
            return c.execute(sa.select(accounts_t.c.balance).where(accounts_t.c.login == login)).scalar_one()

    def calls_to(self, number: str):
        return [call for call in self.carrier.calls.values() if call.to == number and call.direction == "outbound-api"]

    async def finished(self, trigger_sid: str, timeout: float = 20.0):
        """Wait until the trigger's request has ended and the carrier is idle; the request row."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            row = self.request_for(trigger_sid)
            if row is not None and row["state"] in states.TERMINAL and self.carrier.idle:
                await asyncio.sleep(0.05)  # let the last status callbacks land
                await self.carrier.wait_idle(timeout=5)
                return self.request_for(trigger_sid)
            await asyncio.sleep(0.05)
        raise AssertionError(f"request of {trigger_sid} did not finish: {self.request_for(trigger_sid)}")

    async def ring(self, caller: str, number: str):
        return await self.carrier.ring(from_=caller, to=number)


async def seed(db, secret_key: str) -> None:
    alice = await accounts.create_account(db, secret_key=secret_key, login="alice", password="alice-password",
                                          pin=sc.ALICE_PIN, default_number=sc.ALICE_HOME, balance=1000)
    await accounts.add_ani(db, account_id=alice, number=sc.ALICE_MOBILE)
    bob = await accounts.create_account(db, secret_key=secret_key, login="bob", password="bob-password",
                                        pin=sc.BOB_PIN, balance=500)
    await accounts.add_ani(db, account_id=bob, number=sc.BOB_MOBILE)
    # Retries without the production delay, so a retried callback takes milliseconds.
    await db.execute(accounts_t.update().values(retry_delay_seconds=0))
    for number, mode in [(sc.PIN_NUMBER, "pin"), (sc.ANI_NUMBER, "ani"), (sc.ANI_THEN_PIN_NUMBER, "ani-then-pin"),
                         (sc.ANI_AND_PIN_NUMBER, "ani-and-pin")]:
        await service_numbers.add_number(db, number=number, mode=mode)
    await service_numbers.add_number(db, number=sc.ALICE_DID, mode="did", account_id=alice)
    await rates.set_rate(db, prefix="1", price_per_minute=10_000)
    await rates.set_rate(db, prefix="44", price_per_minute=50_000, increment=(30, 6))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The providers whose protocol the carrier can speak (the app configured for each as in production).
DIALECTS = ("twilio", "signalwire")
# A whole flow, run with the carrier and the app as each provider (the `dialect` fixture, tests/conftest.py).
EVERY_DIALECT = pytest.mark.parametrize("dialect", DIALECTS, indirect=True)


def provider_settings(settings: Settings, dialect: str, carrier_url: str) -> Settings:
    """`settings` pointed at a carrier at `carrier_url` speaking `dialect`, configured as that provider."""
    if dialect == "signalwire":
        # A full base URL as SIGNALWIRE_SPACE_URL: the local double of a space.
        return settings.with_(provider="signalwire", signalwire_space_url=carrier_url,
                              signalwire_project_id=sw.PROJECT_ID, signalwire_api_token=sw.API_TOKEN,
                              signalwire_signing_key=sw.SIGNING_KEY)
    return settings.with_(twilio_api_base=carrier_url)


def carrier_for(dialect: str, **kwargs) -> Carrier:
    if dialect == "signalwire":
        return Carrier(sw.PROJECT_ID, sw.API_TOKEN, dialect="signalwire", signing_key=sw.SIGNING_KEY, **kwargs)
    if dialect == "telnyx":
        return Carrier(auth_token=tx.API_KEY, dialect="telnyx", **kwargs)
    return Carrier(tw.ACCOUNT_SID, tw.AUTH_TOKEN, **kwargs)


@contextlib.asynccontextmanager
async def live_platform(settings: Settings, engine: sa.Engine, *, speed: float = 100.0, cps: float = 50.0,
                        seed_data: bool = True, dialect: str = "twilio"):
    """`seed_data=False`: start again on a database seeded before (a restart); `dialect`: the provider
    the carrier stands in for, and the app is configured as (tests/utils/signalwire.py, telnyx.py)."""
    carrier = carrier_for(dialect, clock=Clock(speed=speed), cps=cps,
                          default_phone=Phone(answer_after=1.0, talk_seconds=30.0))
    try:
        async with serve(carrier.app) as carrier_url:
            # The port is chosen before the app is built: its callback URLs are configuration.
            port = free_port()
            configured = provider_settings(settings, dialect, carrier_url).with_(
                dispatcher_enabled=True, dispatch_delay_seconds=0, provider_cps=cps,
                public_base_url=f"http://127.0.0.1:{port}")
            if dialect == "telnyx":
                configured = tx.configure(configured, carrier, carrier_url)
            app = create_app(configured)
            # The app's lifespan is entered here, not by uvicorn: the test server is
            # stopped by cancellation, and the dispatcher and database must still shut down.
            async with app.router.lifespan_context(app), serve(app, port=port) as platform_url:
                carrier.voice_url = platform_url + "/twilio/voice"
                carrier.sms_url = platform_url + ("/telnyx/sms" if dialect == "telnyx" else "/twilio/sms")
                live = Live(carrier=carrier, platform_url=platform_url, app=app, engine=engine, dialect=dialect)
                if seed_data:
                    await seed(live.db, configured.secret_key)
                yield live
                assert carrier.errors == []
    finally:
        await carrier.aclose()
