"""Service numbers, and the SMS gateways that forward texts to the platform."""

from __future__ import annotations

from app.calls import did_direct
from app.data import service_numbers, sms_log
from app.data.service_numbers import DID_MODES, MODES
from app.cli.commands import CommandError, account_by_login, parse_number
from app.core.settings import Settings


async def cmd_number_add(settings: Settings, args, db) -> str:
    number = parse_number(args.number)
    account = await account_by_login(db, args.account) if args.account else None
    destination = None
    if args.destination is not None:
        if args.mode != "did-direct" or account is None:
            raise CommandError("--destination is for --mode did-direct with --account")
        try:
            destination = await did_direct.checked_destination(db, account=account, raw=args.destination)
        except did_direct.DestinationError as exc:
            raise CommandError(str(exc)) from None
    try:
        await service_numbers.add_number(db, number=number, mode=args.mode,
                                         account_id=account["id"] if account else None, destination=destination)
    except service_numbers.NumberError as exc:
        hint = ": give --account" if args.mode in DID_MODES and account is None else ""
        if args.mode == "did-direct" and account is not None and destination is None:
            hint = ": give --destination"
        raise CommandError(f"{exc}{hint}") from None
    return f"service number {number} added in {args.mode} mode" + (f", connecting {destination}" if destination else "")


async def cmd_number_set(settings: Settings, args, db) -> str:
    number = parse_number(args.number)
    if await service_numbers.get_number(db, number=number) is None:
        raise CommandError(f"{number} is not a service number")
    await service_numbers.update_number(db, number=number, caller_id_mode=args.caller_id or None)
    return f"{number}: caller ID {args.caller_id or 'as the account says'}"


async def cmd_gateway_add(settings: Settings, args, db) -> str:
    name = args.name.strip()
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise CommandError("a gateway name is 1 to 64 letters, digits, - or _")
    if any(row["name"] == name for row in await sms_log.list_gateways(db)):
        raise CommandError(f"gateway {name!r} already exists")
    secret = await sms_log.add_gateway(db, name=name)
    return f"gateway {name} added; its secret (shown once): {secret}"


async def cmd_gateway_list(settings: Settings, args, db) -> str:
    rows = await sms_log.list_gateways(db)
    return "\n".join(f"{row['name']}\tlast seen {row['last_seen_at'] or 'never'}" for row in rows) or "no gateways"


async def cmd_gateway_remove(settings: Settings, args, db) -> str:
    if not await sms_log.remove_gateway(db, name=args.name):
        raise CommandError(f"no gateway named {args.name!r}")
    return f"gateway {args.name} removed"


def register(groups) -> None:
    number = groups.add_parser("number", help="service numbers").add_subparsers(dest="command", required=True)
    add = number.add_parser("add", help="add a service number")
    add.add_argument("number")
    add.add_argument("--mode", required=True, choices=list(MODES))
    add.add_argument("--account", help="the account a DID (did, did-direct) belongs to")
    add.add_argument("--destination", help="did-direct: the number a call to the DID connects")
    add.set_defaults(run_db=cmd_number_add)
    change = number.add_parser("set", help="change a service number's settings")
    change.add_argument("number")
    change.add_argument("--caller-id", choices=["service", "subscriber", "withheld", ""], required=True,
                        help="what the second party sees on calls through this number; empty: the account's choice")
    change.set_defaults(run_db=cmd_number_set)

    gateway = groups.add_parser("gateway", help="SMS gateways posting to /sms/gateway").add_subparsers(
        dest="command", required=True)
    gateway_add = gateway.add_parser("add", help="add a gateway and print its secret")
    gateway_add.add_argument("name")
    gateway_add.set_defaults(run_db=cmd_gateway_add)
    gateway.add_parser("list", help="list gateways").set_defaults(run_db=cmd_gateway_list)
    gateway_remove = gateway.add_parser("remove", help="remove a gateway")
    gateway_remove.add_argument("name")
    gateway_remove.set_defaults(run_db=cmd_gateway_remove)
