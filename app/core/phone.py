"""Phone numbers: parsing to E.164 with `phonenumbers`, and caller-ID checks."""

from __future__ import annotations

import functools

import phonenumbers

# What carriers put in From when the caller withheld their number.
_WITHHELD = {"", "anonymous", "restricted", "unknown", "private", "blocked", "unavailable", "+266696687", "266696687"}
MAX_NUMBER_LENGTH = 32


class InvalidNumber(ValueError):
    pass


# How many numbers each cache of a number's readings keeps per process: the same numbers come back all day,
# and a process meeting new ones all day (every caller a stranger) stays at the same size.
NUMBERS_REMEMBERED = 1_024


# Parsing takes a good part of a webhook's time, and the same numbers come back all day.
@functools.lru_cache(maxsize=NUMBERS_REMEMBERED)
def parsed_international(number: str) -> phonenumbers.PhoneNumber | None:
    """`+<digits>` parsed once per process however many checks read it (the trigger's caller is
    normalized, its region looked up, its risk assessed); None if it does not parse."""
    try:
        return phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None


@functools.lru_cache(maxsize=NUMBERS_REMEMBERED)
def region_of(number: str) -> str | None:
    """The region (ISO country) of `+<digits>`, worked out once per process: for a number of the North
    American plan `phonenumbers` tries each of its two dozen countries in turn, and validity, the
    country, the tariff and the policy each ask."""
    parsed = parsed_international(number)
    return phonenumbers.region_code_for_number(parsed) if parsed is not None else None


def _valid(parsed: phonenumbers.PhoneNumber, international: str | None) -> bool:
    # `is_valid_number` is `is_valid_number_for_region` of the number's own region, which it works out
    # anew each time: give it the region worked out once.
    if international is None:
        return phonenumbers.is_valid_number(parsed)
    return phonenumbers.is_valid_number_for_region(parsed, region_of(international))


@functools.lru_cache(maxsize=NUMBERS_REMEMBERED)
def to_e164(raw: str | None, region: str = "US") -> str:
    """Normalize what a person typed or a carrier sent to E.164.

    Accepts `+` numbers, national numbers in `region`, and the `00` / `011`
    international prefixes typed on a keypad. Raises InvalidNumber.
    """
    text = (raw or "").strip()
    if not text or len(text) > MAX_NUMBER_LENGTH:
        raise InvalidNumber("empty or too long")
    digits = "".join(ch for ch in text if ch.isdigit() and ch.isascii())
    if not digits:
        raise InvalidNumber("no digits")
    if text.startswith("+"):
        candidates = ["+" + digits]
    else:
        # The region's own reading first (phonenumbers knows each country's exit
        # code: 011 leaves the US, but 0113 is a Leeds number), then 00 / 011 as
        # international prefixes for travellers typing what they type at home.
        candidates = [digits] + ["+" + digits[len(idd):] for idd in ("00", "011")
                                 if digits.startswith(idd) and len(digits) - len(idd) >= 7]
    for candidate in candidates:
        if candidate.startswith("+"):
            parsed = parsed_international(candidate)
        else:
            try:
                parsed = phonenumbers.parse(candidate, region.upper())
            except phonenumbers.NumberParseException:
                parsed = None
        if parsed is not None and _valid(parsed, candidate if candidate.startswith("+") else None):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidNumber("not a valid number")


def usable_caller_id(raw: str | None) -> str | None:
    """The caller's E.164 number, or None when it is withheld or unusable."""
    text = (raw or "").strip()
    if text.lower() in _WITHHELD or not text.startswith("+"):
        return None
    try:
        return to_e164(text)
    except InvalidNumber:
        return None


def nanp_region(number: str) -> str | None:
    """The country of a North American Numbering Plan number (E.164, '+' optional): 'US', 'JM'...;
    None for a number outside the plan or of no known country. The area code tells them apart."""
    digits = number.lstrip("+")
    if not digits.startswith("1"):
        return None
    return region_of("+" + digits) or None
