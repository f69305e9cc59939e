"""The hub's composition root: ``create_app(settings, store, *, clock, new_id)`` builds its ASGI app.

It mounts the TAXII 2.1 API (``kizuna.hub.taxii``) and the web UI (``kizuna.web``); neither knows the other.
No global state and no work at import time, so tests can run two hubs in one process and benchmarks can
build one without a network.
"""

from __future__ import annotations

import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from kizuna.hub.intake import IdFactory
from kizuna.hub.paging import CursorCodec
from kizuna.hub.settings import HubSettings
from kizuna.hub.store.protocols import Store
from kizuna.hub.taxii.errors import error_handlers
from kizuna.hub.taxii.routes import taxii_routes
from kizuna.stix.ids import Clock, utc_now
from kizuna.web import web_routes


async def _to_web_ui(request: Request) -> Response:
    return RedirectResponse("/ui/", status_code=303)


def create_app(
    settings: HubSettings, store: Store, *, clock: Clock = utc_now, new_id: IdFactory = uuid.uuid4
) -> Starlette:
    """Build the hub's ASGI app over ``store``: the TAXII API, the web UI under ``/ui``, ``/`` redirecting
    to it. ``clock`` and ``new_id`` (write and status ids) are injected, never patched."""
    cursors = CursorCodec(store.cursor_key())
    routes = [
        Route("/", _to_web_ui, methods=["GET"]),
        *taxii_routes(settings, store, clock=clock, new_id=new_id, cursors=cursors),
        *web_routes(store, settings, clock=clock, cursors=cursors, new_id=new_id),
    ]
    return Starlette(routes=routes, exception_handlers=error_handlers())  # type: ignore[arg-type]
