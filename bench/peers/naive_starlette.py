"""The trigger webhook as a developer would first write it in Starlette: the naive peer.

One handler: the form, the twilio SDK's signature check, one SELECT for the
called number, one INSERT ... ON CONFLICT DO NOTHING for the CallSid, and the
SDK's TwiML. SQLite through the stdlib `sqlite3` module, called straight from
the handler (one connection per worker, opened at startup); PostgreSQL through
an asyncpg pool. Served by bench/serve.py exactly as the app is.
"""

from __future__ import annotations

import contextlib
import sqlite3

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from bench.peers.common import DDL_LOCK, OUTBOX_DDL, postgres_dsn, settings, sqlite_path

DATABASE_URL, AUTH_TOKEN, PUBLIC_BASE_URL = settings()
validator = RequestValidator(AUTH_TOKEN)
db: dict = {}  # "sqlite": a sqlite3 connection, or "pool": an asyncpg pool


async def voice(request: Request) -> Response:
    form = await request.form()
    url = PUBLIC_BASE_URL + request.url.path
    if not validator.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
        return PlainTextResponse("invalid signature", status_code=403)
    call_sid, caller, called = form.get("CallSid"), form.get("From"), form.get("To")
    if not call_sid:
        return PlainTextResponse("CallSid is required", status_code=400)
    if "sqlite" in db:
        conn = db["sqlite"]
        # Blocking calls on the event loop: what the naive version does (and one connection per worker).
        row = conn.execute("SELECT mode FROM service_numbers WHERE number = ?", (called,)).fetchone()
        if row is not None:
            conn.execute("INSERT INTO peer_outbox (call_sid, caller, called) VALUES (?, ?, ?) "
                         "ON CONFLICT (call_sid) DO NOTHING", (call_sid, caller, called))
    else:
        async with db["pool"].acquire() as conn:
            mode = await conn.fetchval("SELECT mode FROM service_numbers WHERE number = $1", called)
            if mode is not None:
                await conn.execute("INSERT INTO peer_outbox (call_sid, caller, called) VALUES ($1, $2, $3) "
                                   "ON CONFLICT (call_sid) DO NOTHING", call_sid, caller, called)
    response = VoiceResponse()
    response.reject(reason="busy")
    return Response(str(response), media_type="application/xml")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette):
    path = sqlite_path(DATABASE_URL)
    if path is not None:
        # Autocommit: each statement its own transaction, as the app's; the other workers' writes are
        # waited for. synchronous=NORMAL is the app's setting too: the comparison is of work, not of fsyncs.
        conn = sqlite3.connect(path, timeout=15, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(OUTBOX_DDL)
        db["sqlite"] = conn
    else:
        pool = await asyncpg.create_pool(postgres_dsn(DATABASE_URL))
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({DDL_LOCK})")
            await conn.execute(OUTBOX_DDL)
        db["pool"] = pool
    try:
        yield
    finally:
        if "sqlite" in db:
            db.pop("sqlite").close()
        if "pool" in db:
            await db.pop("pool").close()


app = Starlette(routes=[Route("/twilio/voice", voice, methods=["POST"])], lifespan=lifespan)
