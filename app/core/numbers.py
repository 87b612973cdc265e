"""Whole numbers read from text people or clients send (a query, a form field, a header).

str.isdigit() is true of "²", "①" and "٣", which int() refuses or reads as another
number: everything that turns such text into an int goes through `ascii_int`.
"""

from __future__ import annotations


def ascii_int(text: str | None, *, max_digits: int = 18) -> int | None:
    """The non-negative integer written in ASCII digits 0-9 only (at most `max_digits` of them), else None."""
    if not text or len(text) > max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)
