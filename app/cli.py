"""`callback-platform`: the operator's command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from app import accounts, billing, dialer, lockouts, money, rates, security, service_numbers, sms_log
from app.db import make_database
from app.instance import resolve_secret_key
from app.phone import InvalidNumber, to_e164
from app.settings import Settings, load_settings


class CommandError(Exception):
    pass


def _number(raw: str, region: str = "US") -> str:
    try:
        return to_e164(raw, region)
    except InvalidNumber:
        raise CommandError(f"{raw!r} is not a valid phone number") from None


async def _with_db(settings: Settings, work):
    db = make_database(settings)
    await db.connect()
    try:
        return await work(db)
    finally:
        await db.disconnect()


async def _account(db, login: str):
    account = await accounts.get_account_by_login(db, login=login)
    if account is None:
        raise CommandError(f"no account with login {login!r}")
    return account


def cmd_db_upgrade(settings: Settings, args) -> str:
    from app.migrations import upgrade

    upgrade(settings)
    return "database is up to date"


async def cmd_account_create(settings: Settings, args, db) -> str:
    country = args.country.upper()
    if len(country) != 2 or not country.isalpha():
        raise CommandError("--country is a two-letter ISO code such as US")
    if not args.login or len(args.login) > 64 or not args.login.isprintable() or " " in args.login:
        raise CommandError("a login is 1 to 64 printable characters without spaces")
    if len(args.password) < 8:
        raise CommandError("a password has at least 8 characters")
    if args.pin is not None and (problem := security.pin_problem(args.pin)):
        raise CommandError(problem)
    default_number = _number(args.default_number, country) if args.default_number else None
    currency = args.currency.upper()
    try:
        balance = money.parse_amount(args.balance, currency)
    except money.MoneyError as exc:
        raise CommandError(str(exc)) from None
    secret_key = await resolve_secret_key(db, settings)
    try:
        await accounts.create_account(
            db, secret_key=secret_key, login=args.login, password=args.password, pin=args.pin,
            default_number=default_number, balance=balance, currency=currency, country=country,
            language=args.language.lower(),
        )
    except accounts.AccountError as exc:
        raise CommandError(str(exc)) from None
    return f"account {args.login} created, balance {money.format_amount(balance, currency)} {currency}"


async def cmd_account_add_ani(settings: Settings, args, db) -> str:
    account = await _account(db, args.login)
    number = _number(args.number, account["country"])
    try:
        await accounts.add_ani(db, account_id=account["id"], number=number)
    except accounts.AccountError as exc:
        raise CommandError(str(exc)) from None
    return f"{number} registered to {args.login}"


async def cmd_account_topup(settings: Settings, args, db) -> str:
    account = await _account(db, args.login)
    try:
        amount = money.parse_amount(args.amount, account["currency"])
    except money.MoneyError as exc:
        raise CommandError(str(exc)) from None
    if amount <= 0:
        raise CommandError("a top-up is a positive amount")
    balance = await accounts.top_up(db, account_id=account["id"], amount=amount)
    return f"{args.login} balance {money.format_amount(balance, account['currency'])} {account['currency']}"


async def cmd_number_add(settings: Settings, args, db) -> str:
    number = _number(args.number)
    account_id = (await _account(db, args.account))["id"] if args.account else None
    try:
        await service_numbers.add_number(db, number=number, mode=args.mode, account_id=account_id)
    except service_numbers.NumberError as exc:
        raise CommandError(str(exc)) from None
    return f"service number {number} added in {args.mode} mode"


async def cmd_rate_add(settings: Settings, args, db) -> str:
    try:
        price = money.parse_price(args.price)
        increment = billing.parse_increment(args.increment)
        fee = money.parse_price(args.connection_fee)
        await rates.set_rate(db, prefix=args.prefix, price_per_minute=price, increment=increment,
                             tariff=args.tariff, connection_fee=fee)
    except (money.MoneyError, rates.RateError) as exc:
        raise CommandError(str(exc)) from None
    return f"rate {rates.clean_prefix(args.prefix)}: {money.format_price(price)}/min, {increment[0]}/{increment[1]}"


async def cmd_rate_import(settings: Settings, args, db) -> str:
    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"no such file: {args.file}")
    try:
        count = await rates.import_rates(db, text=path.read_text(encoding="utf-8-sig"), tariff=args.tariff)
    except (rates.RateError, UnicodeDecodeError) as exc:
        raise CommandError(f"nothing imported: {exc}") from None
    return f"{count} rates imported"


async def cmd_rate_export(settings: Settings, args, db) -> str:
    return (await rates.export_rates(db, tariff=args.tariff)).rstrip("\n")


async def cmd_policy(settings: Settings, args, db) -> str:
    from app import policy

    account_id = (await _account(db, args.account))["id"] if args.account else None
    scope = f"account {args.account}" if args.account else "operator"
    try:
        if args.command == "show":
            rows = await policy.list_rules(db)
            limits = await policy.operator_limits(db)
            lines = [f"{row['kind']} {row['value']}" + (f" (account #{row['account_id']})" if row["account_id"] else "")
                     for row in rows]
            lines += [f"{name} {value}" for name, value in sorted(limits.items())]
            return "\n".join(lines) or "no rules: every rated destination is allowed, premium and shared-cost refused"
        kind = {"allow-country": "allow_country", "allow-prefix": "allow_prefix", "deny-prefix": "deny_prefix",
                "allow-type": "allow_type"}[args.command]
        if args.remove:
            removed = await policy.remove_rule(db, kind=kind, value=args.value, account_id=account_id)
            if not removed:
                raise CommandError(f"no such {scope} rule")
            return f"{scope}: removed {kind} {args.value}"
        await policy.add_rule(db, kind=kind, value=args.value, account_id=account_id)
        return f"{scope}: {kind} {policy.clean_value(kind, args.value)}"
    except policy.PolicyError as exc:
        raise CommandError(str(exc)) from None


async def cmd_policy_limits(settings: Settings, args, db) -> str:
    from app import policy

    if args.max_call_minutes is not None:
        await policy.set_operator_limit(db, name="max_call_seconds", value=args.max_call_minutes * 60 or None)
    if args.max_call_cost is not None:
        try:
            cost = money.parse_amount(args.max_call_cost, "USD")
        except money.MoneyError as exc:
            raise CommandError(str(exc)) from None
        await policy.set_operator_limit(db, name="max_call_cost", value=cost or None)
    return ", ".join(f"{k} {v}" for k, v in sorted((await policy.operator_limits(db)).items())) or "no limits"


async def cmd_lockouts(settings: Settings, args, db) -> str:
    rows = await lockouts.recent(db)
    return "\n".join(f"{row['requester']}\taccount #{row['account_id'] or '-'}\t{row['failures']} failures"
                     + ("\tLOCKED" if row["failures"] >= lockouts.MAX_FAILURES else "")
                     for row in rows) or "no failed authorizations in the last hour"


async def cmd_token_create(settings: Settings, args, db) -> str:
    account = await _account(db, args.login)
    token = await accounts.create_token(db, account_id=account["id"], name=args.name)
    return token


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


async def cmd_account_set(settings: Settings, args, db) -> str:
    account = await _account(db, args.login)
    changes = {}
    if args.confirm_mode is not None:
        changes["confirm_mode"] = args.confirm_mode
    if args.language is not None:
        changes["language"] = args.language.lower()
    if args.default_number is not None:
        changes["default_number"] = _number(args.default_number, account["country"]) if args.default_number else None
    if args.retry_attempts is not None:
        if not 0 <= args.retry_attempts <= 5:
            raise CommandError("--retry-attempts is 0 to 5")
        changes["retry_attempts"] = args.retry_attempts
    if args.status is not None:
        changes["status"] = args.status
    for name in ("tariff", "callback_tariff"):
        value = getattr(args, name)
        if value is not None:
            if not value or len(value) > 32:
                raise CommandError(f"--{name.replace('_', '-')} is a tariff name of 1 to 32 characters")
            changes[name] = value
    if args.max_concurrent is not None:
        if not 1 <= args.max_concurrent <= 1000:
            raise CommandError("--max-concurrent is 1 to 1000")
        changes["max_concurrent"] = args.max_concurrent
    if args.max_call_minutes is not None:
        changes["max_call_seconds"] = args.max_call_minutes * 60 or None
    if args.max_call_cost is not None:
        try:
            changes["max_call_cost"] = money.parse_amount(args.max_call_cost, account["currency"]) or None
        except money.MoneyError as exc:
            raise CommandError(str(exc)) from None
    if not changes:
        raise CommandError("nothing to change: give at least one option")
    await accounts.update_account(db, account_id=account["id"], **changes)
    return f"{args.login}: " + ", ".join(f"{key.replace('_', '-')} {value}" for key, value in changes.items())


async def cmd_account_unlock(settings: Settings, args, db) -> str:
    account = await _account(db, args.login)
    cleared = await lockouts.clear(db, account_id=account["id"])
    return f"{args.login} unlocked ({cleared} failed attempts cleared)"


async def cmd_demo_seed(settings: Settings, args, db) -> str:
    from app import demo

    added = await demo.seed(db, secret_key=await resolve_secret_key(db, settings))
    return "demo data: " + (", ".join(added) if added else "already there")


def cmd_serve(settings: Settings, args) -> str:
    import uvicorn

    uvicorn.run("app.main:app", host=args.host, port=args.port, proxy_headers=True, http="httptools",
                workers=args.workers)
    return ""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callback-platform", description="Callback platform operator commands")
    groups = parser.add_subparsers(dest="group", required=True)

    db = groups.add_parser("db", help="database").add_subparsers(dest="command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(run=cmd_db_upgrade)

    account = groups.add_parser("account", help="subscriber accounts").add_subparsers(dest="command", required=True)
    create = account.add_parser("create", help="create an account")
    create.add_argument("login")
    create.add_argument("--password", required=True)
    create.add_argument("--pin")
    create.add_argument("--default-number")
    create.add_argument("--balance", default="0")
    create.add_argument("--currency", default="USD")
    create.add_argument("--country", default="US")
    create.add_argument("--language", default="en")
    create.set_defaults(run_db=cmd_account_create)
    add_ani = account.add_parser("add-ani", help="register a caller ID (ANI) to an account")
    add_ani.add_argument("login")
    add_ani.add_argument("number")
    add_ani.set_defaults(run_db=cmd_account_add_ani)
    topup = account.add_parser("topup", help="add credit")
    topup.add_argument("login")
    topup.add_argument("amount")
    topup.set_defaults(run_db=cmd_account_topup)

    change = account.add_parser("set", help="change an account's settings")
    change.add_argument("login")
    change.add_argument("--confirm-mode", choices=["none", "press1", "amd"],
                        help="one-stage calls: how to make sure a person answered before dialling")
    change.add_argument("--language")
    change.add_argument("--default-number", help="empty to remove")
    change.add_argument("--retry-attempts", type=int)
    change.add_argument("--status", choices=["active", "blocked"])
    change.add_argument("--tariff", help="rate table for the second party")
    change.add_argument("--callback-tariff", help="rate table for the callback leg")
    change.add_argument("--max-concurrent", type=int, help="callbacks in progress at once")
    change.add_argument("--max-call-minutes", type=int, help="longest call; 0 for the operator's limit")
    change.add_argument("--max-call-cost", help="most a call may cost; 0 for the operator's limit")
    change.set_defaults(run_db=cmd_account_set)
    unlock = account.add_parser("unlock", help="clear an account's failed-PIN/password lockout")
    unlock.add_argument("login")
    unlock.set_defaults(run_db=cmd_account_unlock)

    gateway = groups.add_parser("gateway", help="SMS gateways posting to /sms/gateway").add_subparsers(
        dest="command", required=True)
    gateway_add = gateway.add_parser("add", help="add a gateway and print its secret")
    gateway_add.add_argument("name")
    gateway_add.set_defaults(run_db=cmd_gateway_add)
    gateway.add_parser("list", help="list gateways").set_defaults(run_db=cmd_gateway_list)
    gateway_remove = gateway.add_parser("remove", help="remove a gateway")
    gateway_remove.add_argument("name")
    gateway_remove.set_defaults(run_db=cmd_gateway_remove)

    number = groups.add_parser("number", help="service numbers").add_subparsers(dest="command", required=True)
    add = number.add_parser("add", help="add a service number")
    add.add_argument("number")
    add.add_argument("--mode", required=True, choices=["pin", "ani", "ani-then-pin", "ani-and-pin", "did"])
    add.add_argument("--account")
    add.set_defaults(run_db=cmd_number_add)

    rate = groups.add_parser("rate", help="rates").add_subparsers(dest="command", required=True)
    rate_add = rate.add_parser("add", help="add or change a rate")
    rate_add.add_argument("prefix")
    rate_add.add_argument("price", metavar="PRICE_PER_MINUTE")
    rate_add.add_argument("--increment", default="60/60")
    rate_add.add_argument("--connection-fee", default="0")
    rate_add.add_argument("--tariff", default="default")
    rate_add.set_defaults(run_db=cmd_rate_add)
    rate_import = rate.add_parser("import", help="import prefix,price[,increment] rows from a CSV file")
    rate_import.add_argument("file")
    rate_import.add_argument("--tariff", default="default")
    rate_import.set_defaults(run_db=cmd_rate_import)
    rate_export = rate.add_parser("export", help="print a tariff as CSV")
    rate_export.add_argument("--tariff", default="default")
    rate_export.set_defaults(run_db=cmd_rate_export)

    policy = groups.add_parser("policy", help="destination policy and call limits").add_subparsers(
        dest="command", required=True)
    policy.add_parser("show", help="list the rules").set_defaults(run_db=cmd_policy, account=None)
    for name, meaning in [("allow-country", "only these countries (ISO code)"),
                          ("allow-prefix", "only numbers starting so"), ("deny-prefix", "never numbers starting so"),
                          ("allow-type", "allow premium_rate or shared_cost numbers")]:
        rule = policy.add_parser(name, help=meaning)
        rule.add_argument("value")
        rule.add_argument("--account", help="for one account (default: every account)")
        rule.add_argument("--remove", action="store_true")
        rule.set_defaults(run_db=cmd_policy)
    policy_limits = policy.add_parser("limits", help="operator-wide limits on one call")
    policy_limits.add_argument("--max-call-minutes", type=int)
    policy_limits.add_argument("--max-call-cost")
    policy_limits.set_defaults(run_db=cmd_policy_limits)

    groups.add_parser("lockouts", help="failed PINs/passwords of the last hour").set_defaults(run_db=cmd_lockouts)

    token = groups.add_parser("token", help="API tokens").add_subparsers(dest="command", required=True)
    token_create = token.add_parser("create", help="create an API token (shown once)")
    token_create.add_argument("login")
    token_create.add_argument("--name", default="")
    token_create.set_defaults(run_db=cmd_token_create)

    demo = groups.add_parser("demo", help="demo data").add_subparsers(dest="command", required=True)
    demo.add_parser("seed", help="add demo subscribers, numbers and rates (idempotent)").set_defaults(
        run_db=cmd_demo_seed)

    dialer.add_commands(groups)

    serve = groups.add_parser("serve", help="serve the platform")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)
    return parser


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings or load_settings()
    try:
        if hasattr(args, "run_db"):
            message = asyncio.run(_with_db(settings, lambda db: args.run_db(settings, args, db)))
        else:
            message = args.run(settings, args)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if message:
        print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
