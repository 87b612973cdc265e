"""Per-installation values: the secret key and, without Twilio credentials, the sandbox's."""

from __future__ import annotations

import hashlib
import hmac
import logging

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.core import security
from app.data.db import Database
from app.providers.twilio import Credentials
from app.core.settings import Settings
from app.data.tables import instance_settings

log = logging.getLogger(__name__)


async def resolve_secret_key(db: Database, settings: Settings) -> str:
    """SECRET_KEY, or one generated on first start and kept in the database.

    PIN hashes are keyed with it, so a key that changed on every restart would
    lock every subscriber out; keeping it with the data keeps them valid.
    """
    if settings.secret_key:
        return settings.secret_key
    stored = await db.fetch_val(sa.select(instance_settings.c.value).where(instance_settings.c.key == "secret_key"))
    if stored:
        return stored
    dialect = postgresql if db.is_postgres else sqlite
    await db.execute(
        dialect.insert(instance_settings)
        .values(key="secret_key", value=security.new_secret_key())
        .on_conflict_do_nothing(index_elements=["key"])
    )
    log.warning("SECRET_KEY is not set: using a generated key stored in the database. "
                "Set SECRET_KEY in production so it survives a database restore.")
    # Re-read: another instance may have won the insert.
    return await db.fetch_val(sa.select(instance_settings.c.value).where(instance_settings.c.key == "secret_key"))


def sandbox_auth_token(secret_key: str) -> str:
    # Derived, not stored: the local carrier and the app agree on it without configuration.
    return hmac.new(secret_key.encode(), b"sandbox-auth-token", hashlib.sha256).hexdigest()[:32]


def twilio_credentials(settings: Settings) -> Credentials:
    if not settings.twilio_auth_token:
        # An empty key would accept webhooks signed with it (settings.check refuses this earlier).
        raise SystemExit("TWILIO_AUTH_TOKEN is required with TWILIO_ACCOUNT_SID")
    return Credentials(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_base)
