"""The trigger webhook as a developer would first write it in Flask: the Flask + gunicorn peer.

The same handler as `naive_starlette`, synchronous: `request.form`, the twilio
SDK's signature check, one SELECT, one INSERT ... ON CONFLICT DO NOTHING, the
SDK's TwiML. SQLite through `sqlite3`, PostgreSQL through psycopg 3; one
connection per worker process. Served by gunicorn's sync workers:

    gunicorn -w 2 -b 127.0.0.1:8000 bench.peers.flask_app:app
"""

from __future__ import annotations

import os
import sqlite3
import sys

import psycopg
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from bench.peers.common import DDL_LOCK, OUTBOX_DDL, postgres_dsn, settings, sqlite_path

DATABASE_URL, AUTH_TOKEN, PUBLIC_BASE_URL = settings()
SQLITE_PATH = sqlite_path(DATABASE_URL)
validator = RequestValidator(AUTH_TOKEN)
app = Flask(__name__)


def connect():
    """This worker's connection (gunicorn imports the app in each worker, after the fork)."""
    if SQLITE_PATH is not None:
        conn = sqlite3.connect(SQLITE_PATH, timeout=15, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")  # the app's setting, as in naive_starlette
        conn.execute(OUTBOX_DDL)
        return conn
    conn = psycopg.connect(postgres_dsn(DATABASE_URL), autocommit=True)
    with conn.transaction():
        conn.execute(f"SELECT pg_advisory_xact_lock({DDL_LOCK})")
        conn.execute(OUTBOX_DDL)
    return conn


db = connect()
PLACEHOLDER = "?" if SQLITE_PATH is not None else "%s"
LOOKUP = f"SELECT mode FROM service_numbers WHERE number = {PLACEHOLDER}"
INSERT = (f"INSERT INTO peer_outbox (call_sid, caller, called) VALUES ({PLACEHOLDER}, {PLACEHOLDER}, {PLACEHOLDER}) "
          "ON CONFLICT (call_sid) DO NOTHING")


@app.post("/twilio/voice")
def voice():
    url = PUBLIC_BASE_URL + request.path
    if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
        return Response("invalid signature", status=403, mimetype="text/plain")
    call_sid, caller, called = request.form.get("CallSid"), request.form.get("From"), request.form.get("To")
    if not call_sid:
        return Response("CallSid is required", status=400, mimetype="text/plain")
    if db.execute(LOOKUP, (called,)).fetchone() is not None:
        db.execute(INSERT, (call_sid, caller, called))
    response = VoiceResponse()
    response.reject(reason="busy")
    return Response(str(response), mimetype="application/xml")


# The benchmark counts this line once per worker to know that all of them are serving.
print(f"peer worker {os.getpid()} ready", file=sys.stderr, flush=True)
