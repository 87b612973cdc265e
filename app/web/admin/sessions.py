"""Operator sessions for the admin pages: the web kit's signed cookie (app/web/kit/sessions.py), naming an operator.

The cookie's name, its salt and its path are the admin's own, so a
subscriber's cookie never opens /admin (it is not even read there, and copied
into the admin cookie its signature does not verify), and an operator's
cookie is never sent to the portal. It is strict: no link from elsewhere
arrives signed in. Its token names a row of app/data/login_sessions.py, as
the portal's does: signing out ends it server-side.
"""

from __future__ import annotations

from app.data import login_sessions
from app.web.kit import csrf
from app.web.kit.sessions import CookieScheme


async def _operator(db, *, token: str, who: str):
    return await login_sessions.operator_of(db, token=token, login=who)


SCHEME = CookieScheme(cookie="cbp_admin", salt="admin-session", max_age_seconds=8 * 3600, samesite="strict",
                      path="/admin", path_under_root=True, key="o", kind=str, owner_column="operator_id",
                      identify=lambda operator: operator["login"], find=_operator)
COOKIE = SCHEME.cookie
PATH = SCHEME.path
MAX_AGE_SECONDS = SCHEME.max_age_seconds
CSRF_FIELD = csrf.FIELD
log_in, log_out = SCHEME.log_in, SCHEME.log_out
