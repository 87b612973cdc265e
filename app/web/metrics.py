"""GET /metrics: the Prometheus registry (app/core/metrics.py), with the callback counts read
from the database at scrape time, across every instance."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from app.core.metrics import Metrics, authorized
from app.data import counts
from app.data.db import utcnow


async def _database_counts(db) -> tuple[list, int]:
    return await counts.requests_by_state(db), await counts.due_queued(db, now=utcnow())


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
