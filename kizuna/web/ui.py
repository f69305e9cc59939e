"""The web UI: read-only HTML pages under ``/ui/``, served by the hub's own ASGI app.

Every page reads through :meth:`Store.collections_for` and :meth:`Store.query` with the logged-in
organisation, so the sharing policy (``kizuna/hub/policy.py``) filters the UI inside the same database query
as the TAXII API: nothing an organisation may not read can reach a page. Pages are rendered by Jinja2 with
autoescaping (STIX text is untrusted input) and carry a strict Content-Security-Policy; there is no script.

Routes (all under ``/ui``): ``GET /login``, ``POST /login``, ``POST /logout``, ``GET /`` (collections),
``GET /collections/{id}`` (objects, paged), ``GET /collections/{id}/objects/{object_id}`` (versions, JSON).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from kizuna.errors import AuthenticationFailed, InputError, TooManyFailures
from kizuna.hub import policy
from kizuna.hub.auth import Authenticator
from kizuna.hub.models import Collection, Grant, Org, Query, Row, VersionFilter
from kizuna.hub.paging import Cursor, CursorCodec
from kizuna.hub.settings import HubSettings
from kizuna.hub.store.protocols import Store
from kizuna.stix.ids import Clock, format_us, parse_timestamp, to_us
from kizuna.web.charts import Bar, bar_chart
from kizuna.web.security import SecurityHeaders, is_cross_site
from kizuna.web.sessions import DEFAULT_TTL, Sessions
from kizuna.web.summary import UNMARKED, Summary, describe, parse_raw, summarise, tlp_label

PREFIX = "/ui"
COOKIE = "kizuna_session"
#: Largest login form accepted (a token is ~50 characters).
MAX_FORM_BYTES = 16 * 1024
#: Bars of the objects-per-type chart; the remaining types share one "other types" bar.
MAX_TYPE_BARS = 12
#: Versions of one object listed at most.
MAX_VERSIONS = 1000
_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,249}$")


class WebError(Exception):
    """An error the UI answers with an HTML error page."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message


class _NeedLogin(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True, slots=True)
class ObjectRow:
    """One table row of the collection page."""

    id: str
    type: str
    description: str
    tlp: str
    modified: str
    date_added: str
    href: str
    revoked: bool = False
    enforced: str = ""  # for an unmarked object: the TLP the hub enforces on it here


def tlp_css(label: str) -> str:
    """CSS class of a TLP label: ``amber+strict`` -> ``tlp-amber-strict``."""
    return "tlp-" + label.replace("+", "-")


def tlp_text(label: str) -> str:
    """The badge text, as FIRST TLP 2.0 writes it: ``TLP:AMBER+STRICT``; ``unmarked`` stays as it is."""
    return label if label == UNMARKED else "TLP:" + label.upper()


def safe_next(path: str | None) -> str | None:
    """A post-login destination, only if it is a path inside the UI (never another site, never a path that
    climbs out of it: no ``.`` or ``..`` segment, plain or percent-encoded)."""
    if not path or not path.startswith(PREFIX + "/") or "\\" in path or "//" in path:
        return None
    route = unquote(path.split("?", 1)[0].split("#", 1)[0])
    if any(part in (".", "..") for part in route.split("/")) or "\\" in route or "//" in route:
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        return None
    return path


def collection_href(collection_id: str, **params: Any) -> str:
    href = f"{PREFIX}/collections/{quote(collection_id, safe='')}"
    query = urlencode([(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])])
    return href + ("?" + query if query else "")


def object_href(collection_id: str, object_id: str) -> str:
    return f"{PREFIX}/collections/{quote(collection_id, safe='')}/objects/{quote(object_id, safe='')}"


def _version_key(row: Row) -> tuple[int, int]:
    try:
        version_us = to_us(parse_timestamp(row.version)) if row.version else 0
    except ValueError:
        version_us = 0
    return version_us, row.date_added_us


def _access(grant: Grant) -> str:
    return " and ".join(word for word, ok in (("read", grant.can_read), ("write", grant.can_write)) if ok)


class WebUI:
    """The pages of one hub: its store, title, clock and live sessions (no globals)."""

    def __init__(
        self,
        store: Store,
        *,
        title: str,
        clock: Clock,
        cursors: CursorCodec,
        session_ttl: timedelta = DEFAULT_TTL,
        page_size: int = 50,
        max_summary_objects: int = 10_000,
        auth: Authenticator | None = None,
    ) -> None:
        if page_size < 1 or max_summary_objects < 1:
            raise InputError("page_size and max_summary_objects must be positive")
        self.store = store
        self.auth = auth or Authenticator(store, clock)
        self.title = title
        self.cursors = cursors
        self.sessions = Sessions(clock, ttl=session_ttl)
        self.page_size = page_size
        self.max_summary_objects = max_summary_objects
        self.env = Environment(
            loader=PackageLoader("kizuna.web", "templates"),
            autoescape=select_autoescape(("html",), default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["tlp_css"] = tlp_css
        self.env.filters["tlp_text"] = tlp_text
        static = resources.files("kizuna.web") / "static"
        self._static = {
            "kizuna.css": (static.joinpath("kizuna.css").read_bytes(), "text/css; charset=utf-8"),
            "favicon.svg": (static.joinpath("favicon.svg").read_bytes(), "image/svg+xml"),
        }

    # -- the ASGI app mounted at /ui ------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        """Routes to add to the hub's app: ``/ui`` (redirect) and everything under ``/ui/``."""

        async def to_index(request: Request) -> Response:
            return RedirectResponse(PREFIX + "/", status_code=307)

        return [Route(PREFIX, to_index, methods=["GET"]), Mount(PREFIX, app=self.asgi())]

    def asgi(self) -> ASGIApp:
        """The UI's own app (mounted at ``/ui``); the security headers wrap even its 500 pages."""
        app = Starlette(
            routes=[
                Route("/", self.index, methods=["GET"]),
                Route("/login", self.login_form, methods=["GET"]),
                Route("/login", self.login, methods=["POST"]),
                Route("/logout", self.logout, methods=["POST"]),
                Route("/collections/{collection_id}", self.collection, methods=["GET"]),
                Route("/collections/{collection_id}/objects/{object_id}", self.object, methods=["GET"]),
                Route("/static/{name}", self.static, methods=["GET"]),
            ],
            exception_handlers={
                WebError: self._on_web_error,
                _NeedLogin: self._on_need_login,
                HTTPException: self._on_http_error,
                Exception: self._on_unexpected,
            },
        )
        return SecurityHeaders(app)

    # -- rendering and errors -------------------------------------------------------------------------
    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        org = getattr(request.state, "org", None)
        html = self.env.get_template(template).render(
            hub_title=self.title,
            org=org,
            prefix=PREFIX,
            session_hours=f"{self.sessions.ttl.total_seconds() / 3600:g}",
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def _error_page(self, request: Request, status: int, title: str, message: str) -> Response:
        return self.render(request, "error.html", status, status_code=status, title=title, message=message)

    async def _on_web_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WebError)
        return self._error_page(request, exc.status, exc.title, exc.message)

    async def _on_need_login(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _NeedLogin)
        target = f"{PREFIX}/login"
        if exc.next_path != PREFIX + "/":
            target += "?" + urlencode({"next": exc.next_path})
        response = RedirectResponse(target, status_code=303)
        if COOKIE in request.cookies:
            response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    async def _on_http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return self._error_page(request, 404, "Page not found", "There is no such page in the hub's UI.")
        if exc.status_code == 405:
            return self._error_page(request, 405, "Method not allowed", "This page cannot be used that way.")
        return self._error_page(request, exc.status_code, "Request refused", str(exc.detail))

    async def _on_unexpected(self, request: Request, exc: Exception) -> Response:
        return self._error_page(
            request,
            500,
            "Internal error",
            "The hub could not show this page; its operators can check the log.",
        )

    # -- sessions --------------------------------------------------------------------------------------
    async def _require_org(self, request: Request) -> Org:
        """The logged-in organisation, re-checked against the store (revoked tokens end their sessions)."""
        session = self.sessions.get(request.cookies.get(COOKIE))
        next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if session is None:
            raise _NeedLogin(next_path)
        org = await run_in_threadpool(self.auth.session_org, session.key_id)
        if org is None or org.id != session.org_id:
            self.sessions.end(session.id)
            raise _NeedLogin(next_path)
        request.state.org = org
        return org

    async def _form(self, request: Request) -> dict[str, str]:
        if is_cross_site(request.headers.get("sec-fetch-site")):
            raise WebError(403, "Cross-site request refused", "Log in from the hub's own login page.")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise WebError(415, "Unsupported form", "Send the form as application/x-www-form-urlencoded.")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise WebError(413, "Form too large", f"The form exceeds {MAX_FORM_BYTES} bytes.")
        try:
            fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
        except (UnicodeDecodeError, ValueError):
            raise WebError(400, "Malformed form", "The form could not be read.") from None
        return {k: v[0] for k, v in fields.items()}

    # -- pages ----------------------------------------------------------------------------------------
    async def login_form(self, request: Request) -> Response:
        if self.sessions.get(request.cookies.get(COOKIE)) is not None:
            return RedirectResponse(PREFIX + "/", status_code=303)
        return self.render(
            request, "login.html", next_path=safe_next(request.query_params.get("next")), error=None
        )

    async def login(self, request: Request) -> Response:
        form = await self._form(request)
        token = form.get("token", "").strip()
        next_path = safe_next(form.get("next"))
        if not token:
            return self.render(
                request, "login.html", 400, next_path=next_path, error="Paste your organisation's API token."
            )
        source = request.client.host if request.client is not None else "unknown"
        try:
            who = await run_in_threadpool(self.auth.verify_login, token, source)
        except TooManyFailures as exc:
            response = self.render(
                request,
                "login.html",
                429,
                next_path=next_path,
                error=f"Too many failed logins from here. Try again in {exc.retry_after_s} seconds.",
            )
            response.headers["Retry-After"] = str(exc.retry_after_s)
            return response
        except AuthenticationFailed:
            return self.render(
                request,
                "login.html",
                401,
                next_path=next_path,
                error="That token is unknown or has been revoked. Ask your hub's operator for a new one.",
            )
        session = self.sessions.create(who.org.id, who.key_id)
        redirect = RedirectResponse(next_path or PREFIX + "/", status_code=303)
        redirect.set_cookie(
            COOKIE,
            session.id,
            max_age=int(self.sessions.ttl.total_seconds()),
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return redirect

    async def logout(self, request: Request) -> Response:
        if is_cross_site(request.headers.get("sec-fetch-site")):
            raise WebError(403, "Cross-site request refused", "Log out from the hub's own pages.")
        self.sessions.end(request.cookies.get(COOKIE))
        response = RedirectResponse(PREFIX + "/login", status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    async def index(self, request: Request) -> Response:
        org = await self._require_org(request)
        pairs = await run_in_threadpool(self.store.collections_for, org)
        items = []
        for c, g in pairs:
            summary = None
            readable = policy.may_read_collection(g)
            if readable:
                summary = await run_in_threadpool(
                    summarise, self.store, c, org, max_objects=self.max_summary_objects
                )
            items.append(
                {
                    "collection": c,
                    "access": _access(g),
                    "href": collection_href(c.id) if readable else None,
                    "summary": summary,
                }
            )
        return self.render(request, "index.html", items=items)

    async def _readable(self, request: Request, org: Org) -> Collection:
        cid = request.path_params["collection_id"]
        c = await run_in_threadpool(self.store.get_collection, cid)
        g = None if c is None else await run_in_threadpool(self.store.grant, c, org)
        if c is None or not policy.may_see_collection(g):
            raise WebError(404, "Collection not found", f"No collection {cid!r} is available to you.")
        if not policy.may_read_collection(g):
            raise WebError(403, "Collection not readable", "You may post to this collection but not read it.")
        return c

    def _page_cursor(self, c: Collection, org: Org, text: str) -> Cursor:
        try:
            return self.cursors.decode(text, scope=f"ui:{c.id}:{org.id}")
        except InputError:
            raise WebError(
                400, "Bad page link", "This page link is not one the hub made; start again from page 1."
            ) from None

    async def collection(self, request: Request) -> Response:
        org = await self._require_org(request)
        c = await self._readable(request, org)
        types = tuple(sorted({t for t in request.query_params.getlist("type") if t}))
        bad = [t for t in types if not _TYPE_RE.match(t)]
        if bad:
            raise WebError(400, "Bad type filter", f"{bad[0]!r} is not a STIX object type.")
        after_text = request.query_params.get("after")
        after = self._page_cursor(c, org, after_text) if after_text else None
        query = Query(limit=self.page_size, types=types, after=after)
        page = await run_in_threadpool(self.store.query, c, org, query)
        summary = await run_in_threadpool(summarise, self.store, c, org, max_objects=self.max_summary_objects)
        rows = []
        for r in page.rows:
            obj = parse_raw(r.raw)
            rows.append(
                ObjectRow(
                    id=r.id,
                    type=r.type,
                    description=describe(obj),
                    tlp=tlp_label(obj),
                    modified=r.version or "\u2014",
                    date_added=format_us(r.date_added_us),
                    href=object_href(c.id, r.id),
                    revoked=obj.get("revoked") is True,
                    enforced=str(r.tlp),
                )
            )
        filters = {"type": list(types)} if types else {}
        cursor = page.cursor
        next_href = (
            collection_href(c.id, **filters, after=self.cursors.encode(cursor, scope=f"ui:{c.id}:{org.id}"))
            if page.more and cursor is not None
            else None
        )
        first_href = collection_href(c.id, **filters) if after is not None else None
        return self.render(
            request,
            "collection.html",
            collection=c,
            rows=rows,
            types=types,
            all_types=sorted(set(summary.by_type) | set(types)),
            summary=summary,
            type_chart=self._type_chart(c, summary),
            tlp_chart=self._tlp_chart(summary),
            next_href=next_href,
            first_href=first_href,
            page_size=self.page_size,
            self_href=collection_href(c.id),
            unmarked_hint="no TLP marking of its own; the hub enforces it here as ",
        )

    def _type_chart(self, c: Collection, summary: Summary) -> Any:
        counts = summary.type_counts()
        bars = [Bar(t, n, "bar", collection_href(c.id, type=t)) for t, n in counts[:MAX_TYPE_BARS]]
        rest = counts[MAX_TYPE_BARS:]
        if rest:
            bars.append(Bar(f"{len(rest)} other types", sum(n for _, n in rest), "bar bar-other"))
        return bar_chart(bars, title="Objects per type (latest versions)", chart_id="chart-types")

    def _tlp_chart(self, summary: Summary) -> Any:
        bars = [Bar(tlp_text(label), n, "bar " + tlp_css(label)) for label, n in summary.tlp_counts()]
        return bar_chart(bars, title="Objects per TLP marking (latest versions)", chart_id="chart-tlp")

    async def object(self, request: Request) -> Response:
        org = await self._require_org(request)
        c = await self._readable(request, org)
        object_id = request.path_params["object_id"]
        query = Query(ids=(object_id,), versions=VersionFilter(all=True), limit=MAX_VERSIONS)
        page = await run_in_threadpool(self.store.query, c, org, query)
        if not page.rows:
            raise WebError(
                404, "Object not found", f"No object {object_id!r} is available to you in this collection."
            )
        ordered = sorted(page.rows, key=_version_key, reverse=True)
        chosen = ordered[0]
        wanted = request.query_params.get("added")
        if wanted is not None:
            match = [r for r in ordered if str(r.date_added_us) == wanted]
            if not match:
                raise WebError(404, "Version not found", "That version is not available to you.")
            chosen = match[0]
        versions = []
        for r in ordered:
            obj = parse_raw(r.raw)
            versions.append(
                {
                    "modified": r.version or "\u2014",
                    "date_added": format_us(r.date_added_us),
                    "tlp": tlp_label(obj),
                    "href": object_href(c.id, object_id) + f"?added={r.date_added_us}",
                    "chosen": r is chosen,
                }
            )
        obj = parse_raw(chosen.raw)
        return self.render(
            request,
            "object.html",
            collection=c,
            collection_link=collection_href(c.id),
            object_id=object_id,
            object_type=chosen.type,
            description=describe(obj),
            tlp=tlp_label(obj),
            versions=versions,
            more_versions=page.more,
            pretty_json=json.dumps(obj, indent=2, ensure_ascii=False),
        )

    async def static(self, request: Request) -> Response:
        found = self._static.get(request.path_params["name"])
        if found is None:
            raise WebError(404, "Not found", "There is no such file.")
        body, media_type = found
        return Response(body, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})


def web_routes(
    store: Store,
    settings: HubSettings,
    *,
    clock: Clock,
    cursors: CursorCodec,
    auth: Authenticator | None = None,
) -> list[BaseRoute]:
    """The UI's routes for the hub's app (``create_app`` adds them to its route list)."""
    return WebUI(store, title=settings.title, clock=clock, cursors=cursors, auth=auth).routes()
