"""The URLs the provider calls back for a request's legs. Paths are named after call steps.

`provider`: with several providers, the one the URL is given to, so that a webhook
says whose call it reports (a call of a provider the request was failed over from
is ended, never adopted) and is checked against that provider's signature.
"""

from urllib.parse import urlencode


def leg_step(base_url: str, request_id: int, step: str, *, provider: str | None = None) -> str:
    return f"{base_url}/legs/{request_id}/{step}" + (f"?{urlencode({'provider': provider})}" if provider else "")


def status_callback(base_url: str, request_id: int, leg: str, *, provider: str | None = None) -> str:
    query = {"request": request_id, "leg": leg} | ({"provider": provider} if provider else {})
    return f"{base_url}/twilio/status?{urlencode(query)}"


def recording_callback(base_url: str, request_id: int) -> str:
    return f"{base_url}/twilio/recording?{urlencode({'request': request_id})}"
