"""The CSRF token every form carries: one per session, new at every login and logout."""

from __future__ import annotations

import secrets

from app.core import security

FIELD = "csrf"  # the form field (and the templates' `csrf_field`)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def matches(expected: str, submitted: str | None) -> bool:
    return bool(submitted) and security.same_secret(expected, str(submitted))
