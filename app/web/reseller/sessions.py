"""Reseller sessions for /reseller: the web kit's signed cookie, naming a reseller.

A cookie, salt and path of its own, as the admin's: a reseller's cookie opens nothing under /admin or
the portal, and theirs nothing here. Its token names a row of app/data/login_sessions.py.
"""

from __future__ import annotations

from app.data import login_sessions
from app.web.kit.sessions import CookieScheme


async def _reseller(db, *, token: str, who: str):
    return await login_sessions.reseller_of(db, token=token, login=who)


SCHEME = CookieScheme(cookie="cbp_reseller", salt="reseller-session", max_age_seconds=8 * 3600, samesite="strict",
                      path="/reseller", path_under_root=True, key="r", kind=str, owner_column="reseller_id",
                      identify=lambda reseller: reseller["login"], find=_reseller)
