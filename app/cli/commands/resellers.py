"""Resellers: create one (its login for /reseller, the operator's tariff for it, its credit limit),
change it, and attach accounts to it."""

from __future__ import annotations

import re

from app.cli.commands import CommandError, account_by_login
from app.core import money
from app.core.settings import Settings
from app.data import resellers

LOGIN = re.compile(r"[A-Za-z0-9._@-]{1,64}")
TARIFF = re.compile(r"[A-Za-z0-9._-]{1,32}")


async def _reseller(db, login: str):
    reseller = await resellers.get_reseller_by_login(db, login=login)
    if reseller is None:
        raise CommandError(f"no reseller with login {login!r}")
    return reseller


def _limit(text: str, currency: str) -> int:
    try:
        amount = money.parse_amount(text, currency)
    except money.MoneyError as exc:
        raise CommandError(str(exc)) from None
    if amount < 0:
        raise CommandError("a credit limit is 0 or more")
    return amount


async def cmd_reseller_create(settings: Settings, args, db) -> str:
    if args.sell_tariff is not None and not TARIFF.fullmatch(args.sell_tariff):
        raise CommandError("a tariff name is 1 to 32 letters, digits and . _ -")
    if not LOGIN.fullmatch(args.login):
        raise CommandError("a login is 1 to 64 letters, digits and . _ @ -")
    if len(args.password) < 10:
        raise CommandError("a reseller password has at least 10 characters")
    currency = args.currency.upper()
    try:
        await resellers.create_reseller(db, login=args.login, password=args.password, tariff=args.tariff,
                                        currency=currency, credit_limit=_limit(args.credit_limit, currency),
                                        sell_tariff=args.sell_tariff)
    except resellers.ResellerError as exc:
        raise CommandError(str(exc)) from None
    return f"reseller {args.login} created; signs in at /reseller"


async def cmd_reseller_set(settings: Settings, args, db) -> str:
    reseller = await _reseller(db, args.login)
    changes = {}
    if args.credit_limit is not None:
        changes["credit_limit"] = _limit(args.credit_limit, reseller["currency"])
    if args.tariff is not None:
        changes["tariff"] = args.tariff
    if changes:
        await resellers.update_reseller(db, reseller_id=reseller["id"], **changes)
    return f"reseller {args.login} updated" if changes else "nothing to change"


async def cmd_reseller_attach(settings: Settings, args, db) -> str:
    reseller = await _reseller(db, args.reseller)
    account = await account_by_login(db, args.account)
    if account["currency"] != reseller["currency"]:
        raise CommandError(f"{args.account} is in {account['currency']}, the reseller in {reseller['currency']}")
    # A reseller that keeps its own selling tariff sells both legs of its accounts' calls at it.
    await resellers.attach(db, reseller_id=reseller["id"], account_id=account["id"], tariff=reseller["sell_tariff"])
    return f"{args.account} is now sold by {args.reseller}" + (
        f" at tariff {reseller['sell_tariff']}" if reseller["sell_tariff"] else "")


async def cmd_reseller_detach(settings: Settings, args, db) -> str:
    account = await account_by_login(db, args.account)
    await resellers.attach(db, reseller_id=None, account_id=account["id"])
    return f"{args.account} is the operator's own again"


def register(groups) -> None:
    reseller = groups.add_parser("reseller", help="resellers and their accounts").add_subparsers(
        dest="command", required=True)
    create = reseller.add_parser("create", help="create a reseller")
    create.add_argument("login")
    create.add_argument("--password", required=True)
    create.add_argument("--tariff", default="default", help="the operator's rate table the reseller buys at")
    create.add_argument("--credit-limit", default="0", help="what its accounts' calls may cost it, e.g. 100.00")
    create.add_argument("--currency", default="USD")
    create.add_argument("--sell-tariff", help="a new rate table of its own, which it edits at /reseller/rates and "
                                              "its accounts are priced at")
    create.set_defaults(run_db=cmd_reseller_create)
    change = reseller.add_parser("set", help="change a reseller's credit limit or tariff")
    change.add_argument("login")
    change.add_argument("--credit-limit")
    change.add_argument("--tariff")
    change.set_defaults(run_db=cmd_reseller_set)
    attach = reseller.add_parser("attach", help="make an account the reseller's")
    attach.add_argument("reseller")
    attach.add_argument("account")
    attach.set_defaults(run_db=cmd_reseller_attach)
    detach = reseller.add_parser("detach", help="make an account the operator's own again")
    detach.add_argument("account")
    detach.set_defaults(run_db=cmd_reseller_detach)
