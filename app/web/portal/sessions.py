"""Subscriber sessions for the portal: the web kit's signed cookie (app/web/kit/sessions.py), naming an account.

Its cookie is sent to the whole site (the portal is at /), lax so that a link
from elsewhere lands signed in; the admin's cookie is apart
(app/web/admin/sessions.py).
"""

from __future__ import annotations

from app.data import login_sessions
from app.web.kit import csrf
from app.web.kit.sessions import CookieScheme


async def _account(db, *, token: str, who: int):
    return await login_sessions.account_of(db, token=token, account_id=who)


SCHEME = CookieScheme(cookie="cbp_session", salt="portal-session", max_age_seconds=12 * 3600, samesite="lax",
                      path="/", path_under_root=False, key="a", kind=int, owner_column="account_id",
                      identify=lambda account: account["id"], find=_account)
COOKIE = SCHEME.cookie
MAX_AGE_SECONDS = SCHEME.max_age_seconds
CSRF_FIELD = csrf.FIELD
log_in, log_out = SCHEME.log_in, SCHEME.log_out
