"""Subscriber accounts: create, ANIs, top-ups, settings, lockouts, API tokens."""

from __future__ import annotations

from app.data import accounts, operators
from app.calls import topups
from app.fraud import lockouts
from app.core import money, schedule, security
from app.cli.commands import CommandError, account_by_login, parse_number
from app.data.instance import resolve_secret_key
from app.core.settings import Settings


def _time_zone(name: str) -> str:
    if not schedule.valid_time_zone(name):
        raise CommandError("--time-zone is an IANA time zone name such as Europe/Paris or America/New_York")
    return name


async def cmd_account_create(settings: Settings, args, db) -> str:
    country = args.country.upper()
    if len(country) != 2 or not country.isalpha():
        raise CommandError("--country is a two-letter ISO code such as US")
    if not args.login or len(args.login) > 64 or not args.login.isprintable() or " " in args.login:
        raise CommandError("a login is 1 to 64 printable characters without spaces")
    if len(args.password) < 8:
        raise CommandError("a password has at least 8 characters")
    if args.pin is not None and (problem := security.pin_problem(args.pin, settings.pin_min_length)):
        raise CommandError(problem)
    default_number = parse_number(args.default_number, country) if args.default_number else None
    currency = args.currency.upper()
    try:
        balance = money.parse_amount(args.balance, currency)
    except money.MoneyError as exc:
        raise CommandError(str(exc)) from None
    time_zone = _time_zone(args.time_zone)
    secret_key = await resolve_secret_key(db, settings)
    try:
        account_id = await accounts.create_account(
            db, secret_key=secret_key, login=args.login, password=args.password, pin=args.pin,
            default_number=default_number, balance=balance, currency=currency, country=country,
            language=args.language.lower(),
        )
    except accounts.AccountError as exc:
        raise CommandError(str(exc)) from None
    if time_zone != schedule.DEFAULT_TIME_ZONE:
        await accounts.update_account(db, account_id=account_id, time_zone=time_zone)
    return f"account {args.login} created, balance {money.format_amount(balance, currency)} {currency}"


async def cmd_account_add_ani(settings: Settings, args, db) -> str:
    account = await account_by_login(db, args.login)
    number = parse_number(args.number, account["country"])
    try:
        await accounts.add_ani(db, account_id=account["id"], number=number)
    except accounts.AccountError as exc:
        raise CommandError(str(exc)) from None
    return f"{number} registered to {args.login}"


async def cmd_account_topup(settings: Settings, args, db) -> str:
    account = await account_by_login(db, args.login)
    try:
        amount = money.parse_amount(args.amount, account["currency"])
    except money.MoneyError as exc:
        raise CommandError(str(exc)) from None
    if amount <= 0:
        raise CommandError("a top-up is a positive amount")
    balance = await topups.change_balance(db, settings, account=account, amount=amount, actor="cli", note=args.note)
    return f"{args.login} balance {money.format_amount(balance, account['currency'])} {account['currency']}"


async def cmd_account_set(settings: Settings, args, db) -> str:
    account = await account_by_login(db, args.login)
    changes = {}
    if args.confirm_mode is not None:
        changes["confirm_mode"] = args.confirm_mode
    if args.language is not None:
        changes["language"] = args.language.lower()
    if args.time_zone is not None:
        changes["time_zone"] = _time_zone(args.time_zone)
    if args.default_number is not None:
        changes["default_number"] = parse_number(args.default_number, account["country"]) if args.default_number else None
    if args.retry_attempts is not None:
        if not 0 <= args.retry_attempts <= 5:
            raise CommandError("--retry-attempts is 0 to 5")
        changes["retry_attempts"] = args.retry_attempts
    if args.status is not None:
        changes["status"] = args.status
    if args.caller_id is not None:
        changes["caller_id_mode"] = args.caller_id
    if args.record_calls is not None:
        changes["record_calls"] = args.record_calls == "on"
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
    if args.low_balance is not None:
        try:
            changes["low_balance_threshold"] = money.parse_amount(args.low_balance, account["currency"]) or None
        except money.MoneyError as exc:
            raise CommandError(str(exc)) from None
        # A new threshold re-arms the notice (app/calls/low_balance.py).
        changes["low_balance_noticed"] = False
    if not changes:
        raise CommandError("nothing to change: give at least one option")
    await accounts.update_account(db, account_id=account["id"], **changes)
    return f"{args.login}: " + ", ".join(f"{key.replace('_', '-')} {value}" for key, value in changes.items())


async def cmd_account_unlock(settings: Settings, args, db) -> str:
    account = await account_by_login(db, args.login)
    cleared = await lockouts.clear(db, account_id=account["id"])
    return f"{args.login} unlocked ({cleared} failed attempts cleared)"


async def cmd_operator_create(settings: Settings, args, db) -> str:
    if len(args.password) < 10:
        raise CommandError("an operator password has at least 10 characters")
    try:
        await operators.create_operator(db, login=args.login, password=args.password)
    except operators.OperatorError as exc:
        raise CommandError(str(exc)) from None
    return f"operator {args.login} created; sign in at /admin"


async def cmd_lockouts(settings: Settings, args, db) -> str:
    rows = await lockouts.recent(db)
    return "\n".join(f"{row['requester']}\taccount #{row['account_id'] or '-'}\t{row['failures']} failures"
                     + ("\tLOCKED" if row["failures"] >= lockouts.MAX_FAILURES else "")
                     for row in rows) or "no failed authorizations in the last hour"


TOKEN_SCOPES = ("account", "topup")


async def cmd_token_create(settings: Settings, args, db) -> str:
    scopes = list(dict.fromkeys(args.scope or ["account"]))
    if args.operator:
        if args.login is not None:
            raise CommandError("an operator's token belongs to no account: give --operator or a LOGIN, not both")
        if "account" in scopes:
            raise CommandError("an operator's token has no account to act as: give it --scope topup")
        return await accounts.create_token(db, account_id=None, name=args.name, scopes=" ".join(scopes))
    if args.login is None:
        raise CommandError("give the LOGIN of the account the token is for (or --operator)")
    account = await account_by_login(db, args.login)
    return await accounts.create_token(db, account_id=account["id"], name=args.name, scopes=" ".join(scopes))


async def cmd_token_list(settings: Settings, args, db) -> str:
    account_id = (await account_by_login(db, args.login))["id"] if args.login else None
    rows = await accounts.all_tokens(db, account_id=account_id, operator=args.operator)
    return "\n".join(
        f"{row['id']}\t{row['login'] or '(operator)'}\t{row['scopes']}\t{row['name'] or '-'}\t"
        f"created {row['created_at']:%Y-%m-%d}\t"
        + (f"revoked {row['revoked_at']:%Y-%m-%d}" if row["revoked_at"] else
           f"last used {row['last_used_at']:%Y-%m-%d %H:%M}" if row["last_used_at"] else "never used")
        for row in rows) or "no tokens"


async def cmd_token_revoke(settings: Settings, args, db) -> str:
    if not await accounts.revoke_any_token(db, token_id=args.id):
        raise CommandError(f"no live token with id {args.id}")
    return f"token {args.id} revoked"


def register(groups) -> None:
    operator = groups.add_parser("operator", help="operator logins for /admin").add_subparsers(
        dest="command", required=True)
    operator_create = operator.add_parser("create", help="create an operator login")
    operator_create.add_argument("login")
    operator_create.add_argument("--password", required=True)
    operator_create.set_defaults(run_db=cmd_operator_create)

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
    create.add_argument("--time-zone", default="UTC", help="IANA name, for scheduled callbacks (Europe/Paris)")
    create.set_defaults(run_db=cmd_account_create)
    add_ani = account.add_parser("add-ani", help="register a caller ID (ANI) to an account")
    add_ani.add_argument("login")
    add_ani.add_argument("number")
    add_ani.set_defaults(run_db=cmd_account_add_ani)
    topup = account.add_parser("topup", help="add credit")
    topup.add_argument("login")
    topup.add_argument("amount")
    topup.add_argument("--note", default="", help="why, for the audit trail")
    topup.set_defaults(run_db=cmd_account_topup)

    change = account.add_parser("set", help="change an account's settings")
    change.add_argument("login")
    change.add_argument("--confirm-mode", choices=["none", "press1", "amd"],
                        help="one-stage calls: how to make sure a person answered before dialling")
    change.add_argument("--language")
    change.add_argument("--time-zone", help="IANA name, for scheduled callbacks (Europe/Paris)")
    change.add_argument("--default-number", help="empty to remove")
    change.add_argument("--retry-attempts", type=int)
    change.add_argument("--status", choices=["active", "blocked"])
    change.add_argument("--caller-id", choices=["service", "subscriber", "withheld"],
                        help="what the second party sees calling")
    change.add_argument("--record-calls", choices=["on", "off"],
                        help="record second-party calls (both parties are told); off by default")
    change.add_argument("--tariff", help="rate table for the second party")
    change.add_argument("--callback-tariff", help="rate table for the callback leg")
    change.add_argument("--max-concurrent", type=int, help="callbacks in progress at once")
    change.add_argument("--max-call-minutes", type=int, help="longest call; 0 for the operator's limit")
    change.add_argument("--max-call-cost", help="most a call may cost; 0 for the operator's limit")
    change.add_argument("--low-balance", help="text the subscriber when the balance falls below this; 0 for never")
    change.set_defaults(run_db=cmd_account_set)
    unlock = account.add_parser("unlock", help="clear an account's failed-PIN/password lockout")
    unlock.add_argument("login")
    unlock.set_defaults(run_db=cmd_account_unlock)

    groups.add_parser("lockouts", help="failed PINs/passwords of the last hour").set_defaults(run_db=cmd_lockouts)

    token = groups.add_parser("token", help="API tokens").add_subparsers(dest="command", required=True)
    token_create = token.add_parser("create", help="create an API token (shown once)")
    token_create.add_argument("login", nargs="?")
    token_create.add_argument("--name", default="")
    token_create.add_argument("--scope", action="append", choices=TOKEN_SCOPES,
                              help="what it may do (repeatable): account (default) and/or topup")
    token_create.add_argument("--operator", action="store_true",
                              help="an operator's token, for no account: with --scope topup, tops up any account")
    token_create.set_defaults(run_db=cmd_token_create)
    token_list = token.add_parser("list", help="tokens (never the secrets): id, account, scopes, name, use")
    token_list.add_argument("login", nargs="?")
    token_list.add_argument("--operator", action="store_true", help="only the operator's own tokens")
    token_list.set_defaults(run_db=cmd_token_list)
    token_revoke = token.add_parser("revoke", help="revoke a token by its id (from token list)")
    token_revoke.add_argument("id", type=int)
    token_revoke.set_defaults(run_db=cmd_token_revoke)
