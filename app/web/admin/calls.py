"""Admin pages about calls: the live board (with cancel), the CDR search and its CSV, the per-day summary."""

from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

from starlette.responses import JSONResponse, Response, StreamingResponse

from app.data import account_history, admin_queries, daily_summary
from app.calls import cancellation
from app.web import charts
from app.core import money, states
from app.core.numbers import ascii_int
from app.web.admin import forms as forms
from app.web.admin.pages import Desk, admin_page
from app.data.db import utcnow

PAGE_SIZE = 50
CSV_BATCH = 500
LIVE_POLL_SECONDS = 2
ALL_STATES = ("queued", "calling_a", "a_answered", "calling_b", "connected", "completed", "failed")
CSV_COLUMNS = ["request_id", "created_at", "login", "trigger", "service_number", "mode", "caller_id", "state",
               "reason", "from", "to", "leg", "number", "leg_status", "started_at", "answered_at", "ended_at",
               "duration_seconds", "billed_seconds", "price_per_minute", "cost", "currency", "provider"]
CHART_COLORS = {"completed": "#16794a", "failed": "#b42318", "in progress": "#1d5fbf"}


def call_view(row, legs) -> dict:
    """A request as the admin pages show it: the portal's view of a callback, and whose and where it came in."""
    view = account_history.callback_view(row, legs, row["currency"] or "USD")
    view.update(login=row["login"], service_number=row["service_number"], mode=row["mode"],
                caller_id=row["caller_id"], cancelable=row["state"] in cancellation.CANCELABLE,
                age_seconds=int((utcnow() - row["created_at"]).total_seconds()))
    return view


# Live callbacks ---------------------------------------------------------------------


async def _live_views(desk: Desk) -> list[dict]:
    return [call_view(row, legs) for row, legs in await admin_queries.live_callbacks(desk.p.db)]


@admin_page()
async def live_page(desk: Desk) -> Response:
    canceled = desk.query("canceled", 12)
    return desk.render("admin/live.html", active="live", calls=await _live_views(desk),
                       canceled=ascii_int(canceled), poll_seconds=LIVE_POLL_SECONDS,
                       error=None)


@admin_page(api=True)
async def live_json(desk: Desk) -> Response:
    calls = await _live_views(desk)
    return JSONResponse({"calls": calls, "count": len(calls), "at": account_history.iso(utcnow())})


@admin_page()
async def cancel_callback(desk: Desk) -> Response:
    row = await admin_queries.get_callback(desk.p.db, request_id=desk.request.path_params["request_id"])
    if row is None:
        return desk.not_found("callback request")
    try:
        await cancellation.cancel(desk.p, row, by=f"operator {desk.operator['login']}")
    except cancellation.NotCancelable as exc:
        return desk.render("admin/live.html", status=409, active="live", calls=await _live_views(desk),
                           canceled=None, poll_seconds=LIVE_POLL_SECONDS,
                           error=f"Callback #{row['id']} was not canceled: {exc}.")
    return desk.redirect(f"/admin/live?canceled={row['id']}")


# CDR search ----------------------------------------------------------------------


def _cdr_filter(desk: Desk) -> tuple[admin_queries.CdrFilter, dict, str | None]:
    """The search's filter, the values to show back in the form, and what was wrong with them."""
    values = {name: desk.query(name) for name in ("login", "number", "since", "until", "state", "reason")}
    try:
        number = "".join(ch for ch in values["number"] if ch not in "+ -().")
        if number and not (number.isdigit() and number.isascii() and 2 <= len(number) <= 16):
            raise forms.FormError("A number to look for is 2 to 16 digits (a part of a number will do).")
        since, until = forms.day(values["since"], "From"), forms.day(values["until"], "To")
        if since and until and since > until:
            raise forms.FormError("The dates are the wrong way round.")
        if values["state"] and values["state"] not in ALL_STATES:
            raise forms.FormError("Choose a state from the list.")
        if values["reason"] and values["reason"] not in states.REASONS:
            raise forms.FormError("Choose a reason from the list.")
    except forms.FormError as exc:
        return admin_queries.CdrFilter(), values, str(exc)
    where = admin_queries.CdrFilter(login=values["login"], number=number, since=since, until=until,
                                    state=values["state"], reason=values["reason"])
    return where, values, None


def _cursor(raw: str) -> int | None:
    value = ascii_int(raw, max_digits=11)
    return value if value is not None and account_history.valid_id(value) else None


@admin_page()
async def cdr_search(desk: Desk) -> Response:
    db = desk.p.db
    where, values, error = _cdr_filter(desk)
    if error:
        return desk.render("admin/cdrs.html", status=422, active="cdrs", calls=[], values=values, error=error,
                           states_list=ALL_STATES, reasons=sorted(states.REASONS), older=None, newer=None, query="")
    before = _cursor(desk.query("before"))
    after = _cursor(desk.query("after")) if before is None else None
    found = await admin_queries.search_callbacks(db, where=where, before_id=before, after_id=after, limit=PAGE_SIZE)
    calls = [call_view(row, legs) for row, legs in found]
    older = newer = None
    if found:
        first, last = found[0][0]["id"], found[-1][0]["id"]
        older = last if await admin_queries.any_callback(db, where=where, below_id=last) else None
        newer = first if await admin_queries.any_callback(db, where=where, above_id=first) else None
    query = urlencode({name: value for name, value in values.items() if value})
    return desk.render("admin/cdrs.html", active="cdrs", calls=calls, values=values, error=None,
                       states_list=ALL_STATES, reasons=sorted(states.REASONS), older=older, newer=newer,
                       query=query, paged=before is not None or after is not None)


def _csv_line(values: list) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["" if value is None else value for value in values])
    return buffer.getvalue()


def _csv_lines(call: dict) -> list[str]:
    head = [call["id"], call["created_at"], call["login"], call["trigger"], call["service_number"], call["mode"],
            call["caller_id"], call["state"], call["reason"], call["from"], call["to"]]
    if not call["legs"]:
        return [_csv_line(head + [None] * 10 + [call["currency"], call["provider"]])]
    return [_csv_line(head + [leg["leg"], leg["number"], leg["status"], leg["started_at"], leg["answered_at"],
                              leg["ended_at"], leg["duration_seconds"], leg["billed_seconds"],
                              leg["price_per_minute"], leg["cost"], call["currency"],
                              leg["provider"] or call["provider"]])
            for leg in call["legs"]]


async def _csv_rows(desk: Desk, where: admin_queries.CdrFilter):
    yield _csv_line(CSV_COLUMNS)
    before = None
    while True:
        found = await admin_queries.search_callbacks(desk.p.db, where=where, before_id=before, limit=CSV_BATCH)
        for row, legs in found:
            for line in _csv_lines(call_view(row, legs)):
                yield line
        if len(found) < CSV_BATCH:
            return
        before = found[-1][0]["id"]


@admin_page()
async def cdr_csv(desk: Desk) -> Response:
    where, values, error = _cdr_filter(desk)
    if error:
        return desk.render("admin/cdrs.html", status=422, active="cdrs", calls=[], values=values, error=error,
                           states_list=ALL_STATES, reasons=sorted(states.REASONS), older=None, newer=None, query="")
    filename = f"cdrs-{utcnow():%Y%m%d-%H%M%S}.csv"
    return StreamingResponse(_csv_rows(desk, where), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# The per-day summary ------------------------------------------------------------------


def summary_chart(summary: daily_summary.Summary) -> str:
    days = summary.days
    first, last = days[0].day, days[-1].day
    series = [charts.Series("completed", CHART_COLORS["completed"], [day.completed for day in days]),
              charts.Series("failed", CHART_COLORS["failed"], [day.failed for day in days]),
              charts.Series("in progress", CHART_COLORS["in progress"], [day.in_progress for day in days])]
    totals = summary.totals
    desc = (f"Callback requests per day from {first} to {last} (UTC): {totals.calls} in all, "
            f"{totals.completed} completed, {totals.failed} failed.")
    busiest = max(days, key=lambda day: day.calls)
    if busiest.calls:
        desc += f" The busiest day was {busiest.day} with {busiest.calls}."
    return charts.stacked_bars(title="Calls per day", desc=desc, labels=[day.day.strftime("%m-%d") for day in days],
                               series=series, chart_id="calls-chart", empty_text="No calls in this period")


@admin_page()
async def summary_page(desk: Desk) -> Response:
    default_since, default_until = daily_summary.default_range(utcnow().date())
    values = {"since": desk.query("since", 10), "until": desk.query("until", 10)}
    error = None
    try:
        since = forms.day(values["since"], "From") or default_since
        until = forms.day(values["until"], "To") or default_until
        if since > until:
            raise forms.FormError("The dates are the wrong way round.")
        if (until - since).days >= daily_summary.MAX_DAYS:
            raise forms.FormError(f"Choose at most {daily_summary.MAX_DAYS} days.")
    except forms.FormError as exc:
        error, (since, until) = str(exc), (default_since, default_until)
    summary = await daily_summary.summarize(desk.p.db, since=since, until=until)
    return desk.render("admin/summary.html", status=422 if error else 200, active="summary", summary=summary,
                       chart=summary_chart(summary), since=since, until=until, error=error,
                       values={"since": values["since"] or since.isoformat(),
                               "until": values["until"] or until.isoformat()},
                       revenue=_revenue_text, known_reasons=states.REASONS)


def _revenue_text(revenue: dict[str, int]) -> str:
    parts = [f"{money.format_amount(minor, currency)} {currency}" for currency, minor in sorted(revenue.items())]
    return ", ".join(parts) or "0"
