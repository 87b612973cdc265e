"""The carrier's HTTP face: one Starlette app with its dialect's REST API (Twilio's or Telnyx's) and the /_sandbox control API."""

from __future__ import annotations

import contextlib

from starlette.applications import Starlette

from .control import control_routes
from .network import Network
from .rest import rest_routes
from .telnyx_rest import telnyx_rest_routes


def build_app(network: Network, *, control: bool = True) -> Starlette:
    """The ASGI app serving `network`; `control=False` leaves out the unauthenticated /_sandbox API."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        # Runs only when the carrier is served on its own; a host app
        # that mounts it should await carrier.aclose() on shutdown.
        yield
        await network.aclose()

    api = telnyx_rest_routes(network) if network.dialect.name == "telnyx" else rest_routes(network)
    routes = api + (control_routes(network) if control else [])
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.carrier = network
    return app
