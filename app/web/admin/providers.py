"""The admin page of several providers: PROVIDERS in order, which are marked down, and the routing table."""

from __future__ import annotations

from starlette.responses import Response

from app.core import money
from app.data import provider_routes
from app.web.admin.pages import Desk, admin_page

DONE = {"down": "The provider was marked down: calls go to the next one.", "up": "The provider was marked up."}


async def _page(desk: Desk, *, status: int = 200, error: str | None = None) -> Response:
    db = desk.p.db
    states = {row["provider"]: row for row in await provider_routes.list_states(db)}
    providers = [{"name": name, "down": bool(states.get(name) and states[name]["down"]),
                  "note": states[name]["note"] if name in states else None, "default": i == 0}
                 for i, name in enumerate(desk.p.providers)]
    routes = [{"prefix": row["prefix"], "provider": row["provider"], "cost": money.format_price(row["cost_per_minute"]),
               "configured": row["provider"] in desk.p.providers} for row in await provider_routes.list_routes(db)]
    return desk.render("admin/providers.html", status=status, active="providers", providers=providers, routes=routes,
                       done=DONE.get(desk.query("done")), error=error)


@admin_page()
async def provider_page(desk: Desk) -> Response:
    return await _page(desk)


@admin_page()
async def mark_provider(desk: Desk) -> Response:
    name, state = desk.field("provider", 16), desk.field("state", 4)
    if name not in desk.p.providers or state not in ("down", "up"):
        return await _page(desk, status=422, error="Choose a provider of PROVIDERS, and down or up.")
    await provider_routes.set_down(desk.p.db, provider=name, down=state == "down",
                                   note=f"{state} by operator {desk.operator['login']}")
    return desk.redirect(f"/admin/providers?done={state}")
