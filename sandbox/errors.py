"""Twilio's REST error body and the codes the sandbox answers with."""

from __future__ import annotations

from starlette.responses import JSONResponse

# Codes as Twilio documents them at https://www.twilio.com/docs/errors/NNNNN.
INVALID_PARAMETER = 20001
AUTHENTICATE = 20003
NOT_FOUND = 20404
TOO_MANY_REQUESTS = 20429
INTERNAL_ERROR = 20500
SERVICE_UNAVAILABLE = 20503
URL_INVALID = 21205
TO_MISSING = 21201
TO_INVALID = 21211
FROM_INVALID = 21212
FROM_MISSING = 21213
NOT_IN_PROGRESS = 21220
BODY_MISSING = 21602
MESSAGE_FROM_MISSING = 21603
MESSAGE_TO_MISSING = 21604
STATUS_CALLBACK_INVALID = 21609

# Codes a call or message reports in its own record (not HTTP errors).
HTTP_RETRIEVAL_FAILURE = 11200
DOCUMENT_PARSE_FAILURE = 12100
SCHEMA_VALIDATION = 12200
UNREACHABLE_HANDSET = 30003

STATUS_CODES = {500: INTERNAL_ERROR, 503: SERVICE_UNAVAILABLE, 429: TOO_MANY_REQUESTS}


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }

    def response(self) -> JSONResponse:
        headers = {}
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        if self.status == 429:
            headers["Retry-After"] = "1"
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def fault(status: int) -> TwilioError:
    """The error Twilio answers with for an injected HTTP status."""
    messages = {
        500: "Internal Server Error",
        503: "Service Unavailable",
        429: "Too Many Requests",
    }
    code = STATUS_CODES.get(status, INTERNAL_ERROR)
    return TwilioError(status, code, messages.get(status, "Internal Server Error"))
