"""The URLs the provider calls back for a request's legs. Paths are named after call steps."""

from urllib.parse import urlencode


def leg_step(base_url: str, request_id: int, step: str) -> str:
    return f"{base_url}/legs/{request_id}/{step}"


def status_callback(base_url: str, request_id: int, leg: str) -> str:
    return f"{base_url}/twilio/status?{urlencode({'request': request_id, 'leg': leg})}"


def recording_callback(base_url: str, request_id: int) -> str:
    return f"{base_url}/twilio/recording?{urlencode({'request': request_id})}"
