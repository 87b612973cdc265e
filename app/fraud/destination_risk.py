"""High-risk destinations, refused by default: the list the destination policy starts from.

International revenue-share fraud (IRSF) works by getting a platform to call
numbers whose termination fees are shared with whoever rents them. The numbers
it uses are of a few kinds, kept here so there is one list to maintain:

- number types (from `phonenumbers`) priced above a normal call, or that
  forward anywhere at the caller's cost;
- number ranges outside any country's tariff: ITU non-geographic codes, and
  ranges numbered inside a country code but priced as somewhere else.

The operator extends the list with `deny_prefix` rules, and lets through what
it knows to be safe with `allow_type` (a type below) or `allow_range` (a
prefix; an `allow_prefix` at least as long as a range does the same), at
operator level or for one account (see app/fraud/policy.py).
"""

from __future__ import annotations

import phonenumbers

# The NANP own-rate rule (a Caribbean number needs a rate naming its area code) is the
# tariff's, kept with the rates it applies to; named here too, with the other risks.
from app.core.tariff import NANP_OWN_RATE_DIGITS, NANP_PRICED_AS_ONE, needs_own_rate  # noqa: F401

_TYPE = phonenumbers.PhoneNumberType

# Not here, on purpose: UAN (in most plans a business number at a geographic
# rate, UK 03...) and VOIP (ordinary subscriber lines); an operator who sees
# fraud on them denies their prefixes.
RISKY_TYPES = {
    _TYPE.PREMIUM_RATE: "premium_rate",  # the classic revenue-share target
    _TYPE.SHARED_COST: "shared_cost",
    # "Follow-me" numbers (UK +44 70) that forward anywhere at a premium the
    # renter is paid part of; long a favourite of call-pumping schemes.
    _TYPE.PERSONAL_NUMBER: "personal_number",
    _TYPE.PAGER: "pager",  # nobody rings a pager from a callback; priced at premium rates
}

# Prefixes (digits after '+') and what they are.
RISKY_RANGES = {
    # ITU non-geographic codes: satellite and international networks, charged
    # at several dollars a minute and sold in blocks to anyone.
    "870": "satellite (Inmarsat)",
    "881": "satellite (global mobile satellite systems)",
    "882": "international networks",
    "883": "international networks",
    "878": "universal personal telecommunications",
    "979": "international premium rate",
    "808": "international shared cost",
    "888": "international humanitarian networks",
    "991": "international trial services",
    # Abkhazia, numbered inside Russia's +7 but terminated at many times a
    # Russian rate: a long-standing revenue-share destination.
    "7840": "Abkhazia",
    "7940": "Abkhazia",
}


def risky_type(parsed: phonenumbers.PhoneNumber) -> str | None:
    return RISKY_TYPES.get(phonenumbers.number_type(parsed))


def risky_range(digits: str) -> str | None:
    """The blocked range `digits` (E.164 without '+') falls in, or None."""
    for length in range(1, min(len(digits), 4) + 1):
        if digits[:length] in RISKY_RANGES:
            return digits[:length]
    return None

