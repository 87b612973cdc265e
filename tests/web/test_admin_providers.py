"""The admin pages with several providers: PROVIDERS and the routing table, marking a provider down,
and the provider of each request and leg on the live board, the CDRs and their CSV."""

from __future__ import annotations

import csv
import io

import pytest

from app.data import provider_routes
from app.data.tables import call_legs, callback_requests, provider_states
from tests.utils.web import logged_in, operator, web_platform
from tests.web.test_admin import rows, seed_history, text_of


@pytest.fixture
def p(settings, engine):
    with web_platform(settings.with_(providers=("twilio", "sandbox")), engine) as platform:
        yield platform


def test_providers_and_routes_are_shown_and_a_provider_marked_down_and_up(p):
    p.run(provider_routes.set_route, p.platform.db, prefix="44", provider="sandbox", cost_per_minute=11_000)
    p.run(provider_routes.set_route, p.platform.db, prefix="44", provider="telnyx", cost_per_minute=9_000)
    admin = operator(p)
    page = text_of(admin.get("/admin/providers"))
    assert "twilio (default: texts, triggers) up" in page and "sandbox up" in page
    assert "44 sandbox 0.011" in page and "44 telnyx (not in PROVIDERS: unused) 0.009" in page
    done = admin.submit("/admin/providers", {"provider": "sandbox", "state": "down"})
    assert "marked down" in done.text and "sandbox down down by operator" in text_of(done)
    assert [(r["provider"], r["down"]) for r in rows(p, provider_states)] == [("sandbox", True)]
    assert p.run(provider_routes.down_providers, p.platform.db) == {"sandbox"}
    for fields in [{"provider": "telnyx", "state": "down"}, {"provider": "twilio", "state": "off"},
                   {"provider": "<b>", "state": "up"}, {}]:
        refused = admin.submit("/admin/providers", fields)
        assert refused.status_code == 422 and "Choose a provider of PROVIDERS" in refused.text, fields
    admin.submit("/admin/providers", {"provider": "sandbox", "state": "up"})
    assert [(r["provider"], r["down"]) for r in rows(p, provider_states)] == [("sandbox", False)]


def test_the_provider_of_each_call_and_leg_on_the_live_board_the_cdrs_and_the_csv(p):
    admin = operator(p)
    ids = seed_history(p)
    with p.engine.begin() as c:
        c.execute(callback_requests.update().where(callback_requests.c.id.in_([ids["live"], ids["done"]]))
                  .values(provider="sandbox"))
        c.execute(call_legs.update().where(call_legs.c.request_id == ids["done"]).values(provider="sandbox"))
    assert "via sandbox" in admin.get("/admin/live").text
    assert admin.get("/admin/live.json").json()["calls"][0]["provider"] == "sandbox"
    cdrs = text_of(admin.get("/admin/cdrs?login=alice"))
    assert cdrs.count("via sandbox") == 2  # legs A and B: B is dialled by A's provider
    lines = list(csv.DictReader(io.StringIO(admin.get("/admin/cdrs.csv?login=alice").text)))
    assert [(line["leg"], line["provider"]) for line in lines] == [("", ""), ("a", "sandbox"), ("b", "sandbox")]

    # The subscriber's own history says the same.
    alice = logged_in(p)
    assert text_of(alice.get("/history")).count("via sandbox") == 2
    lines = list(csv.DictReader(io.StringIO(alice.get("/history.csv").text)))
    assert [(line["leg"], line["provider"]) for line in lines] == [("", ""), ("a", "sandbox"), ("b", "sandbox")]
