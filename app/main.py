"""The ASGI app: `app.main:app`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from app.web.admin import signin as admin
from app.web import api, api_topups, sms_webhooks, voice_webhooks as webhooks, widget
from app.web import metrics as metrics_page
from app.providers import embedded_sandbox as embedded_carrier
from app.data import instance
from app.core import metrics, request_origin
from app.web.portal import signin as portal
from app.web.reseller import views as reseller
from app.web.demo import softphone
from app.web.loopback import LoopbackOnly
from app.data.db import make_database
from app.calls.dispatch_thread import DispatchThread
from app.calls.dispatcher import Dispatcher
from app.calls.operator_events import Sender
from app.platform import Platform
from app.providers import registry
from app.providers.signatures import Webhooks
from app.web import telnyx_sms
from app.web.webhook_lane import WebhookLane
from app.core.settings import Settings, check, load_settings

log = logging.getLogger(__name__)


async def healthz(request: Request) -> JSONResponse:
    p = request.app.state.platform
    try:
        await p.db.fetch_val("SELECT 1")
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "provider": p.default_provider_name,
                         "providers": list(p.providers)})


async def http_error(request: Request, exc: HTTPException):
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": {"code": "http_%d" % exc.status_code, "message": exc.detail}},
                            status_code=exc.status_code)
    return PlainTextResponse(str(exc.detail), status_code=exc.status_code)


# What providers post to on every call: served by the webhook lane (app/web/webhook_lane.py), and by the
# router for anything the lane does not take.
provider_routes = [
    Route("/twilio/voice", webhooks.voice_trigger, methods=["POST"]),
    Route("/twilio/status", webhooks.status, methods=["POST"]),
    Route("/legs/{request_id:int}/{step}", webhooks.leg_step, methods=["POST"]),
]

routes = [
    Route("/healthz", healthz),
    Route("/metrics", metrics_page.metrics_endpoint),
    *provider_routes,
    Route("/twilio/recording", webhooks.recording, methods=["POST"]),
    Route("/twilio/sms", sms_webhooks.twilio_sms, methods=["POST"]),
    Route("/telnyx/sms", telnyx_sms.telnyx_sms, methods=["POST"]),
    Route("/sms/gateway", sms_webhooks.gateway, methods=["GET", "POST"]),
    Route("/media/prompts/{prompt}/{language}", webhooks.prompt_audio),
    *admin.routes,
    *reseller.routes,
    *api_topups.routes,
    *api.routes,
    *widget.routes,
    *portal.routes,
]


class CallbackApp(Starlette):
    """Starlette, with the provider webhooks' lane (app/web/webhook_lane.py) outside its whole middleware stack."""

    def __init__(self, *args, lane: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.lane = lane

    def build_middleware_stack(self):
        return WebhookLane(super().build_middleware_stack(), **self.lane)


def create_app(settings: Settings | None = None, *, listen_url: str | None = None) -> Starlette:
    """The app; `listen_url` is the address `serve` bound, the sandbox's base for callback URLs."""
    settings = check(settings or load_settings())
    carrier = embedded_carrier.build_carrier(settings) if settings.uses_sandbox else None
    measured = metrics.Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        db = make_database(settings)
        await db.connect()
        secret_key = await instance.resolve_secret_key(db, settings)
        stack = contextlib.AsyncExitStack()
        sandbox_account = None
        if "sandbox" in settings.provider_names:
            # The carrier is served on this loop; every loop's adapter reaches it over HTTP with this account.
            sandbox_account = await stack.enter_async_context(embedded_carrier.running(carrier, secret_key))
            log.info("calls %sgo to the sandbox carrier at %s, in %s's dialect",
                     "" if len(settings.provider_names) == 1 else "may ", sandbox_account.api_base,
                     settings.sandbox_dialect)

        def build_adapters() -> dict[str, registry.Adapter]:
            """One adapter per name of PROVIDERS (PROVIDER=x is PROVIDERS=x), each built by the registry; the
            sandbox is the embedded carrier, in the dialect of the provider it stands in for. Their HTTP
            clients belong to the event loop they are built on: one set for each loop."""
            built: dict[str, registry.Adapter] = {}
            for name in settings.provider_names:
                if name == "sandbox":
                    built[name] = registry.build(settings.sandbox_dialect,
                                                 embedded_carrier.adapter_settings(carrier, settings),
                                                 account=sandbox_account)
                else:
                    built[name] = registry.build(name, settings)
            return built

        adapters = build_adapters()
        # The first is the default (texts, triggers, rows without a provider).
        first = next(iter(adapters.values()))
        platform = Platform(settings=settings, db=db, secret_key=secret_key, credentials=first.credentials,
                            provider=first.provider, metrics=measured, listen_url=listen_url,
                            providers={name: adapter.provider for name, adapter in adapters.items()})
        app.state.platform = platform
        # The providers' webhook signature checks, for the handlers of /twilio/*, /legs/* and /telnyx/sms: each
        # provider signs with its own key; a URL naming its provider is checked against that one only.
        app.state.webhooks = Webhooks({name: adapter.verifier for name, adapter in adapters.items()})
        # Each provider's dialect of TwiML, where it has one (Telnyx's TeXML).
        app.state.voice_dialects = {name: adapter.voice_dialect for name, adapter in adapters.items()
                                    if adapter.voice_dialect is not None}
        # /telnyx/sms checks its JSON events with the key of the provider that signs raw bodies (Telnyx's, or
        # the sandbox's in its dialect); without one the route answers 404.
        telnyx = next((a for a in adapters.values() if getattr(a.verifier, "signs_body", False)), None)
        app.state.telnyx_key = telnyx.verifier.key if telnyx is not None else None

        @contextlib.asynccontextmanager
        async def dispatcher_platform():
            """The dispatcher's platform, made and closed on its own loop: its own database handle (a small pool
            on PostgreSQL, a second connection on SQLite) and provider clients; the rest is this platform's."""
            own_db = make_database(settings, pool_size=4, max_overflow=6)
            await own_db.connect()
            try:
                own = build_adapters()
                try:
                    head = next(iter(own.values()))
                    yield dataclasses.replace(platform, db=own_db, credentials=head.credentials,
                                              provider=head.provider,
                                              providers={name: adapter.provider for name, adapter in own.items()})
                finally:
                    for adapter in own.values():
                        await adapter.provider.aclose()
            finally:
                await own_db.disconnect()

        dispatching = None
        if settings.dispatcher_enabled:
            # On a thread and event loop of its own, with the alarms' check: it must not wait behind the
            # webhooks on this loop (app/calls/dispatch_thread.py).
            dispatching = DispatchThread(dispatcher_platform, alarms=bool(settings.alarm_check_seconds))
            await dispatching.start()
            dispatcher = dispatching.dispatcher
        else:
            dispatcher = Dispatcher(platform)  # not run: the tests drive it here, pass by pass
        app.state.dispatcher = dispatcher
        app.state.dispatch_thread = dispatching
        sender = Sender(platform)
        app.state.operator_events = sender
        # Events are delivered while OPERATOR_WEBHOOK_URL is set; those queued survive a restart in the outbox.
        sending = asyncio.create_task(sender.run()) if settings.operator_webhook_url else None
        try:
            yield
        finally:
            if dispatching is not None:
                # Before the carrier and the database: the calls it is placing are drained, then it is joined.
                await dispatching.stop()
            else:
                await dispatcher.drain()
            if sending is not None:
                sending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sending
            await sender.aclose()
            for each in platform.providers.values():
                await each.aclose()
            await stack.aclose()
            await db.disconnect()

    app_routes = list(routes)
    if carrier is not None:
        # The sandbox's control API (verification codes, texting as any subscriber) and the demo
        # have no sign-in: loopback clients only, whatever address `serve` listens on.
        app_routes += [*softphone.routes, Mount("/sandbox", app=LoopbackOnly(carrier.app))]
    allowed_hosts = settings.allowed_hosts or request_origin.default_allowed_hosts(settings.public_base_url,
                                                                                   listen_url)
    # The provider webhooks skip the layers below (app/web/webhook_lane.py), doing what they would have done.
    app = CallbackApp(routes=app_routes, exception_handlers={HTTPException: http_error}, lifespan=lifespan,
                      lane=dict(routes=provider_routes, allowed_hosts=allowed_hosts, metrics=measured,
                                on_http_error=http_error))
    app.state.carrier = carrier
    app.state.listen_url = listen_url
    app.state.metrics = measured
    app.add_middleware(request_origin.TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    app.add_middleware(metrics.MetricsMiddleware, metrics=measured)
    return app


app = create_app()
