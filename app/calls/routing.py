"""Which provider places a leg A: least-cost routing over PROVIDERS, and the order of failover.

For the number dialled, the providers with a route at the longest prefix of it
that has routes come first, cheapest first (app/data/provider_routes.py); the
other providers of PROVIDERS follow in its order. Providers the operator marked
down are left out. Leg B is dialled by leg A's provider, inside leg A's TwiML,
so it is routed with leg A.

A request keeps the provider it was routed to across retries of that provider
(5xx, 429: its retry budget, PROVIDER_MAX_ATTEMPTS) and moves only to one after
it in this order (app/calls/dispatcher.py), so it never goes back to a provider
that already failed it. With one provider nothing is read from the database.
"""

from __future__ import annotations

from app.data import provider_routes
from app.platform import Platform


async def candidates(p: Platform, number: str) -> list[str]:
    """The providers that may place a call to `number`, in the order they are tried."""
    names = list(p.providers)
    if len(names) == 1:
        return names
    down = await provider_routes.down_providers(p.db)
    routed = [name for name, _ in await provider_routes.routes_for(p.db, number=number) if name in p.providers]
    return [name for name in routed + [n for n in names if n not in routed] if name not in down]


def pick(request, names: list[str]) -> str | None:
    """The provider this attempt uses: the request's own while it is still a candidate, else the first."""
    if request["provider"] in names:
        return request["provider"]
    return names[0] if names else None


def after(names: list[str], name: str | None) -> str | None:
    """The provider to fail over to from `name`; None when it was the last."""
    if name not in names:
        return names[0] if names else None
    i = names.index(name)
    return names[i + 1] if i + 1 < len(names) else None
