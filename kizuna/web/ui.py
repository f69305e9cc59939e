"""The web UI: HTML pages under ``/ui/``, served by the hub's own ASGI app.

Every page reads through the store's policy-filtered read interface with the signed-in organisation
(:meth:`Store.query` and :class:`~kizuna.hub.store.protocols.ReadIndex`), so the sharing policy
(``kizuna/hub/policy.py``) filters the UI inside the same database queries as the TAXII API: nothing an
organisation may not read can reach a page, a count, a chart or a download. Every write (a sighting, a note,
an opinion, a revocation, an uploaded bundle) goes through :func:`kizuna.hub.intake.accept`, exactly as a
TAXII POST does. Pages are rendered by Jinja2 with autoescaping (STIX text is untrusted input) under a strict
Content-Security-Policy, and work without script. ``docs/web.md`` describes every page.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from kizuna.errors import AuthenticationFailed, TooManyFailures
from kizuna.hub import intake, policy
from kizuna.hub.auth import Authenticator
from kizuna.hub.paging import CursorCodec
from kizuna.hub.settings import HubSettings
from kizuna.hub.store.protocols import Store
from kizuna.stix.ids import Clock
from kizuna.web.actions import ActionPages
from kizuna.web.admin import AdminPages
from kizuna.web.base import COOKIE, PREFIX, access_text, collection_href, safe_next
from kizuna.web.disagreements import DisagreementPages
from kizuna.web.errors import FormRefused, NeedLogin, WebError
from kizuna.web.minerals import MineralsPages
from kizuna.web.objects import ObjectPages
from kizuna.web.search import SearchPages
from kizuna.web.security import SecurityHeaders, is_cross_site, origin_ok, own_origin
from kizuna.web.sessions import DEFAULT_TTL
from kizuna.web.sightings import SightingPages
from kizuna.web.space import SpacePages
from kizuna.web.summary import tlp_counts

__all__ = ["WebError", "WebUI", "web_routes"]


class WebUI(
    SearchPages,
    ObjectPages,
    DisagreementPages,
    SightingPages,
    SpacePages,
    MineralsPages,
    ActionPages,
    AdminPages,
):
    """The pages of one hub: its store, title, clock, cursor codec and sessions (no globals)."""

    def __init__(
        self,
        store: Store,
        *,
        title: str,
        clock: Clock,
        cursors: CursorCodec,
        new_id: intake.IdFactory = uuid.uuid4,
        session_ttl: timedelta = DEFAULT_TTL,
        page_size: int = 50,
        max_summary_objects: int = 10_000,
        auth: Authenticator | None = None,
    ) -> None:
        super().__init__(
            store,
            title=title,
            clock=clock,
            cursors=cursors,
            new_id=new_id,
            session_ttl=session_ttl,
            page_size=page_size,
            max_summary_objects=max_summary_objects,
            auth=auth,
        )
        self.init_space()
        self.init_admin()

    # -- the ASGI app mounted at /ui --------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        """Routes to add to the hub's app: ``/ui`` (redirect) and everything under ``/ui/``."""

        async def to_index(request: Request) -> Response:
            return RedirectResponse(PREFIX + "/", status_code=307)

        return [Route(PREFIX, to_index, methods=["GET"]), Mount(PREFIX, app=self.asgi())]

    def page_routes(self) -> list[Route]:
        """Every route of the UI (the policy crawl test walks this list, so no page can be missed)."""
        return [
            Route("/", self.index, methods=["GET"]),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/search", self.search_page, methods=["GET"]),
            Route("/collections/{collection_id}", self.collection, methods=["GET"]),
            Route(
                "/collections/{collection_id}/objects/{object_id}", self.collection_object, methods=["GET"]
            ),
            Route("/objects/{object_id}", self.object_redirect, methods=["GET"]),
            Route("/objects/{object_id}/", self.object_page, methods=["GET"]),
            Route("/objects/{object_id}/json", self.object_json, methods=["GET"]),
            Route("/objects/{object_id}/diff", self.object_diff, methods=["GET"]),
            Route("/objects/{object_id}/sighting", self.post_sighting, methods=["POST"]),
            Route("/objects/{object_id}/note", self.post_note, methods=["POST"]),
            Route("/objects/{object_id}/opinion", self.post_opinion, methods=["POST"]),
            Route("/objects/{object_id}/revoke", self.post_revoke, methods=["POST"]),
            Route("/disagreements/", self.disagreements, methods=["GET"]),
            Route("/disagreements/{key}", self.disagreement, methods=["GET"]),
            Route("/sightings/", self.sightings, methods=["GET"]),
            Route("/space/conjunctions/", self.conjunctions_page, methods=["GET"]),
            Route("/space/conjunctions/{object_id}", self.conjunction_page, methods=["GET"]),
            Route("/space/conjunctions/{object_id}/cdm", self.conjunction_cdm, methods=["GET"]),
            Route("/minerals/", self.minerals_page, methods=["GET"]),
            Route("/minerals/{object_id}", self.assessment_page, methods=["GET"]),
            Route("/minerals/{object_id}/csv", self.assessment_csv, methods=["GET"]),
            Route("/upload", self.upload_form, methods=["GET"]),
            Route("/upload", self.upload, methods=["POST"]),
            Route("/admin/audit/", self.audit_page, methods=["GET"]),
            Route("/admin/audit.csv", self.audit_csv, methods=["GET"]),
            Route("/admin/peers/", self.peers_page, methods=["GET"]),
            Route("/static/{name}", self.static, methods=["GET"]),
        ]

    def asgi(self) -> ASGIApp:
        """The UI's own app (mounted at ``/ui``); the security headers wrap even its 500 pages."""
        app = Starlette(
            routes=self.page_routes(),
            exception_handlers={
                WebError: self._on_web_error,
                NeedLogin: self._on_need_login,
                FormRefused: self._on_form_refused,
                HTTPException: self._on_http_error,
                Exception: self._on_unexpected,
            },
        )
        return SecurityHeaders(app)

    # -- errors -----------------------------------------------------------------------------------------
    async def _on_web_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WebError)
        return self.error_page(request, exc.status, exc.title, exc.message)

    async def _on_need_login(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NeedLogin)
        target = f"{PREFIX}/login"
        if exc.next_path != PREFIX + "/" and request.method == "GET":
            target += "?" + urlencode({"next": exc.next_path})
        response = RedirectResponse(target, status_code=303)
        if COOKIE in request.cookies:
            response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    async def _on_form_refused(self, request: Request, exc: Exception) -> Response:
        """403 saying what happened, with what the user typed and a fresh token to send it again; the
        session is left as it is (nobody is signed out)."""
        assert isinstance(exc, FormRefused)
        return self.render(
            request,
            "refused.html",
            403,
            reason=exc.reason,
            action=exc.action,
            fields=[(k, v) for k, v in exc.fields if len(k) <= 40][:40],
        )

    async def _on_http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return self.error_page(request, 404, "Page not found", "There is no such page in the hub's UI.")
        if exc.status_code == 405:
            return self.error_page(request, 405, "Method not allowed", "This page cannot be used that way.")
        return self.error_page(request, exc.status_code, "Request refused", str(exc.detail))

    async def _on_unexpected(self, request: Request, exc: Exception) -> Response:
        return self.error_page(
            request,
            500,
            "Internal error",
            "The hub could not show this page; its operators can check the log.",
        )

    # -- signing in and out -----------------------------------------------------------------------------
    async def login_form(self, request: Request) -> Response:
        if await self.run(self.sessions.get, request.cookies.get(COOKIE)) is not None:
            return RedirectResponse(PREFIX + "/", status_code=303)
        nxt = safe_next(self.params(request).one("next"))
        return self.render(request, "login.html", next_path=nxt, error=None)

    async def login(self, request: Request) -> Response:
        expected = own_origin(request.url.scheme, request.headers.get("host"))
        origin = request.headers.get("origin")
        if is_cross_site(request.headers.get("sec-fetch-site")) or (
            origin and origin != "null" and not origin_ok(origin, None, expected)
        ):
            raise WebError(403, "Cross-site request refused", "Sign in from the hub's own sign-in page.")
        fields = dict(await self.raw_form(request, limit=16 * 1024))
        token = fields.get("token", "").strip()
        next_path = safe_next(fields.get("next"))
        if not token:
            return self.render(
                request, "login.html", 400, next_path=next_path, error="Paste your organisation's API token."
            )
        source = request.client.host if request.client is not None else "unknown"
        try:
            who = await self.run(self.auth.verify_login, token, source)  # failures are counted and audited
        except TooManyFailures as exc:
            refused = self.render(
                request,
                "login.html",
                429,
                next_path=next_path,
                error=f"Too many failed sign-ins from here. Try again in {exc.retry_after_s} seconds.",
            )
            refused.headers["Retry-After"] = str(exc.retry_after_s)
            return refused
        except AuthenticationFailed:
            return self.render(
                request,
                "login.html",
                401,
                next_path=next_path,
                error="That token is unknown or has been revoked. Ask your hub's operator for a new one.",
            )
        org = who.org
        session = await self.run(self.sessions.create, org.id, who.key_id)
        await self.run(self.store.append_audit, policy.org_origin(org), "ui.sign-in", {"org": org.name})
        response = RedirectResponse(next_path or PREFIX + "/", status_code=303)
        response.set_cookie(
            COOKIE,
            session.id,
            max_age=int(self.sessions.ttl.total_seconds()),
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(self, request: Request) -> Response:
        if is_cross_site(request.headers.get("sec-fetch-site")):
            raise WebError(403, "Cross-site request refused", "Sign out from the hub's own pages.")
        org = await self.session_org(request)
        if org is not None:
            await self.form(request)  # CSRF token and origin: a page elsewhere cannot sign anyone out
            await self.run(self.sessions.end, request.cookies.get(COOKIE))
            await self.run(self.store.append_audit, policy.org_origin(org), "ui.sign-out", {"org": org.name})
        response = RedirectResponse(PREFIX + "/login", status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    # -- the collections ----------------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        org = await self.require_org(request)
        items = []
        for c, g in await self.collections(org):
            tally = None
            readable = policy.may_read_collection(g)
            if readable:
                tally = await self.run(self.tally, c, org)
            items.append(
                {
                    "collection": c,
                    "access": access_text(g),
                    "href": collection_href(c.id) if readable else None,
                    "tally": tally,
                    "tlp_counts": tlp_counts(tally.by_tlp) if tally else [],
                }
            )
        return self.render(request, "index.html", items=items)

    async def static(self, request: Request) -> Response:
        return self.static_response(request.path_params["name"])


def web_routes(
    store: Store,
    settings: HubSettings,
    *,
    clock: Clock,
    cursors: CursorCodec,
    new_id: intake.IdFactory = uuid.uuid4,
    auth: Authenticator | None = None,
) -> list[BaseRoute]:
    """The UI's routes for the hub's app (``create_app`` adds them to its route list)."""
    ui = WebUI(store, title=settings.title, clock=clock, cursors=cursors, new_id=new_id, auth=auth)
    return ui.routes()
