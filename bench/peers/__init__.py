"""Peers of the trigger webhook: the same core work written the plain way, measured beside the app.

`naive_starlette` (served by bench/serve.py like the app) and `flask_app`
(Flask under gunicorn's sync workers) each answer POST /twilio/voice: check
the signature with the twilio SDK, look the called number up in the app's
service numbers, write an outbox row for the CallSid (once), and reject with
the SDK's TwiML. They read the app's environment variables (`common`) and
write only to a table of their own, `peer_outbox`.
"""
