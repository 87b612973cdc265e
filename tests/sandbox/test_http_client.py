"""The carrier's own HTTP/1.1 client (sandbox/http_client.py) and its webhook signature."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from sandbox import Clock, serve
from sandbox.http_client import Client, HttpError
from sandbox.webhooks import Webhooks


def _app(seen: list) -> Starlette:
    async def echo(request: Request) -> Response:
        body = await request.body()
        seen.append((request.method, request.url.path, request.url.query, dict(request.headers), body))
        return PlainTextResponse(f"{request.method} {len(body)}")

    async def chunked(request: Request) -> Response:
        async def parts():
            for part in (b"<Response>", b"<Say>one</Say>", b"</Response>"):
                yield part
        return StreamingResponse(parts(), media_type="application/xml")

    async def slow(request: Request) -> Response:
        await asyncio.sleep(5)
        return PlainTextResponse("late")

    async def fails(request: Request) -> Response:
        return PlainTextResponse("no", status_code=503)

    return Starlette(routes=[Route("/echo", echo, methods=["GET", "POST"]), Route("/chunked", chunked),
                             Route("/slow", slow), Route("/fails", fails, methods=["POST"])])


async def test_requests_reuse_one_connection_and_read_every_kind_of_answer():
    seen: list = []
    client = Client(keepalive=2.0)
    async with serve(_app(seen)) as url:
        first = await client.request("POST", url + "/echo?request=1", headers={"X-A": "b"}, body=b"k=v", timeout=5)
        assert (first.status_code, first.text) == (200, "POST 3")
        second = await client.request("GET", url + "/echo", headers={}, body=b"", timeout=5)
        assert second.text == "GET 0"
        chunked = await client.request("GET", url + "/chunked", headers={}, body=b"", timeout=5)
        assert chunked.content == b"<Response><Say>one</Say></Response>"
        assert chunked.headers["content-type"].startswith("application/xml")
        failed = await client.request("POST", url + "/fails", headers={}, body=b"", timeout=5)
        assert failed.status_code == 503
        (connections,) = client._idle.values()
        assert len(connections) == 1  # every request went over the same kept connection
        method, path, query, headers, body = seen[0]
        assert (method, path, query, body, headers["x-a"], headers["content-length"]) == \
            ("POST", "/echo", "request=1", b"k=v", "b", "3")
        await client.aclose()


async def test_an_idle_connection_past_its_keepalive_is_not_reused():
    client = Client(keepalive=0.05)
    async with serve(_app([])) as url:
        await client.request("GET", url + "/echo", headers={}, body=b"", timeout=5)
        (kept,) = client._idle[("127.0.0.1", int(url.rsplit(":", 1)[1]))]
        await asyncio.sleep(0.1)
        await client.request("GET", url + "/echo", headers={}, body=b"", timeout=5)
        assert kept.closed
        await client.aclose()


async def test_a_timeout_or_a_refused_connection_raises():
    client = Client()
    async with serve(_app([])) as url:
        with pytest.raises(TimeoutError):
            await client.request("GET", url + "/slow", headers={}, body=b"", timeout=0.1)
        assert client._busy == set()
    with pytest.raises((OSError, HttpError)):
        await client.request("GET", url + "/echo", headers={}, body=b"", timeout=5)
    await client.aclose()


def test_the_signature_is_the_one_twilio_computes():
    webhooks = Webhooks("a-token", Clock())
    params = {"CallSid": "CA1", "Digits": "1234#", "To": "+15551230000", "Empty": ""}
    url = "http://127.0.0.1:8000/legs/1/pin?x=1"
    assert webhooks.sign(url, params) == RequestValidator("a-token").compute_signature(url, params)
    assert webhooks.sign(url, {}) == RequestValidator("a-token").compute_signature(url, {})
    webhooks.key = "another"
    assert webhooks.sign(url, params) == RequestValidator("another").compute_signature(url, params)
