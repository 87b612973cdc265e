"""The ceiling: a bare Starlette app answering the webhook paths with constant TwiML.

Served exactly as the platform is (bench/serve.py: uvicorn, httptools, the
same workers), it shows what the server stack alone can do on this machine;
the webhooks are reported as a fraction of it.
"""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy" /></Response>'


async def constant(request: Request) -> Response:
    return Response(TWIML, media_type="application/xml")


app = Starlette(routes=[
    Route("/twilio/voice", constant, methods=["POST"]),
    Route("/legs/{request_id:int}/{step}", constant, methods=["POST"]),
])
