"""Phone numbers: parsing to E.164 with `phonenumbers`, and caller-ID checks."""

from __future__ import annotations

import phonenumbers

# What carriers put in From when the caller withheld their number.
_WITHHELD = {"", "anonymous", "restricted", "unknown", "private", "blocked", "unavailable", "+266696687", "266696687"}
MAX_NUMBER_LENGTH = 32


class InvalidNumber(ValueError):
    pass


def to_e164(raw: str | None, region: str = "US") -> str:
    """Normalize what a person typed or a carrier sent to E.164.

    Accepts `+` numbers, national numbers in `region`, and the `00` / `011`
    international prefixes typed on a keypad. Raises InvalidNumber.
    """
    text = (raw or "").strip()
    if not text or len(text) > MAX_NUMBER_LENGTH:
        raise InvalidNumber("empty or too long")
    digits = "".join(ch for ch in text if ch.isdigit() and ch.isascii())
    if text.startswith("+"):
        candidate = "+" + digits
    elif digits.startswith("011") and len(digits) > 6:
        candidate = "+" + digits[3:]
    elif digits.startswith("00") and len(digits) > 6:
        candidate = "+" + digits[2:]
    else:
        candidate = digits
    if not candidate.strip("+"):
        raise InvalidNumber("no digits")
    try:
        parsed = phonenumbers.parse(candidate, region.upper() if candidate[0] != "+" else None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(str(exc)) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber("not a valid number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def usable_caller_id(raw: str | None) -> str | None:
    """The caller's E.164 number, or None when it is withheld or unusable."""
    text = (raw or "").strip()
    if text.lower() in _WITHHELD or not text.startswith("+"):
        return None
    try:
        return to_e164(text)
    except InvalidNumber:
        return None


def spoken_digits(number: str) -> str:
    """'+14155550100' -> '1 4 1 5 ...' so text-to-speech reads digits, not a quantity."""
    return " ".join(ch for ch in number if ch.isdigit())
