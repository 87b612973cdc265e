"""The website widget as a trigger channel: a visitor's number in, a callback to it out.

A widget (app/data/widgets.py, managed on the admin pages) belongs to an account, which pays, and has
one fixed destination. Its visitor is nobody the platform knows, so the requester is authorized by what
app/fraud/widget_guard.py holds them to (the widget's limits per address and per number, a proof-of-work,
a code texted to the number), and the request is then an `admission.Ask` like any other channel's:

- leg A is the visitor's number (normalized in the account's country), leg B the widget's destination;
- the destination policy applies to the visitor's number as to any callback leg, checked with the rest of
  the admission's steps 1 to 5 (`admission.precheck`) before a code is texted, and again when queued;
- confirmation is always press-1 (`Ask.confirm_mode`): the destination is never bridged to a voicemail;
- the requester counted per requester is the visitor's number; the trigger id is the visit's, so a code
  typed twice at once queues one request.

A refusal is raised as WidgetError with the reason (one of `admission.REASONS`, or invalid_number,
pow_invalid, code_invalid, not_found) and a message safe to show the visitor.
"""

from __future__ import annotations

import logging

from app.calls import admission
from app.core import states
from app.core.phone import InvalidNumber, to_e164
from app.data import accounts, service_numbers
from app.data import widgets as rows
from app.fraud import widget_guard
from app.platform import Platform
from app.providers.interface import ProviderError, ProviderTimeout

log = logging.getLogger(__name__)

# What the visitor may see of a request: where it is, never who or what it cost.
PUBLIC_STATUS = {states.QUEUED: "queued", states.CALLING_A: "calling", states.A_ANSWERED: "calling",
                 states.CALLING_B: "calling", states.CONNECTED: "connected", states.COMPLETED: "completed",
                 states.FAILED: "failed"}


class WidgetError(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


def uses_code(widget) -> bool:
    return widget["verification"] in ("code", "both")


def uses_pow(widget) -> bool:
    return widget["verification"] in ("pow", "both")


def _refused(refused: admission.Refused, widget) -> WidgetError:
    if refused.number is not None and refused.number == widget["destination"]:
        # The widget's own destination is refused (policy, no rate): nothing the visitor can mend.
        log.warning("widget %s: its destination %s is refused: %s", widget["id"], refused.number, refused.note)
        return WidgetError("unavailable", "calls cannot be placed right now; please try later")
    return WidgetError(refused.reason, refused.detail)


async def _ask(p: Platform, widget, account, *, number: str, trigger_id: str, base_url: str) -> admission.Ask:
    return admission.Ask(channel="widget", trigger_id=trigger_id, requester=number, account=account,
                         leg_a=number, destination=widget["destination"],
                         service_number=await service_numbers.caller_id_for(p.db, None), mode="widget",
                         base_url=base_url, confirm_mode="press1")


async def _account(p: Platform, widget):
    account = await accounts.get_account(p.db, account_id=widget["account_id"])
    if account is None:
        raise WidgetError("unavailable", "this widget is not available")
    return account


async def submit(p: Platform, widget, *, raw_number: str, client_ip: str, base_url: str,
                 challenge: str | None = None, solution: str | None = None) -> tuple[str, str]:
    """A visitor's number: the visit's token and its status (code_sent, or queued). Raises WidgetError."""
    account = await _account(p, widget)
    try:
        number = to_e164(raw_number, account["country"])
    except InvalidNumber:
        raise WidgetError("invalid_number", "that is not a valid phone number") from None
    try:
        if uses_pow(widget):
            await widget_guard.redeem_proof(p, widget, challenge or "", solution or "")
        refused = await admission.precheck(p, await _ask(p, widget, account, number=number, trigger_id="",
                                                          base_url=base_url))
        if refused:
            log.info("widget %s: %s refused: %s", widget["id"], number, refused.note)
            raise _refused(refused, widget)
        token, code = await widget_guard.open_visit(p, widget, number=number, client_ip=client_ip,
                                                    with_code=uses_code(widget))
    except widget_guard.GuardRefusal as exc:
        raise WidgetError(exc.reason, exc.message) from None
    visit = await rows.find_visit(p.db, widget_id=widget["id"], token_hash=widget_guard.token_hash(token))
    if code is None:
        return token, await _queue(p, widget, account, visit, base_url)
    # Texted after the visit committed: no lock is held while the provider answers.
    try:
        await p.provider.send_sms(to=number, from_=await service_numbers.caller_id_for(p.db, None),
                                  body=f"Your code to be called back is {code}. It expires in 10 minutes.")
    except (ProviderError, ProviderTimeout) as exc:
        log.warning("widget %s: code to %s not sent: %s", widget["id"], number, exc)
        await rows.settle_visit(p.db, visit_id=visit["id"], outcome="failed")
        price = max(0, p.settings.verification_text_price)
        if isinstance(exc, ProviderError) and price:
            # Refused by the provider, so never sent: not paid for (a timeout may have been sent).
            await accounts.top_up(p.db, account_id=widget["account_id"], amount=price, actor="verification",
                                  note=f"refund: widget code to {number} not sent")
        raise WidgetError("unavailable", "the code could not be texted to that number; please try later") from None
    return token, "code_sent"


async def find(p: Platform, widget, token: str):
    visit = await rows.find_visit(p.db, widget_id=widget["id"], token_hash=widget_guard.token_hash(token or ""))
    if visit is None:
        raise WidgetError("not_found", "no such request")
    return visit


async def confirm(p: Platform, widget, *, token: str, code: str, base_url: str) -> str:
    """The code typed by the visitor: queue the callback if it is right. Raises WidgetError."""
    visit = await find(p, widget, token)
    try:
        await widget_guard.check_code(p, visit, code)
    except widget_guard.GuardRefusal as exc:
        raise WidgetError(exc.reason, exc.message) from None
    return await _queue(p, widget, await _account(p, widget), visit, base_url)


async def _queue(p: Platform, widget, account, visit, base_url: str) -> str:
    ask = await _ask(p, widget, account, number=visit["number"], trigger_id=f"widget:{visit['id']}",
                     base_url=base_url)
    outcome = await admission.admit(p, ask)
    if isinstance(outcome, admission.Refused):
        await rows.settle_visit(p.db, visit_id=visit["id"], outcome="failed")
        raise _refused(outcome, widget)
    await rows.settle_visit(p.db, visit_id=visit["id"], outcome="queued", request_id=outcome.request_id)
    return "queued"


def public_status(visit) -> str:
    """What the status endpoint says of a visit, and nothing else."""
    if visit["request_id"] is not None:
        return PUBLIC_STATUS.get(visit["state"], "calling")
    if visit["outcome"] == "failed":
        return "failed"
    return "queued" if visit["outcome"] == "queued" else "code_sent"
