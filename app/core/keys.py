"""Keys (idempotency keys, requester keys) stored in columns of a fixed length."""

from __future__ import annotations

import base64
import hashlib


def stored_key(key: str | None, limit: int) -> str:
    """`key` as a column of `limit` characters holds it: whole when it fits, else the start of it, "#" and a
    digest of the whole. Never cut short: two keys sharing their first `limit` characters (a long gateway
    name, a long login) stay two keys, and the same key is always stored the same way."""
    key = key or ""
    if len(key) <= limit and "\x00" not in key:  # PostgreSQL refuses NUL characters
        return key
    digest = base64.urlsafe_b64encode(hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()).decode()
    digest = digest.rstrip("=")[:limit - 8]  # 43 characters (256 bits) in 64; 24 (144 bits) in 32
    return key.replace("\x00", "")[:limit - len(digest) - 1] + "#" + digest
