"""The hub's composition root: ``create_app(settings, store, *, clock, new_id)`` builds its ASGI app.

It mounts the TAXII 2.1 API and its change stream (``kizuna.hub.taxii``) and the web UI (``kizuna.web``);
neither knows the other.
No global state and no work at import time, so tests can run two hubs in one process and benchmarks can
build one without a network.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from kizuna.hub.auth import Authenticator
from kizuna.hub.checkpool import CheckPool
from kizuna.hub.intake import IdFactory
from kizuna.hub.metrics import HubMetrics
from kizuna.hub.middleware import HubMiddleware
from kizuna.hub.paging import CursorCodec
from kizuna.hub.settings import HubSettings
from kizuna.hub.store.protocols import Store
from kizuna.hub.taxii.errors import error_handlers
from kizuna.hub.taxii.routes import TaxiiApi
from kizuna.hub.taxii.stream import stream_routes
from kizuna.stix.ids import Clock, utc_now
from kizuna.web import web_routes


async def _to_web_ui(request: Request) -> Response:
    return RedirectResponse("/ui/", status_code=303)


def create_app(
    settings: HubSettings, store: Store, *, clock: Clock = utc_now, new_id: IdFactory = uuid.uuid4
) -> ASGIApp:
    """Build the hub's ASGI app over ``store``: the TAXII API and its change stream, the web UI under
    ``/ui``, ``/`` redirecting to it, ``/healthz`` and (with a metrics token) ``/metrics``, all inside
    :class:`HubMiddleware` (request ids, access log, credentials in URLs refused, HSTS under TLS).
    ``clock`` and ``new_id`` (write and status ids) are injected, never patched. Streams wake on the
    store's commit notifications; a process whose store is also written by other processes starts
    ``store.watch_changes()`` beside the app (``kizuna hub serve`` does)."""
    cursors = CursorCodec(store.cursor_key())
    auth = Authenticator(store, clock, settings.auth_limits)
    checker = CheckPool(settings.check_processes)
    taxii = TaxiiApi(settings, store, clock=clock, new_id=new_id, cursors=cursors, auth=auth, checker=checker)
    routes = [
        Route("/", _to_web_ui, methods=["GET"]),
        *taxii.routes(),
        *stream_routes(taxii),
        *web_routes(store, settings, clock=clock, cursors=cursors, new_id=new_id, auth=auth),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        checker.start()  # the check pool's processes start with the app (in the background)...
        yield
        checker.close()  # ...and end with it

    app = Starlette(
        routes=routes,
        exception_handlers=error_handlers(),  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    metrics = HubMetrics(store, clock) if settings.metrics_token else None
    return HubMiddleware(
        app, store, metrics=metrics, metrics_token=settings.metrics_token, hsts=settings.hsts
    )
