"""Prometheus metrics: webhooks by route and status, their latency, dispatch lag,
provider errors, and (counted at scrape time, across every instance) callbacks
by state and reason and the depth of the queue."""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from app.core import security, states
from app.data.db import utcnow
from app.data.tables import callback_requests
from app.core.timed_cache import TimedCache

# The database counts are remembered this long: a scrape (or a flood of them) costs at most
# one GROUP BY over callback_requests per interval.
COUNTS_SECONDS = 5.0

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.webhooks = Counter("callback_webhook_requests", "Requests to the app, by route and status",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("callback_webhook_duration_seconds", "Time to answer, by route", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.dispatch_lag = Histogram("callback_dispatch_lag_seconds",
                                      "From a request's due time to its create-call request", registry=self.registry,
                                      buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.provider_errors = Counter("callback_provider_errors", "Failed provider requests, by kind", ["kind"],
                                       registry=self.registry)
        self.requests = Gauge("callback_requests", "Callback requests by state and reason", ["state", "reason"],
                              registry=self.registry)
        self.queue_depth = Gauge("callback_queue_depth", "Queued requests that are due", registry=self.registry)
        self.counts: TimedCache[tuple[list, int]] = TimedCache(COUNTS_SECONDS, max_entries=1)
        self.counting = asyncio.Lock()  # concurrent scrapes wait for one count instead of each running it


class MetricsMiddleware:
    """Counts and times every HTTP request by its route's path template (never the raw path)."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_and_note(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.webhooks.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)


def authorized(request: Request, token: str | None) -> bool:
    if not token:
        return True
    scheme, _, offered = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and security.same_secret(token, offered.strip())


async def _database_counts(db) -> tuple[list, int]:
    rows = await db.fetch_all(
        sa.select(callback_requests.c.state, callback_requests.c.reason, sa.func.count())
        .group_by(callback_requests.c.state, callback_requests.c.reason)
    )
    due = await db.fetch_val(sa.select(sa.func.count()).where(
        callback_requests.c.state == states.QUEUED, callback_requests.c.due_at <= utcnow()))
    return [(r[0], r[1], r[2]) for r in rows], due


async def metrics_endpoint(request: Request) -> Response:
    p = request.app.state.platform
    if not authorized(request, p.settings.metrics_token):
        return PlainTextResponse("send the metrics token as 'Authorization: Bearer <token>'", status_code=401,
                                 headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    metrics: Metrics = request.app.state.metrics
    async with metrics.counting:
        rows, due = await metrics.counts.get("counts", lambda: _database_counts(p.db))
    metrics.requests.clear()
    for state, reason, count in rows:
        metrics.requests.labels(state, reason or "").set(count)
    metrics.queue_depth.set(due)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
