"""A platform under test: the app in-process, signed webhook posts, the database read back."""

from __future__ import annotations

import functools

import sqlalchemy as sa
from starlette.testclient import TestClient

from app.cli import main as cli
from app.main import create_app
from app.core.settings import Settings
from app.data.tables import call_legs, callback_requests, events
from tests.utils import twilio as tw
from tests.utils.twilio import parse_twiml

BASE = "http://testserver"


class PlatformUnderTest:
    def __init__(self, settings: Settings, engine: sa.Engine):
        self.settings = settings
        self.engine = engine
        self.app = create_app(settings)
        self.client = TestClient(self.app, base_url=BASE)

    def __enter__(self):
        self.client.__enter__()
        return self

    def __exit__(self, *exc):
        self.client.__exit__(*exc)

    # Operator set-up, through the real CLI.
    def cli(self, *argv: str) -> int:
        return cli.main(list(argv), settings=self.settings)

    def run(self, coro_fn, *args, **kwargs):
        """Run an async function of the app's in the app's event loop."""
        return self.client.portal.call(functools.partial(coro_fn, *args, **kwargs))

    @property
    def platform(self):
        return self.app.state.platform

    # The provider's side.
    def post(self, path: str, params: dict[str, str], *, signature: str | None = None, url: str | None = None):
        target = url or BASE + path
        headers = {"X-Twilio-Signature": signature if signature is not None else tw.sign(target, params)}
        return self.client.post(path, data=params, headers=headers)

    def twiml(self, path: str, params: dict[str, str]):
        response = self.post(path, params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        return parse_twiml(response.text)

    def dispatch(self) -> int:
        """One dispatcher pass, waiting for its create-call requests to finish."""
        dispatcher = self.app.state.dispatcher

        async def tick_and_wait():
            count = await dispatcher.tick()
            await dispatcher.settle()
            return count

        return self.run(tick_and_wait)

    # The database, read back.
    def requests(self):
        with self.engine.connect() as c:
            return c.execute(sa.select(callback_requests).order_by(callback_requests.c.id)).mappings().all()

    def request(self, request_id: int):
        with self.engine.connect() as c:
            return c.execute(sa.select(callback_requests).where(callback_requests.c.id == request_id)).mappings().one()

    def events(self, request_id: int):
        with self.engine.connect() as c:
            return c.execute(sa.select(events).where(events.c.request_id == request_id).order_by(events.c.id)).mappings().all()

    def legs(self, request_id: int):
        with self.engine.connect() as c:
            return c.execute(sa.select(call_legs).where(call_legs.c.request_id == request_id).order_by(call_legs.c.id)).mappings().all()

    def scalar(self, query):
        with self.engine.connect() as c:
            return c.execute(query).scalar()
