"""The operator's commands, one module per subject; app/cli/main.py assembles them.

Each module has a `register(groups)` that adds its subcommands. A command is
`run(settings, args)`, or `run_db(settings, args, db)` when it needs the
database; it returns the line to print, or raises CommandError.
"""

from __future__ import annotations

from app.data import accounts as account_queries
from app.core.phone import InvalidNumber, to_e164


class CommandError(Exception):
    pass


def parse_number(raw: str, region: str = "US") -> str:
    try:
        return to_e164(raw, region)
    except InvalidNumber:
        raise CommandError(f"{raw!r} is not a valid phone number") from None


async def account_by_login(db, login: str):
    account = await account_queries.get_account_by_login(db, login=login)
    if account is None:
        raise CommandError(f"no account with login {login!r}")
    return account
