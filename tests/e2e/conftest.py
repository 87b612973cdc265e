"""The carrier's dialect: Twilio by default; a test of a whole flow runs in SignalWire's too.

`@pytest.mark.parametrize("dialect", DIALECTS, indirect=True)` runs a test with
the carrier and the app as each provider. The extra dialect runs on SQLite
only: what differs is the protocol at the edge, not the database.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def dialect(request, database_url) -> str:
    name = getattr(request, "param", "twilio")
    if name != "twilio" and not database_url.startswith("sqlite"):
        pytest.skip("the SignalWire dialect runs on SQLite; the database does not see the protocol")
    return name
