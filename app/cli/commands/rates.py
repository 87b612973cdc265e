"""Rates and tariffs, and the destination policy that decides what may be called."""

from __future__ import annotations

from pathlib import Path

from app.billing import pricing as billing
from app.core import money
from app.fraud import policy
from app.data import rates
from app.cli.commands import CommandError, account_by_login
from app.core.settings import Settings


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


    account_id = (await account_by_login(db, args.account))["id"] if args.account else None
    scope = f"account {args.account}" if args.account else "operator"
    try:
        if args.command == "show":
            rows = await policy.list_rules(db)
            limits = await policy.read_operator_limits(db)
            lines = [f"{row['kind']} {row['value']}" + (f" (account #{row['account_id']})" if row["account_id"] else "")
                     for row in rows]
            lines += [f"{name} {value}" for name, value in sorted(limits.items())]
            return "\n".join(lines) or "no rules: every rated destination is allowed, high-risk types and ranges refused"
        kind = {"allow-country": "allow_country", "allow-prefix": "allow_prefix", "deny-prefix": "deny_prefix",
                "allow-type": "allow_type", "allow-range": "allow_range"}[args.command]
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


    if args.max_call_minutes is not None:
        await policy.set_operator_limit(db, name="max_call_seconds", value=args.max_call_minutes * 60 or None)
    if args.max_call_cost is not None:
        try:
            cost = money.parse_amount(args.max_call_cost, "USD")
        except money.MoneyError as exc:
            raise CommandError(str(exc)) from None
        await policy.set_operator_limit(db, name="max_call_cost", value=cost or None)
    return ", ".join(f"{k} {v}" for k, v in sorted((await policy.read_operator_limits(db)).items())) or "no limits"


_RISKY_TYPES = ", ".join(policy.GUARDED_TYPES.values())


def register(groups) -> None:
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
                          ("allow-type", f"allow a high-risk number type: {_RISKY_TYPES}"),
                          ("allow-range", "allow high-risk numbers starting so (e.g. 881), restricting nothing")]:
        rule = policy.add_parser(name, help=meaning)
        rule.add_argument("value")
        rule.add_argument("--account", help="for one account (default: every account)")
        rule.add_argument("--remove", action="store_true")
        rule.set_defaults(run_db=cmd_policy)
    policy_limits = policy.add_parser("limits", help="operator-wide limits on one call")
    policy_limits.add_argument("--max-call-minutes", type=int)
    policy_limits.add_argument("--max-call-cost")
    policy_limits.set_defaults(run_db=cmd_policy_limits)
