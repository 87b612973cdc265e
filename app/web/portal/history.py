"""The portal's call history: requests with their legs (CDRs) and costs, by page, and as CSV."""

from __future__ import annotations

import csv
import io
import re

from starlette.responses import Response, StreamingResponse

from app.data import account_history
from app.data.db import utcnow
from app.web.portal.pages import Visit, portal_page

PAGE_SIZE = 20
CSV_BATCH = 500
CSV_COLUMNS = ["request_id", "created_at", "trigger", "state", "reason", "from", "to", "leg", "number",
               "leg_status", "started_at", "answered_at", "ended_at", "duration_seconds", "billed_seconds",
               "price_per_minute", "cost", "currency", "provider"]


def _cursor(raw: str | None) -> int | None:
    if raw and raw.isascii() and raw.isdigit() and len(raw) < 12:
        value = int(raw)
        return value if account_history.valid_id(value) else None
    return None


@portal_page()
async def history(visit: Visit) -> Response:
    db, account = visit.p.db, visit.account
    before = _cursor(visit.request.query_params.get("before"))
    after = _cursor(visit.request.query_params.get("after")) if before is None else None
    rows = await account_history.list_requests(db, account_id=account["id"], before_id=before, after_id=after,
                                               limit=PAGE_SIZE)
    calls = [account_history.callback_view(row, legs, account["currency"])
             for row, legs in await account_history.with_legs(db, account_id=account["id"], rows=rows)]
    older = newer = None
    if rows:
        if await account_history.has_older(db, account_id=account["id"], than_id=rows[-1]["id"]):
            older = rows[-1]["id"]
        if await account_history.has_newer(db, account_id=account["id"], than_id=rows[0]["id"]):
            newer = rows[0]["id"]
    return visit.render("portal/history.html", active="history", calls=calls, older=older, newer=newer,
                        paged=before is not None or after is not None)


def _csv_line(values: list) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["" if value is None else value for value in values])
    return buffer.getvalue()


def _csv_lines(call: dict) -> list[str]:
    head = [call["id"], call["created_at"], call["trigger"], call["state"], call["reason"], call["from"], call["to"]]
    if not call["legs"]:
        return [_csv_line(head + [None] * 10 + [call["currency"], call["provider"]])]
    return [
        _csv_line(head + [leg["leg"], leg["number"], leg["status"], leg["started_at"], leg["answered_at"],
                          leg["ended_at"], leg["duration_seconds"], leg["billed_seconds"], leg["price_per_minute"],
                          leg["cost"], call["currency"], leg["provider"] or call["provider"]])
        for leg in call["legs"]
    ]


async def _csv_rows(visit: Visit):
    db, account = visit.p.db, visit.account
    yield _csv_line(CSV_COLUMNS)
    before = None
    while True:
        rows = await account_history.list_requests(db, account_id=account["id"], before_id=before, limit=CSV_BATCH)
        for row, legs in await account_history.with_legs(db, account_id=account["id"], rows=rows):
            for line in _csv_lines(account_history.callback_view(row, legs, account["currency"])):
                yield line
        if len(rows) < CSV_BATCH:
            return
        before = rows[-1]["id"]


@portal_page()
async def history_csv(visit: Visit) -> Response:
    login = re.sub(r"[^A-Za-z0-9_-]", "_", visit.account["login"])
    filename = f"calls-{login}-{utcnow():%Y%m%d}.csv"
    return StreamingResponse(_csv_rows(visit), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})

