"""Vouchers and PIN cards: batches made by the operator, printed once as CSV.

The CSV goes to standard output (`... > codes.csv`) and a summary line to standard
error, so the file holds nothing else. The codes and PINs are stored hashed: this
output is the only time they are ever shown.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys

from app.core import money, voucher_codes
from app.cli.commands import CommandError
from app.core.settings import Settings
from app.data import cards, vouchers
from app.data.db import utcnow
from app.data.instance import resolve_secret_key


def _currency(raw: str) -> str:
    currency = raw.upper()
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        raise CommandError("--currency is a three-letter ISO code such as USD")
    return currency


def _amount(raw: str, currency: str, option: str) -> int:
    try:
        amount = money.parse_amount(raw, currency)
    except money.MoneyError as exc:
        raise CommandError(str(exc)) from None
    if amount <= 0:
        raise CommandError(f"{option} is a positive amount")
    return amount


def expiry(raw: str | None, today: dt.date) -> dt.datetime | None:
    """--expires DATE: valid through the end of that day, UTC, so it ends at the next midnight."""
    if raw is None:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise CommandError("--expires is a date such as 2027-06-30") from None
    if day < today:
        raise CommandError(f"--expires {raw} is in the past")
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


def _csv(header: list[str], rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().rstrip("\n")


async def cmd_voucher_batch_create(settings: Settings, args, db) -> str:
    if not 1 <= args.count <= vouchers.MAX_BATCH:
        raise CommandError(f"--count is 1 to {vouchers.MAX_BATCH}")
    currency = _currency(args.currency)
    value = _amount(args.value, currency, "--value")
    if problem := voucher_codes.prefix_problem(args.prefix):
        raise CommandError(problem)
    expires_at = expiry(args.expires, utcnow().date())
    try:
        batch_id, codes = await vouchers.create_batch(
            db, secret_key=await resolve_secret_key(db, settings), count=args.count, value=value, currency=currency,
            prefix=args.prefix, expires_at=expires_at)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    print(f"voucher batch #{batch_id}: {len(codes)} codes of {money.format_amount(value, currency)} {currency}; "
          "keep this output, the codes are not shown again", file=sys.stderr)
    shown = money.format_amount(value, currency)
    return _csv(["code", "value", "currency", "expires"],
                [[code, shown, currency, args.expires or ""] for code in codes])


async def cmd_voucher_batch_disable(settings: Settings, args, db) -> str:
    if await vouchers.get_batch(db, batch_id=args.batch) is None:
        raise CommandError(f"no voucher batch #{args.batch}")
    if not await vouchers.disable_batch(db, batch_id=args.batch):
        return f"voucher batch #{args.batch} was already disabled"
    return f"voucher batch #{args.batch} disabled: its unredeemed codes are refused"


async def cmd_voucher_batch_list(settings: Settings, args, db) -> str:
    rows = await vouchers.list_batches(db)
    return "\n".join(
        f"#{row['id']}\t{row['count']} x {money.format_amount(row['value'], row['currency'])} {row['currency']}"
        f"\t{row['redeemed']} redeemed\texpires {row['expires_at'] or 'never'}"
        + ("\tDISABLED" if row["disabled_at"] else "") for row in rows) or "no voucher batches"


async def cmd_card_batch_create(settings: Settings, args, db) -> str:
    if not 1 <= args.count <= cards.MAX_BATCH:
        raise CommandError(f"--count is 1 to {cards.MAX_BATCH}")
    currency = _currency(args.currency)
    balance = _amount(args.balance, currency, "--balance")
    if args.valid_days is not None and not 1 <= args.valid_days <= 3650:
        raise CommandError("--valid-days is 1 to 3650")
    country = args.country.upper()
    if len(country) != 2 or not country.isalpha():
        raise CommandError("--country is a two-letter ISO code such as US")
    try:
        batch_id, made = await cards.create_batch(
            db, secret_key=await resolve_secret_key(db, settings), count=args.count, balance=balance,
            currency=currency, valid_days=args.valid_days, country=country, language=args.language.lower(),
            pin_length=max(cards.PIN_LENGTH, settings.pin_min_length))
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    print(f"card batch #{batch_id}: {len(made)} PIN cards of {money.format_amount(balance, currency)} {currency}; "
          "keep this output, the PINs are not shown again", file=sys.stderr)
    shown = money.format_amount(balance, currency)
    return _csv(["pin", "balance", "currency", "valid_days", "login"],
                [[pin, shown, currency, args.valid_days or "", login] for login, pin in made])


async def cmd_card_batch_list(settings: Settings, args, db) -> str:
    rows = await cards.list_batches(db)
    return "\n".join(
        f"#{row['id']}\t{row['count']} x {money.format_amount(row['balance'], row['currency'])} {row['currency']}"
        f"\t{row['used']} used\tvalid {row['valid_days'] or 'unlimited'} days from first use"
        for row in rows) or "no card batches"


def register(groups) -> None:
    voucher = groups.add_parser("voucher", help="prepaid voucher codes").add_subparsers(dest="command", required=True)
    batch = voucher.add_parser("batch", help="voucher batches").add_subparsers(dest="action", required=True)
    create = batch.add_parser("create", help="make a batch of codes and print them once as CSV")
    create.add_argument("--count", type=int, required=True)
    create.add_argument("--value", required=True, help="what each code adds to a balance, e.g. 10.00")
    create.add_argument("--currency", default="USD", help="codes credit only accounts of this currency")
    create.add_argument("--expires", help="last valid day (UTC), e.g. 2027-06-30")
    create.add_argument("--prefix", default="", help="up to 6 leading digits of every code")
    create.set_defaults(run_db=cmd_voucher_batch_create)
    listing = batch.add_parser("list", help="voucher batches and how many codes were redeemed")
    listing.set_defaults(run_db=cmd_voucher_batch_list)
    disable = batch.add_parser("disable", help="refuse the batch's unredeemed codes from now on")
    disable.add_argument("batch", type=int)
    disable.set_defaults(run_db=cmd_voucher_batch_disable)

    card = groups.add_parser("card", help="PIN cards (calling cards)").add_subparsers(dest="command", required=True)
    card_batch = card.add_parser("batch", help="PIN card batches").add_subparsers(dest="action", required=True)
    card_create = card_batch.add_parser("create", help="make a batch of PIN cards and print them once as CSV")
    card_create.add_argument("--count", type=int, required=True)
    card_create.add_argument("--balance", required=True, help="each card's starting balance, e.g. 5.00")
    card_create.add_argument("--currency", default="USD")
    card_create.add_argument("--valid-days", type=int, help="a card expires this many days after its first use")
    card_create.add_argument("--country", default="US", help="for numbers dialled without a country code")
    card_create.add_argument("--language", default="en")
    card_create.set_defaults(run_db=cmd_card_batch_create)
    card_list = card_batch.add_parser("list", help="PIN card batches and how many cards are in use")
    card_list.set_defaults(run_db=cmd_card_batch_list)
