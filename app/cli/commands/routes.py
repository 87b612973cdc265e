"""Least-cost routing over several providers: the routing table, and providers marked down or up."""

from __future__ import annotations

from app.cli.commands import CommandError
from app.core import money
from app.core.settings import PROVIDERS, Settings
from app.data import provider_routes
from app.data.rates import RateError


def _provider(settings: Settings, name: str) -> tuple[str, str]:
    """The provider name as stored, and a note when PROVIDERS does not list it (its routes wait unused)."""
    name = name.strip().lower()
    if name not in PROVIDERS:
        raise CommandError(f"unknown provider {name!r}: one of {', '.join(PROVIDERS)}")
    unused = "" if name in settings.provider_names else f" (not in PROVIDERS={','.join(settings.provider_names)}: unused until it is)"
    return name, unused


async def cmd_route_add(settings: Settings, args, db) -> str:
    name, unused = _provider(settings, args.provider)
    try:
        cost = money.parse_price(args.cost)
        prefix = await provider_routes.set_route(db, prefix=args.prefix, provider=name, cost_per_minute=cost)
    except (money.MoneyError, RateError) as exc:
        raise CommandError(str(exc)) from None
    return f"route {prefix} via {name}: {money.format_price(cost)}/min{unused}"


async def cmd_route_remove(settings: Settings, args, db) -> str:
    name, _ = _provider(settings, args.provider)
    try:
        removed = await provider_routes.remove_route(db, prefix=args.prefix, provider=name)
    except RateError as exc:
        raise CommandError(str(exc)) from None
    if not removed:
        raise CommandError(f"no route {args.prefix} via {name}")
    return f"route {args.prefix} via {name} removed"


async def cmd_route_list(settings: Settings, args, db) -> str:
    down = await provider_routes.down_providers(db)
    lines = [f"providers: " + ", ".join(name + (" (down)" if name in down else "") for name in settings.provider_names)]
    lines += [f"{row['prefix']} {row['provider']} {money.format_price(row['cost_per_minute'])}/min"
              for row in await provider_routes.list_routes(db)]
    return "\n".join(lines)


async def cmd_route_mark(settings: Settings, args, db) -> str:
    name, unused = _provider(settings, args.provider)
    down = args.command == "down"
    await provider_routes.set_down(db, provider=name, down=down, note=args.note)
    return f"{name} marked {'down: no call is placed with it' if down else 'up'}{unused}"


def register(groups) -> None:
    route = groups.add_parser("route", help="least-cost routing over PROVIDERS").add_subparsers(
        dest="command", required=True)
    add = route.add_parser("add", help="add or change what a provider costs for a prefix")
    add.add_argument("prefix")
    add.add_argument("provider", help=", ".join(PROVIDERS))
    add.add_argument("cost", metavar="COST_PER_MINUTE")
    add.set_defaults(run_db=cmd_route_add)
    remove = route.add_parser("remove", help="remove a route")
    remove.add_argument("prefix")
    remove.add_argument("provider")
    remove.set_defaults(run_db=cmd_route_remove)
    route.add_parser("list", help="the providers and the routing table").set_defaults(run_db=cmd_route_list)
    for command, meaning in [("down", "place no call with a provider (calls fail over to the next)"),
                             ("up", "place calls with a provider again")]:
        mark = route.add_parser(command, help=meaning)
        mark.add_argument("provider")
        mark.add_argument("--note", help="why (shown on the admin page)")
        mark.set_defaults(run_db=cmd_route_mark)
