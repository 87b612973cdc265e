"""Checking what an operator typed into the admin forms, with the helpers and limits the CLI uses.

Each function takes the raw form text and returns the clean value, or raises
FormError with a sentence the page shows next to the form.
"""

from __future__ import annotations

import datetime as dt

from app.billing import pricing as billing
from app.core import money, schedule, security
from app.core.phone import InvalidNumber, to_e164
from app.core.numbers import ascii_int
from app.data.service_numbers import MODES
from twiml.prompts import PROMPTS

CONFIRM_MODES = ("none", "press1", "amd")
CALLER_ID_MODES = ("service", "subscriber", "withheld")
RECORD_CALLS = ("off", "on")
STATUSES = ("active", "blocked")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_NOTE = 255


class FormError(ValueError):
    pass


def login_name(raw: str) -> str:
    if not raw or len(raw) > 64 or not raw.isprintable() or " " in raw:
        raise FormError("A login is 1 to 64 printable characters without spaces.")
    return raw


def password(raw: str) -> str:
    if not MIN_PASSWORD <= len(raw) <= MAX_PASSWORD:
        raise FormError(f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters.")
    return raw


def pin(raw: str, min_length: int = security.DEFAULT_MIN_PIN_LENGTH) -> str:
    problem = security.pin_problem(raw, min_length)
    if problem:
        raise FormError(problem[:1].upper() + problem[1:] + ".")
    return raw


def country(raw: str) -> str:
    value = raw.strip().upper()
    if len(value) != 2 or not value.isalpha() or not value.isascii():
        raise FormError("A country is a two-letter ISO code such as US.")
    return value


def currency(raw: str) -> str:
    value = raw.strip().upper()
    if len(value) != 3 or not value.isalpha() or not value.isascii():
        raise FormError("A currency is a three-letter ISO code such as USD.")
    return value


def languages(current: str | None = None) -> list[str]:
    return sorted(set(PROMPTS) | ({current} if current else set()))


def language(raw: str, current: str | None = None) -> str:
    value = raw.strip().lower()
    if value not in languages(current):
        raise FormError("Choose a language from the list.")
    return value


def phone_number(raw: str, region: str = "US", what: str = "The number") -> str:
    try:
        return to_e164(raw, region)
    except InvalidNumber:
        raise FormError(f"{what} is not a valid phone number.") from None


def amount(raw: str, currency_code: str, what: str = "The amount") -> int:
    if not raw.strip():
        raise FormError(f"{what} is missing.")
    try:
        return money.parse_amount(raw, currency_code)
    except money.MoneyError as exc:
        raise FormError(f"{what}: {exc}.") from None


def price(raw: str, what: str = "The price") -> int:
    try:
        return money.parse_price(raw)
    except money.MoneyError as exc:
        raise FormError(f"{what}: {exc}.") from None


def increment(raw: str) -> tuple[int, int]:
    try:
        return billing.parse_increment(raw.strip() or "60/60")
    except money.MoneyError as exc:
        raise FormError(f"The increment: {exc}.") from None


def tariff(raw: str, what: str = "A tariff") -> str:
    value = raw.strip()
    if not value or len(value) > 32 or not value.isprintable():
        raise FormError(f"{what} is a name of 1 to 32 characters.")
    return value


def choice(raw: str, options, what: str) -> str:
    if raw not in options:
        raise FormError(f"{what} is one of {', '.join(options)}.")
    return raw


def whole_number(raw: str, low: int, high: int, what: str) -> int:
    value = raw.strip()
    number = ascii_int(value, max_digits=9)
    if number is None or not low <= number <= high:
        raise FormError(f"{what} is a whole number from {low} to {high}.")
    return number


def day(raw: str, what: str) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise FormError(f"{what} is a date like 2024-05-31.") from None


def note(raw: str) -> str:
    value = " ".join(raw.split())
    if len(value) > MAX_NOTE or not value.isprintable():
        raise FormError(f"A note is up to {MAX_NOTE} characters.")
    return value


def number_mode(raw: str) -> str:
    return choice(raw, MODES, "A mode")


# Whole forms ---------------------------------------------------------------


def new_account(form: dict[str, str], *, pin_min_length: int = security.DEFAULT_MIN_PIN_LENGTH) -> dict:
    """The keyword arguments of `accounts.create_account` (less the secret key), as `account create` checks them."""
    region = country(form.get("country", "") or "US")
    code = currency(form.get("currency", "") or "USD")
    raw_pin = form.get("pin", "").strip()
    raw_default = form.get("default_number", "").strip()
    return {
        "login": login_name(form.get("login", "").strip()),
        "password": password(form.get("password", "")),
        "pin": pin(raw_pin, pin_min_length) if raw_pin else None,
        "default_number": phone_number(raw_default, region, "The default number") if raw_default else None,
        "balance": amount(form.get("balance", "").strip() or "0", code, "The balance"),
        "currency": code,
        "country": region,
        "language": language(form.get("language", "") or "en"),
    }


def account_settings(form: dict[str, str], account) -> dict:
    """The columns to change, as `account set` checks them; empty limits mean the operator's limits."""
    raw_default = form.get("default_number", "").strip()
    minutes = form.get("max_call_minutes", "").strip()
    cost = form.get("max_call_cost", "").strip()
    return {
        "confirm_mode": choice(form.get("confirm_mode", ""), CONFIRM_MODES, "The confirmation"),
        "caller_id_mode": choice(form.get("caller_id_mode", ""), CALLER_ID_MODES, "The caller ID"),
        # A form without the field (an older page) leaves the opt-in as it was.
        "record_calls": choice(form.get("record_calls") or ("on" if account["record_calls"] else "off"),
                               RECORD_CALLS, "Call recording") == "on",
        "language": language(form.get("language", ""), account["language"]),
        "time_zone": time_zone(form.get("time_zone", "").strip() or account["time_zone"]),
        "default_number": phone_number(raw_default, account["country"], "The default number") if raw_default else None,
        "tariff": tariff(form.get("tariff", ""), "The tariff"),
        "callback_tariff": tariff(form.get("callback_tariff", ""), "The callback tariff"),
        "retry_attempts": whole_number(form.get("retry_attempts", ""), 0, 5, "Retries"),
        "max_concurrent": whole_number(form.get("max_concurrent", ""), 1, 1000, "Calls at once"),
        "max_call_seconds": whole_number(minutes, 0, 24 * 60, "The longest call in minutes") * 60 or None
        if minutes else None,
        "max_call_cost": limit_amount(cost, account["currency"]) if cost else None,
    }


def time_zone(raw: str) -> str:
    if not schedule.valid_time_zone(raw):
        raise FormError("The time zone is an IANA name such as Europe/Paris.")
    return raw


def limit_amount(raw: str, currency_code: str) -> int | None:
    """The most a call may cost, in minor units; 0 means no limit of its own (None)."""
    value = amount(raw, currency_code, "The most a call may cost")
    if value < 0:
        raise FormError("The most a call may cost cannot be negative.")
    return value or None
