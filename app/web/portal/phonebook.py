"""The portal's phonebook: named numbers, and the speed-dial codes the IVR dials (app/calls/phonebook.py)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from app.calls import phonebook
from app.data import phonebook as phonebook_queries
from app.web.portal.pages import Visit, portal_page

DONE = {"added": "The entry was added.", "saved": "The entry was saved.", "deleted": "The entry was deleted."}


def _values(visit: Visit) -> dict:
    form = visit.form
    return {"name": form.get("name", "")[:200], "number": form.get("number", "")[:40], "code": form.get("code", "")[:8]}


def _checked(visit: Visit, values: dict) -> phonebook.Entry:
    return phonebook.entry(visit.account, name=values["name"], number=values["number"], code=values["code"])


async def _list(visit: Visit, *, status: int = 200, error: str | None = None, values: dict | None = None) -> Response:
    rows = await phonebook_queries.list_entries(visit.p.db, account_id=visit.account["id"])
    return visit.render("portal/phonebook.html", status=status, active="phonebook", rows=rows, error=error,
                        values=values or {}, done=DONE.get(visit.request.query_params.get("done", "")),
                        max_entries=phonebook.MAX_ENTRIES)


def _problem(exc: phonebook.EntryError) -> str:
    message = str(exc)
    return f"{exc.field.capitalize()}: {message[:1].upper()}{message[1:]}."


@portal_page()
async def phonebook_page(visit: Visit) -> Response:
    return await _list(visit)


@portal_page()
async def add_entry(visit: Visit) -> Response:
    values = _values(visit)
    try:
        await phonebook.add(visit.p.db, visit.account, _checked(visit, values))
    except phonebook.EntryError as exc:
        return await _list(visit, status=422, error=_problem(exc), values=values)
    return visit.redirect("/phonebook?done=added")


async def _entry(visit: Visit):
    return await phonebook_queries.get_entry(visit.p.db, account_id=visit.account["id"],
                                             entry_id=visit.request.path_params["entry_id"])


@portal_page()
async def entry_page(visit: Visit) -> Response:
    row = await _entry(visit)
    if row is None:
        return visit.error(404, "Not found", "There is no such entry in your phonebook.")
    return visit.render("portal/phonebook_entry.html", active="phonebook", row=row, values=dict(row), error=None)


@portal_page()
async def save_entry(visit: Visit) -> Response:
    row = await _entry(visit)
    if row is None:
        return visit.error(404, "Not found", "There is no such entry in your phonebook.")
    values = _values(visit)
    try:
        await phonebook.change(visit.p.db, visit.account, row["id"], _checked(visit, values))
    except phonebook.EntryError as exc:
        return visit.render("portal/phonebook_entry.html", status=422, active="phonebook", row=row, values=values,
                            error=_problem(exc))
    return visit.redirect("/phonebook?done=saved")


@portal_page()
async def delete_entry(visit: Visit) -> Response:
    row = await _entry(visit)
    if row is None:
        return visit.error(404, "Not found", "There is no such entry in your phonebook.")
    await phonebook_queries.delete_entry(visit.p.db, account_id=visit.account["id"], entry_id=row["id"])
    return visit.redirect("/phonebook?done=deleted")


routes = [
    Route("/phonebook", phonebook_page, methods=["GET"]),
    Route("/phonebook", add_entry, methods=["POST"]),
    Route("/phonebook/{entry_id:int}", entry_page, methods=["GET"]),
    Route("/phonebook/{entry_id:int}", save_entry, methods=["POST"]),
    Route("/phonebook/{entry_id:int}/delete", delete_entry, methods=["POST"]),
]
