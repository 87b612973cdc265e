"""The provider webhooks' short way in.

Providers post to a few routes on every call (the trigger, status callbacks,
the IVR's steps), many times a second at peak. Such a request needs the Host
check, its metrics and its handler, not the rest of the stack it would cross
(the other middleware, the exception middleware, the router trying every
route in turn, Starlette's request/response wrapper): each layer is an await
and a closure per message, and together they cost more than the webhook's
own work. `WebhookLane` is the outermost layer of the app (app/main.py): it
sends a POST to one of its routes straight to the route's endpoint, doing on
the way what the skipped layers would have done for it (the Host check, an
HTTPException's answer, a 500 for a crash, the metrics); any other request
takes the whole stack. The routes are the app's own `Route` objects, so paths and their
parameters are matched exactly as the router would.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Match, Route

from app.core.metrics import Metrics
from app.core.request_origin import host_refusal

log = logging.getLogger(__name__)


class WebhookLane:
    def __init__(self, app, *, routes: list[Route], allowed_hosts: tuple[str, ...], metrics: Metrics,
                 on_http_error: Callable[[Request, HTTPException], Awaitable[Response]]):
        self.app = app
        self.routes = routes
        self.allowed = tuple(host.lower() for host in allowed_hosts)
        self.metrics = metrics
        self.on_http_error = on_http_error
        # Each (route, status)'s counter and each route's histogram, looked up once: `labels()` costs a lock
        # and a tuple each time.
        self._counters: dict[tuple[str, int], object] = {}
        self._timers: dict[str, object] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return await self._serve(route, child, scope, receive, send)
        return await self.app(scope, receive, send)

    async def _serve(self, route: Route, child: dict, scope, receive, send) -> None:
        started = time.perf_counter()
        refused = host_refusal(scope, self.allowed)
        if refused is not None:
            # As TrustedHostMiddleware answers it, before anything else is read.
            response: Response = PlainTextResponse(refused, status_code=400)
        else:
            scope.update(child)
            scope["route"] = route
            request = Request(scope, receive)
            try:
                response = await route.endpoint(request)
            except HTTPException as exc:
                response = await self.on_http_error(request, exc)
            except Exception:
                # What Starlette's error middleware does for the other routes: a plain 500, the traceback logged.
                log.exception("%s %s failed", scope["method"], route.path)
                response = PlainTextResponse("Internal Server Error", status_code=500)
        await response(scope, receive, send)
        key = (route.path, response.status_code)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.metrics.webhooks.labels(route.path, str(response.status_code))
        timer = self._timers.get(route.path)
        if timer is None:
            timer = self._timers[route.path] = self.metrics.latency.labels(route.path)
        counter.inc()
        timer.observe(time.perf_counter() - started)
