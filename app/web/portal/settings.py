"""The portal's settings page: default number, language, time zone, caller IDs, PIN, password, API tokens.

Each form posts to its own path and comes back to the page (a redirect with a
`done` code on success, the page with the form's error otherwise).
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from app.calls import account_requests
from app.data import accounts
from app.fraud import verifications as ani_verifications, lockouts
from app.core import request_origin, schedule, security
from app.web.portal import sessions as portal_sessions
from app.web.portal.pages import Visit, portal_page
from twiml.prompts import PROMPTS

LANGUAGE_NAMES = {"en": "English", "es": "Español", "fr": "Français", "de": "Deutsch", "pt": "Português",
                  "it": "Italiano"}
DONE = {
    "profile": "Your settings were saved.",
    "ani_sent": "A code was texted to the number. Type it below to add the number.",
    "ani_added": "The number is now one of your caller IDs.",
    "ani_removed": "The number was removed.",
    "password": "Your password was changed, and your API tokens were revoked: programs using them are refused "
                "from now on. Create new ones below.",
    "token_revoked": "The token was revoked; programs using it are refused from now on.",
}
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


def languages(current: str) -> list[tuple[str, str]]:
    codes = sorted(set(PROMPTS) | {current})
    return [(code, LANGUAGE_NAMES.get(code, code)) for code in codes]


async def _page(visit: Visit, *, status: int = 200, errors: dict | None = None, new_token: str | None = None,
                new_pin: str | None = None, values: dict | None = None) -> Response:
    p, account = visit.p, visit.account
    done = DONE.get(visit.request.query_params.get("done", ""))
    return visit.render(
        "portal/settings.html", status=status, active="settings", done=done, errors=errors or {},
        values=values or {}, new_token=new_token, new_pin=new_pin,
        anis=await accounts.list_anis(p.db, account_id=account["id"]),
        pending=await ani_verifications.list_pending(p, account_id=account["id"]),
        tokens=await accounts.list_tokens(p.db, account_id=account["id"]),
        languages=languages(account["language"]), max_tokens=accounts.MAX_LIVE_TOKENS,
        retention_days=p.settings.recording_retention_days,
        time_zones=sorted(schedule.time_zones()),
    )


@portal_page()
async def settings_page(visit: Visit) -> Response:
    return await _page(visit)


@portal_page()
async def save_profile(visit: Visit) -> Response:
    account, form = visit.account, visit.form
    raw = form.get("default_number", "").strip()[:40]
    language = form.get("language", "")
    if language not in dict(languages(account["language"])):
        return await _page(visit, status=422, errors={"profile": "Choose a language from the list."})
    time_zone = form.get("time_zone", account["time_zone"]).strip()[:64]
    if not schedule.valid_time_zone(time_zone):
        return await _page(visit, status=422, errors={"profile": "Choose a time zone from the list."})
    default_number = None
    if raw:
        try:
            default_number = account_requests.normalize(raw, account)
        except account_requests.Refused:
            return await _page(visit, status=422, errors={"profile": "The default number is not a valid phone number."},
                               values={"default_number": raw})
    # A number typed here proves nothing: the platform texts it or shows it as caller ID only if it
    # is a verified caller ID (accounts.own_numbers). The operator's number stays trusted if unchanged.
    trusted = default_number is not None and default_number == account["default_number"] \
        and account["default_number_trusted"]
    await accounts.update_account(visit.p.db, account_id=account["id"], default_number=default_number,
                                  default_number_trusted=trusted, language=language, time_zone=time_zone,
                                  record_calls=form.get("record_calls") == "on")
    return visit.redirect("/settings?done=profile")


def _number(visit: Visit) -> str | None:
    try:
        return account_requests.normalize(visit.form.get("number", "").strip()[:40], visit.account)
    except account_requests.Refused:
        return None


@portal_page()
async def add_ani(visit: Visit) -> Response:
    number = _number(visit)
    if number is None:
        return await _page(visit, status=422, errors={"anis": "That is not a valid phone number."},
                           values={"number": visit.form.get("number", "")[:40]})
    try:
        await ani_verifications.start(visit.p, account=visit.account, number=number)
    except ani_verifications.VerificationError as exc:
        return await _page(visit, status=422, errors={"anis": str(exc)[:1].upper() + str(exc)[1:] + "."},
                           values={"number": number})
    return visit.redirect("/settings?done=ani_sent")


@portal_page()
async def verify_ani(visit: Visit) -> Response:
    number = _number(visit)
    code = visit.form.get("code", "").strip()
    if number is None or not (code.isdigit() and code.isascii() and len(code) == 6):
        return await _page(visit, status=422, errors={"verify": "Type the 6-digit code from the text message."})
    try:
        await ani_verifications.confirm(visit.p, account=visit.account, number=number, code=code)
    except ani_verifications.VerificationError as exc:
        return await _page(visit, status=422, errors={"verify": str(exc)[:1].upper() + str(exc)[1:] + "."})
    return visit.redirect("/settings?done=ani_added")


@portal_page()
async def remove_ani(visit: Visit) -> Response:
    number = _number(visit)
    if number is not None:
        await accounts.remove_ani(visit.p.db, account_id=visit.account["id"], number=number)
        await ani_verifications.cancel(visit.p, account_id=visit.account["id"], number=number)
    return visit.redirect("/settings?done=ani_removed")


async def _password_checked(visit: Visit) -> str | None:
    """None if the current password in the form is right, else the error to show."""
    db, account = visit.p.db, visit.account
    attempt = await lockouts.begin(db, requester=f"web:{request_origin.client_address(visit.request)}", channel="web",
                                   account_id=account["id"])
    if attempt is None:
        return "Too many failed attempts. Try again later."
    if not await security.verify_password_async(account["password_hash"],
                                                visit.form.get("current_password", "")[:MAX_PASSWORD]):
        return "Your current password is not right."
    await lockouts.succeeded(db, attempt)
    return None


@portal_page()
async def change_pin(visit: Visit) -> Response:
    # The platform draws the new PIN; a PIN typed into the form (older pages sent `pin`) is ignored, so
    # nothing here can tell a subscriber whether some PIN belongs to another account.
    problem = await _password_checked(visit)
    if problem is not None:
        return await _page(visit, status=422, errors={"pin": problem})
    try:
        pin = await accounts.assign_random_pin(
            visit.p.db, secret_key=visit.p.secret_key, account_id=visit.account["id"],
            length=max(security.GENERATED_PIN_LENGTH, visit.p.settings.pin_min_length))
    except accounts.AccountError:
        return await _page(visit, status=503, errors={"pin": "No new PIN could be made just now. Try again."})
    # Shown once, in this response only: it is stored as a keyed hash.
    return await _page(visit, new_pin=pin)


@portal_page()
async def change_password(visit: Visit) -> Response:
    new, again = visit.form.get("new_password", ""), visit.form.get("new_password_again", "")
    problem = None
    if not MIN_PASSWORD <= len(new) <= MAX_PASSWORD:
        problem = f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters."
    elif new != again:
        problem = "The two new passwords differ."
    else:
        problem = await _password_checked(visit)
    if problem is not None:
        return await _page(visit, status=422, errors={"password": problem})
    db = visit.p.db
    async with db.transaction():
        await accounts.set_password(db, account_id=visit.account["id"], password=new)
        # A token taken while the old password was known must not outlive it.
        await accounts.revoke_all_tokens(db, account_id=visit.account["id"])
    await visit.reload_account()
    # Sessions carry a fingerprint of the password hash: this one is renewed, the others end.
    await portal_sessions.log_in(visit.p, visit.session, visit.account)
    return visit.redirect("/settings?done=password")


@portal_page()
async def create_token(visit: Visit) -> Response:
    name = " ".join(visit.form.get("name", "").split())
    if len(name) > 64 or not name.isprintable():
        return await _page(visit, status=422, errors={"tokens": "A token name is up to 64 characters."})
    # A token outlives the session: the session alone (a stolen cookie) must not be enough to make one.
    problem = await _password_checked(visit)
    if problem is not None:
        return await _page(visit, status=422, errors={"tokens": problem}, values={"token_name": name})
    try:
        token = await accounts.create_token(visit.p.db, account_id=visit.account["id"], name=name,
                                            limit=accounts.MAX_LIVE_TOKENS)
    except accounts.AccountError as exc:
        return await _page(visit, status=422, errors={"tokens": str(exc)[:1].upper() + str(exc)[1:] + "."},
                           values={"token_name": name})
    # Shown once, in this response only: it is stored hashed.
    return await _page(visit, new_token=token)


@portal_page()
async def revoke_token(visit: Visit) -> Response:
    token_id = visit.request.path_params["token_id"]
    if token_id > 2**31 - 1 or not await accounts.revoke_token(visit.p.db, account_id=visit.account["id"],
                                                                  token_id=token_id):
        return visit.error(404, "Not found", "There is no such active token in your account.")
    return visit.redirect("/settings?done=token_revoked")


routes = [
    Route("/settings", settings_page, methods=["GET"]),
    Route("/settings/profile", save_profile, methods=["POST"]),
    Route("/settings/anis", add_ani, methods=["POST"]),
    Route("/settings/anis/verify", verify_ani, methods=["POST"]),
    Route("/settings/anis/remove", remove_ani, methods=["POST"]),
    Route("/settings/pin", change_pin, methods=["POST"]),
    Route("/settings/password", change_password, methods=["POST"]),
    Route("/settings/tokens", create_token, methods=["POST"]),
    Route("/settings/tokens/{token_id:int}/revoke", revoke_token, methods=["POST"]),
]
