"""`callback-platform`: the operator's command line (the commands live in app/cli/commands/)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from dialer import cli as dialer
from app.cli.commands import CommandError, accounts, numbers, rates, resellers, routes, system, vouchers
from app.data.db import make_database
from app.core.settings import Settings, load_settings


async def _with_db(settings: Settings, work):
    db = make_database(settings)
    await db.connect()
    try:
        return await work(db)
    finally:
        await db.disconnect()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callback-platform", description="Callback platform operator commands")
    groups = parser.add_subparsers(dest="group", required=True)
    for module in (system, accounts, numbers, rates, routes, resellers, vouchers):
        module.register(groups)
    dialer.add_commands(groups)
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


if __name__ == "__main__":
    sys.exit(main())
