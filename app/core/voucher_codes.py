"""Voucher codes: 14 digits, the last a Luhn check digit, typed on a keypad or in a text.

Pure: drawing a code (`secrets`), reading what someone typed (spaces and dashes
ignored), the check digit, and the keyed digest under which a code is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

LENGTH = 14
MAX_PREFIX = 6  # leaves at least 7 random digits (10**7 codes) in every batch
MAX_TYPED = 40  # longer than any way of typing 14 digits with spaces and dashes


def luhn_digit(body: str) -> str:
    """The check digit that makes `body` + digit pass the Luhn check."""
    total = 0
    for index, ch in enumerate(reversed(body)):
        digit = int(ch)
        if index % 2 == 0:  # every second digit from the right, counting the check digit as the first
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def new_code(prefix: str = "") -> str:
    random_length = LENGTH - 1 - len(prefix)
    body = prefix + f"{secrets.randbelow(10 ** random_length):0{random_length}d}"
    return body + luhn_digit(body)


def prefix_problem(prefix: str) -> str | None:
    if prefix and not (prefix.isascii() and prefix.isdigit() and len(prefix) <= MAX_PREFIX):
        return f"a voucher prefix is 1 to {MAX_PREFIX} digits"
    return None


def read(typed: str | None) -> str | None:
    """The 14 digits of a typed code, or None if it cannot be one (wrong length, bad check digit).

    A code that fails its check digit was mistyped; it is refused like any unknown code.
    """
    if not isinstance(typed, str) or len(typed) > MAX_TYPED:
        return None
    digits = "".join(ch for ch in typed if ch not in " -")
    if len(digits) != LENGTH or not (digits.isascii() and digits.isdigit()):
        return None
    return digits if luhn_digit(digits[:-1]) == digits[-1] else None


def digest(secret_key: str, code: str) -> str:
    # Keyed like PINs (app/core/security.py): a copy of the database alone cannot be searched for codes.
    return hmac.new(secret_key.encode(), b"voucher:" + code.encode(), hashlib.sha256).hexdigest()


def grouped(code: str) -> str:
    """'12345678901234' -> '1234 5678 9012 34', as printed on a card."""
    return " ".join(code[i:i + 4] for i in range(0, len(code), 4))
