"""Secrets at rest: passwords (argon2), PINs (keyed HMAC), API tokens (SHA-256)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the login is unknown, so a failed login by an unknown
# name costs the same time as one with a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password")

# Argon2 is made to be slow (tens of milliseconds and megabytes a hash): it runs on these threads,
# never on the event loop, and no more of them at once than there are workers, so a flood of logins
# waits its turn instead of stalling every other request.
PASSWORD_WORKERS = 2
_workers = ThreadPoolExecutor(max_workers=PASSWORD_WORKERS, thread_name_prefix="passwords")

PIN_PATTERN = re.compile(r"^[0-9]{4,12}$")
DEFAULT_MIN_PIN_LENGTH = 6
# PINs the platform draws for subscribers (the portal): longer than the minimum, since a bare
# PIN is an account key in PIN mode and every extra digit makes a guess ten times less likely to hit.
GENERATED_PIN_LENGTH = max(DEFAULT_MIN_PIN_LENGTH, 8)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_async(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_workers, hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    # The module's verify_password is looked up at each call (tests count the calls).
    return await asyncio.get_running_loop().run_in_executor(_workers, verify_password, password_hash, password)


def pin_problem(pin: str, min_length: int = DEFAULT_MIN_PIN_LENGTH) -> str | None:
    if not PIN_PATTERN.match(pin or ""):
        return "a PIN is 4 to 12 digits"
    if len(pin) < min_length:
        return f"a PIN has at least {min_length} digits"
    return None


def random_pin(length: int = GENERATED_PIN_LENGTH) -> str:
    return f"{secrets.randbelow(10 ** length):0{length}d}"


def pin_digest(secret_key: str, pin: str) -> str:
    # PINs have little entropy; keying the hash with the server secret means a
    # stolen database alone does not give them away by brute force.
    return hmac.new(secret_key.encode(), b"pin:" + pin.encode(), hashlib.sha256).hexdigest()


def new_api_token() -> str:
    return "cbp_" + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(expected: str, offered: str) -> bool:
    """Constant-time equality of two texts, whatever characters `offered` holds.

    hmac.compare_digest raises TypeError on a str that is not ASCII: compared as
    UTF-8 bytes (lone surrogates too), a stray character is a mismatch, not a 500.
    """
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), offered.encode("utf-8", "surrogatepass"))


def new_secret_key() -> str:
    return secrets.token_urlsafe(48)
