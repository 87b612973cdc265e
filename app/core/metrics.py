"""Prometheus metrics: webhooks by route and status, their latency, dispatch lag,
provider errors, and (counted at scrape time, across every instance, by
app/web/metrics.py) callbacks by state and reason and the depth of the queue."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.requests import Request

from app.core import security
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
        self.operator_events = Counter("callback_operator_webhook_posts", "Operator webhook POSTs, by event type "
                                       "and result (delivered, failed)", ["type", "result"], registry=self.registry)
        self.alarms = Gauge("callback_alarms", "Open alarms, by kind and subject (1 while raised)", ["kind", "subject"],
                            registry=self.registry)
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
