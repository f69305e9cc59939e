"""What every page of the web UI shares: the store, sessions, rendering, forms, links and errors.

Every page reads through the store's policy-filtered read interface with the signed-in organisation
(:meth:`Store.query` and :class:`~kizuna.hub.store.protocols.ReadIndex`); nothing here opens a database.
Writes go through :func:`kizuna.hub.intake.accept`, as a TAXII POST does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from kizuna.hub import intake, policy
from kizuna.hub.auth import Authenticator
from kizuna.hub.models import Collection, Grant, Org
from kizuna.hub.paging import Cursor, CursorCodec
from kizuna.hub.reads import Hit, Source, Version
from kizuna.hub.store.protocols import Store
from kizuna.stix.ids import Clock, format_us, is_stix_id
from kizuna.web.cache import ReadCache
from kizuna.web.errors import BadParameter, FormRefused, NeedLogin, WebError
from kizuna.web.params import Params
from kizuna.web.security import origin_ok, own_origin
from kizuna.web.sessions import DEFAULT_TTL, Session, Sessions, csrf_ok
from kizuna.web.summary import UNMARKED, describe, parse_raw, tlp_label

T = TypeVar("T")

PREFIX = "/ui"
COOKIE = "kizuna_session"
#: Largest urlencoded form accepted.
MAX_FORM_BYTES = 64 * 1024
#: Largest uploaded bundle.
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
#: Page sizes a list may be asked for.
PAGE_SIZES = ("50", "100", "500")


def tlp_css(label: str) -> str:
    """CSS class of a TLP label: ``amber+strict`` -> ``tlp-amber-strict``."""
    return "tlp-" + label.replace("+", "-")


def tlp_text(label: str) -> str:
    """The badge text, as FIRST TLP 2.0 writes it: ``TLP:AMBER+STRICT``; ``unmarked`` stays as it is."""
    return label if label == UNMARKED else "TLP:" + label.upper()


def safe_next(path: str | None) -> str | None:
    """A post-sign-in destination, only if it is a path inside the UI (never another site, never a path
    that climbs out of it: no ``.`` or ``..`` segment, plain or percent-encoded)."""
    if not path or not path.startswith(PREFIX + "/") or "\\" in path or "//" in path:
        return None
    route = unquote(path.split("?", 1)[0].split("#", 1)[0])
    if any(part in (".", "..") for part in route.split("/")) or "\\" in route or "//" in route:
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        return None
    return path


def href(path: str, **params: Any) -> str:
    """A UI link: ``path`` under ``/ui`` with query parameters (lists repeat; None and "" are left out)."""
    pairs: list[tuple[str, str]] = []
    for k, vs in params.items():
        for v in vs if isinstance(vs, list | tuple) else [vs]:
            if v is not None and v != "":
                pairs.append((k, str(v)))
    query = urlencode(pairs)
    return PREFIX + path + ("?" + query if query else "")


def q(text: str) -> str:
    return quote(text, safe="")


def collection_href(collection_id: str, **params: Any) -> str:
    return href(f"/collections/{q(collection_id)}", **params)


def object_href(object_id: str, **params: Any) -> str:
    return href(f"/objects/{q(object_id)}/", **params)


def source_text(source: Source) -> str:
    if source.kind == "peer":
        return f"{source.name} (partner hub)"
    return source.name


def access_text(grant: Grant) -> str:
    words = [
        w for w, ok in (("read", policy.may_read_collection(grant)), ("write", policy.may_write(grant))) if ok
    ]
    return " and ".join(words)


def not_found(object_id: str) -> WebError:
    """The one answer for an id that does not exist and for one the reader may not read."""
    return WebError(404, "Object not found", f"No object {object_id!r} is available to you.")


class UiBase:
    """The parts of :class:`~kizuna.web.ui.WebUI` every page uses."""

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
        self.store = store
        self.auth = auth or Authenticator(store, clock)
        self.title = title
        self.clock = clock
        self.cursors = cursors
        self.new_id = new_id
        self.sessions = Sessions(store, clock, ttl=session_ttl)
        self.page_size = page_size
        self.max_summary_objects = max_summary_objects
        self.cache = ReadCache(store)
        self.env = Environment(
            loader=PackageLoader("kizuna.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["tlp_css"] = tlp_css
        self.env.filters["tlp_text"] = tlp_text
        self.env.filters["source_text"] = source_text
        self.env.filters["when"] = lambda us: "\u2014" if us is None else format_us(int(us))
        self.env.filters["day"] = lambda us: "\u2014" if us is None else format_us(int(us))[:10]
        self.env.filters["thousands"] = lambda n: f"{n:,}"
        self.env.globals["object_href"] = object_href
        self.env.globals["collection_href"] = collection_href
        self.env.globals["href"] = href
        static = resources.files("kizuna.web").joinpath("static")
        self._static = {
            name: (static.joinpath(name).read_bytes(), media)
            for name, media in (
                ("kizuna.css", "text/css; charset=utf-8"),
                ("favicon.svg", "image/svg+xml"),
                ("copy.js", "text/javascript; charset=utf-8"),
            )
        }

    # -- threads ----------------------------------------------------------------------------------------
    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call off the event loop."""
        return await run_in_threadpool(fn, *args, **kwargs)

    # -- rendering --------------------------------------------------------------------------------------
    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        org: Org | None = getattr(request.state, "org", None)
        session: Session | None = getattr(request.state, "session", None)
        html = self.env.get_template(template).render(
            hub_title=self.title,
            org=org,
            is_admin=org is not None and policy.may_administer(org),
            csrf=None if session is None else session.csrf,
            prefix=PREFIX,
            here=request.url.path,
            session_hours=f"{self.sessions.ttl.total_seconds() / 3600:g}",
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def error_page(self, request: Request, status: int, title: str, message: str) -> Response:
        return self.render(request, "error.html", status, status_code=status, title=title, message=message)

    # -- sessions ---------------------------------------------------------------------------------------
    async def require_org(self, request: Request) -> Org:
        """The signed-in organisation, re-checked against the store (revoked tokens end their sessions)."""
        session = await self.run(self.sessions.get, request.cookies.get(COOKIE))
        next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if session is None:
            raise NeedLogin(next_path)
        org = await self.run(self.auth.session_org, session.key_id)
        if org is None or org.id != session.org_id:
            await self.run(self.sessions.end, session.id)
            raise NeedLogin(next_path)
        request.state.org = org
        request.state.session = session
        return org

    async def session_org(self, request: Request) -> Org | None:
        """The signed-in organisation, or None (pages that also serve visitors)."""
        try:
            return await self.require_org(request)
        except NeedLogin:
            return None

    def params(self, request: Request) -> Params:
        return Params.of(parse_qsl(request.url.query, keep_blank_values=True, max_num_fields=200))

    # -- forms ------------------------------------------------------------------------------------------
    async def raw_form(self, request: Request, *, limit: int = MAX_FORM_BYTES) -> list[tuple[str, str]]:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise WebError(415, "Unsupported form", "Send the form as application/x-www-form-urlencoded.")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise WebError(413, "Form too large", f"The form exceeds {limit} bytes.")
        try:
            return parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, max_num_fields=50, strict_parsing=False
            )
        except (UnicodeDecodeError, ValueError):
            raise WebError(400, "Malformed form", "The form could not be read.") from None

    def check_post(self, request: Request, fields: Sequence[tuple[str, str]]) -> None:
        """A signed-in form post must carry its session's CSRF token and come from the hub's own pages;
        otherwise :class:`FormRefused` (403, with what was typed; the session stays)."""
        session: Session = request.state.session
        expected = own_origin(request.url.scheme, request.headers.get("host"))
        submitted = [v for k, v in fields if k == "csrf"]
        typed = [(k, v) for k, v in fields if k != "csrf"]
        if not origin_ok(request.headers.get("origin"), request.headers.get("sec-fetch-site"), expected):
            raise FormRefused(
                "the form did not come from this hub's own pages (its Origin is not this hub's)",
                request.url.path,
                typed,
            )
        if len(submitted) != 1 or not csrf_ok(session, submitted[0]):
            raise FormRefused(
                "the form's security token is missing or is not this session's (it may come from another"
                " tab or an older sign-in)",
                request.url.path,
                typed,
            )

    async def form(self, request: Request) -> Params:
        """A signed-in urlencoded form, checked (CSRF token and origin)."""
        fields = await self.raw_form(request)
        self.check_post(request, fields)
        return Params.of([(k, v) for k, v in fields if k != "csrf"])

    # -- collections and cursors ------------------------------------------------------------------------
    async def collections(self, org: Org) -> list[tuple[Collection, Grant]]:
        return await self.run(self.store.collections_for, org)

    async def readable_collection(self, org: Org, cid: str, *, name: str = "collection") -> Collection:
        """A collection the organisation may read; 404 (as for a missing one) when it may not see it."""
        c = await self.run(self.store.get_collection, cid)
        g = None if c is None else await self.run(self.store.grant, c, org)
        if c is None or not policy.may_see_collection(g):
            raise WebError(404, "Collection not found", f"No collection {cid!r} is available to you.")
        if not policy.may_read_collection(g):
            raise WebError(403, "Collection not readable", "You may post to this collection but not read it.")
        return c

    async def writable_collections(self, org: Org) -> list[Collection]:
        return [c for c, g in await self.collections(org) if policy.may_write(g)]

    def cursor(self, params: Params, name: str, scope: str) -> Cursor | None:
        text = params.one(name)
        if text is None:
            return None
        try:
            return self.cursors.decode(text, scope=scope)
        except ValueError:
            raise BadParameter(
                name, "this page link is not one the hub made here; start again from page 1"
            ) from None

    def page_size_of(self, params: Params) -> int:
        return int(
            params.choice(
                "size", PAGE_SIZES, str(self.page_size if str(self.page_size) in PAGE_SIZES else 50)
            )
        )

    # -- objects ----------------------------------------------------------------------------------------
    def object_id(self, request: Request) -> str:
        oid = str(request.path_params["object_id"])
        if not is_stix_id(oid):
            raise not_found(oid)
        return oid

    async def readable_versions(self, org: Org, object_id: str, c: Collection | None = None) -> list[Version]:
        """Every version of the object the organisation may read; 404 (as for a missing id) when none."""
        versions = await self.run(self.store.versions, org, object_id, c)
        if not versions:
            raise not_found(object_id)
        return versions

    # -- what a row shows -------------------------------------------------------------------------------
    def row_view(self, hit: Hit) -> dict[str, Any]:
        obj = parse_raw(hit.row.raw)
        lang = obj.get("lang") if isinstance(obj.get("lang"), str) else None
        return {
            "id": hit.row.id,
            "type": hit.row.type,
            "description": describe(obj),
            "tlp": tlp_label(obj),
            "enforced": hit.row.tlp.label,
            "modified": hit.row.version or "\u2014",
            "date_added": format_us(hit.row.date_added_us),
            "href": object_href(hit.row.id),
            "revoked": hit.revoked,
            "collection": hit.collection,
            "source": hit.source,
            "origin_hub": hit.row.origin_hub,
            "lang": lang,
        }

    async def audit_download(self, org: Org, what: str, detail: dict[str, object]) -> None:
        """Every download is audited (who, what)."""
        await self.run(
            self.store.append_audit, policy.org_origin(org), "ui.download", {"what": what, **detail}
        )

    def static_response(self, name: str) -> Response:
        found = self._static.get(name)
        if found is None:
            raise WebError(404, "Not found", "There is no such file.")
        body, media_type = found
        return Response(body, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})


def pretty_json(obj: object, *, limit: int) -> tuple[str, bool]:
    """The object pretty-printed, cut at ``limit`` characters (True when cut)."""
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    if len(text) <= limit:
        return text, False
    return text[:limit], True


def mark(text: str) -> Markup:
    return Markup(text)
