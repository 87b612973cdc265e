"""The carrier: the simulated network (network.py) served over HTTP (http.py).

`Carrier` is what the rest of the project uses. It adds only `app`, built on
first use, to `Network`; the split keeps the network below its HTTP API, so
rest.py and control.py can use the network without importing this module back.
"""

from __future__ import annotations

from starlette.applications import Starlette

from .http import build_app
from .network import Network


class Carrier(Network):
    def __init__(self, *args, control: bool = True, **kwargs) -> None:
        """`Network`'s arguments, and `control`: whether `app` serves the /_sandbox control API."""
        super().__init__(*args, **kwargs)
        self.control = control
        self._app: Starlette | None = None

    @property
    def app(self) -> Starlette:
        """Twilio's REST API plus (with `control`) the /_sandbox control API."""
        if self._app is None:
            self._app = build_app(self, control=self.control)
        return self._app
