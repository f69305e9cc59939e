"""The TAXII 2.1 API as an ASGI app: ``create_app(settings, store)``; no global state, no import-time work.

Endpoints (TAXII 2.1 OS, section 4): discovery ``/taxii2/``; API root ``/api/``; status; collections;
collection; objects (GET, POST); object (GET, DELETE); manifest; versions. Every response carries
``application/taxii+json;version=2.1``; every error body is the TAXII error message resource.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, replace
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from kizuna.hub import policy
from kizuna.hub.auth import WWW_AUTHENTICATE, hash_token, parse_authorization
from kizuna.hub.ingest import prepare
from kizuna.hub.models import Collection, Grant, Org, Page, Query, StatusRecord, VersionFilter
from kizuna.hub.routing import route_sightings
from kizuna.hub.store.base import Store
from kizuna.hub.store.sqlite import format_us, to_us
from kizuna.stix.ids import Clock, format_timestamp, parse_timestamp, utc_now
from kizuna.web import web_routes

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"


@dataclass(frozen=True, slots=True)
class HubSettings:
    title: str = "kizuna hub"
    description: str = "A kizuna exchange hub (TAXII 2.1)."
    contact: str = ""
    api_root: str = "api"
    max_content_length: int = 64 * 1024 * 1024
    default_page_size: int = 1000
    max_page_size: int = 10_000


class TaxiiError(Exception):
    """An error the API reports with a TAXII error message resource."""

    def __init__(self, status: int, title: str, description: str = "", headers: dict[str, str] | None = None):
        super().__init__(title)
        self.status = status
        self.title = title
        self.description = description
        self.headers = headers or {}


def _error_response(
    status: int, title: str, description: str = "", headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"title": title, "http_status": str(status)}
    if description:
        body["description"] = description
    return Response(orjson.dumps(body), status_code=status, media_type=TAXII_MEDIA_TYPE, headers=headers)


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=TAXII_MEDIA_TYPE, headers=headers)


# -- request parsing ----------------------------------------------------------------------------------
def _media_ok(header: str | None, *, for_accept: bool) -> bool:
    """Is ``header`` (Accept or Content-Type) compatible with TAXII 2.1 JSON?"""
    if header is None or not header.strip():
        return for_accept
    for item in header.split(","):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        version = params.get("version", "").strip().strip('"')
        quality = params.get("q", "1").strip()
        if for_accept and quality in ("0", "0.0", "0.00", "0.000"):
            continue
        if media == "application/taxii+json" and version in ("", "2.1"):
            return True
        if for_accept and media in ("*/*", "application/*"):
            return True
        if not for_accept:
            return False
    return False


def _csv(request: Request, name: str) -> tuple[str, ...]:
    values = request.query_params.getlist(name)
    return tuple(v.strip() for raw in values for v in raw.split(",") if v.strip())


def _timestamp_us(text: str, name: str) -> int:
    try:
        return to_us(parse_timestamp(text))
    except ValueError:
        raise TaxiiError(400, f"invalid {name}", f"{text!r} is not an RFC 3339 UTC timestamp") from None


def _encode_next(date_added_us: int, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{date_added_us}.{seq}".encode()).decode().rstrip("=")


def _decode_next(token: str) -> tuple[int, int]:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        a, b = text.split(".")
        return int(a), int(b)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise TaxiiError(400, "invalid next", "the 'next' value is not one this server issued") from None


def _query(request: Request, settings: HubSettings, *, default_version: str = "last") -> Query:
    qp = request.query_params
    added_after = qp.get("added_after")
    limit = settings.default_page_size
    if "limit" in qp:
        try:
            limit = int(qp["limit"])
        except ValueError:
            raise TaxiiError(400, "invalid limit", "limit must be a positive integer") from None
        if limit < 1:
            raise TaxiiError(400, "invalid limit", "limit must be a positive integer")
    limit = min(limit, settings.max_page_size)
    versions = _csv(request, "match[version]") or (default_version,)
    at: list[int] = []
    for v in versions:
        if v not in ("last", "first", "all"):
            at.append(_timestamp_us(v, "match[version]"))
    spec_versions = _csv(request, "match[spec_version]")
    unknown = [s for s in spec_versions if s not in ("2.0", "2.1")]
    if unknown:
        raise TaxiiError(400, "invalid match[spec_version]", f"unsupported value(s): {', '.join(unknown)}")
    return Query(
        added_after_us=None if added_after is None else _timestamp_us(added_after, "added_after"),
        limit=limit,
        after=None if "next" not in qp else _decode_next(qp["next"]),
        ids=_csv(request, "match[id]"),
        types=_csv(request, "match[type]"),
        versions=VersionFilter(
            last="last" in versions, first="first" in versions, all="all" in versions, at_us=tuple(at)
        ),
        spec_versions=spec_versions,
    )


def _page_headers(page: Page) -> dict[str, str]:
    if not page.rows:
        return {}
    return {
        "X-TAXII-Date-Added-First": format_us(page.rows[0].date_added_us),
        "X-TAXII-Date-Added-Last": format_us(page.rows[-1].date_added_us),
    }


def _page_prefix(page: Page) -> bytes:
    if page.more:
        last = page.rows[-1]
        return b'{"more":true,"next":"' + _encode_next(last.date_added_us, last.seq).encode() + b'"'
    return b'{"more":false'


def _version_text(row_version: str, date_added_us: int) -> str:
    return row_version or format_us(date_added_us)


class _Api:
    """The handlers of one hub; holds its settings, store and clock (no globals)."""

    def __init__(self, settings: HubSettings, store: Store, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.root = "/" + settings.api_root.strip("/") + "/"

    # -- guards -------------------------------------------------------------------------------------
    async def authenticate(self, request: Request) -> Org:
        creds = parse_authorization(request.headers.get("authorization"))
        if creds is None:
            raise TaxiiError(
                401,
                "authentication required",
                "send 'Authorization: Bearer TOKEN' or HTTP Basic (organisation, token)",
                {"WWW-Authenticate": WWW_AUTHENTICATE},
            )
        org = await run_in_threadpool(self.store.org_for_token, hash_token(creds.token))
        if org is None or (creds.user is not None and creds.user != org.name):
            raise TaxiiError(
                401,
                "invalid credentials",
                "the token is unknown or revoked, or the user does not match it",
                {"WWW-Authenticate": WWW_AUTHENTICATE},
            )
        if not _media_ok(request.headers.get("accept"), for_accept=True):
            raise TaxiiError(406, "not acceptable", f"this server answers with {TAXII_MEDIA_TYPE}")
        return org

    async def collection_for(self, request: Request, org: Org, *, write: bool = False) -> Collection:
        """The path's collection if ``org`` may read (or ``write``) it; 404 when it has no grant at all."""
        c, g = await self._collection_grant(request, org)
        if write and not g.can_write:
            raise TaxiiError(403, "forbidden", "you may not write to this collection")
        if not write and not g.can_read:
            raise TaxiiError(403, "forbidden", "you may not read this collection")
        return c

    async def _collection_grant(self, request: Request, org: Org) -> tuple[Collection, Grant]:
        cid = request.path_params["collection_id"]
        c = await run_in_threadpool(self.store.get_collection, cid)
        g = None if c is None else await run_in_threadpool(self.store.grant, c.id, org.id)
        if c is None or g is None:
            raise TaxiiError(404, "collection not found", f"no collection {cid!r} is available to you")
        return c, g

    # -- discovery, API root, collections -----------------------------------------------------------
    async def discovery(self, request: Request) -> Response:
        await self.authenticate(request)
        url = str(request.base_url) + self.root.lstrip("/")
        body: dict[str, Any] = {
            "title": self.settings.title,
            "description": self.settings.description,
            "default": url,
            "api_roots": [url],
        }
        if self.settings.contact:
            body["contact"] = self.settings.contact
        return _json(body)

    async def api_root(self, request: Request) -> Response:
        await self.authenticate(request)
        return _json(
            {
                "title": self.settings.title,
                "description": self.settings.description,
                "versions": [TAXII_MEDIA_TYPE],
                "max_content_length": self.settings.max_content_length,
            }
        )

    async def status(self, request: Request) -> Response:
        org = await self.authenticate(request)
        record = await run_in_threadpool(self.store.get_status, request.path_params["status_id"], org)
        if record is None:
            raise TaxiiError(404, "status not found")
        return _json(record.resource())

    async def collections(self, request: Request) -> Response:
        org = await self.authenticate(request)
        pairs = await run_in_threadpool(self.store.collections_for, org)
        return _json({"collections": [_collection_resource(c, g) for c, g in pairs]} if pairs else {})

    async def collection(self, request: Request) -> Response:
        org = await self.authenticate(request)
        c, g = await self._collection_grant(request, org)
        return _json(_collection_resource(c, g))

    # -- objects ------------------------------------------------------------------------------------
    async def objects(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.post_objects(request)
        return await self.get_objects(request)

    async def get_objects(self, request: Request, object_id: str | None = None) -> Response:
        org = await self.authenticate(request)
        c = await self.collection_for(request, org)
        q = _query(request, self.settings)
        if object_id is not None:
            q = replace(q, ids=(object_id,), types=())
        page = await run_in_threadpool(self.store.query, c, org, q)
        if object_id is not None and not page.rows and q.after is None:
            raise TaxiiError(404, "object not found", f"no object {object_id!r} is available to you here")
        body = _page_prefix(page)
        if page.rows:
            body += b',"objects":[' + b",".join(r.raw for r in page.rows) + b"]"
        return Response(body + b"}", media_type=TAXII_MEDIA_TYPE, headers=_page_headers(page))

    async def manifest(self, request: Request) -> Response:
        org = await self.authenticate(request)
        c = await self.collection_for(request, org)
        page = await run_in_threadpool(self.store.query, c, org, _query(request, self.settings))
        records = [
            {
                "id": r.id,
                "date_added": format_us(r.date_added_us),
                "version": _version_text(r.version, r.date_added_us),
                "media_type": STIX_MEDIA_TYPE,
            }
            for r in page.rows
        ]
        body = _page_prefix(page)
        if records:
            body += b',"objects":' + orjson.dumps(records)
        return Response(body + b"}", media_type=TAXII_MEDIA_TYPE, headers=_page_headers(page))

    async def one_object(self, request: Request) -> Response:
        object_id = request.path_params["object_id"]
        if request.method != "DELETE":
            return await self.get_objects(request, object_id)
        org = await self.authenticate(request)
        c = await self.collection_for(request, org, write=True)
        q = _query(request, self.settings, default_version="all")
        deleted = await run_in_threadpool(self.store.delete_versions, c, org, object_id, q)
        if not deleted:
            raise TaxiiError(404, "object not found", f"no object {object_id!r} is available to you here")
        return Response(b"", status_code=200, media_type=TAXII_MEDIA_TYPE)

    async def versions(self, request: Request) -> Response:
        org = await self.authenticate(request)
        c = await self.collection_for(request, org)
        object_id = request.path_params["object_id"]
        q = replace(
            _query(request, self.settings, default_version="all"),
            ids=(object_id,),
            types=(),
            versions=VersionFilter(all=True),
        )
        page = await run_in_threadpool(self.store.query, c, org, q)
        if not page.rows and q.after is None:
            raise TaxiiError(404, "object not found", f"no object {object_id!r} is available to you here")
        body = _page_prefix(page)
        body += b',"versions":' + orjson.dumps([_version_text(r.version, r.date_added_us) for r in page.rows])
        return Response(body + b"}", media_type=TAXII_MEDIA_TYPE, headers=_page_headers(page))

    async def post_objects(self, request: Request) -> Response:
        org = await self.authenticate(request)
        c = await self.collection_for(request, org, write=True)
        if not _media_ok(request.headers.get("content-type"), for_accept=False):
            raise TaxiiError(415, "unsupported media type", f"POST a TAXII envelope as {TAXII_MEDIA_TYPE}")
        body = await self._read_body(request)
        status = await run_in_threadpool(self._ingest, c, org, body)
        return _json(status.resource(), status=202)

    async def _read_body(self, request: Request) -> bytes:
        limit = self.settings.max_content_length
        too_big = TaxiiError(413, "request too large", f"the body exceeds max_content_length ({limit} bytes)")
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise TaxiiError(400, "invalid Content-Length")
            if int(declared) > limit:
                raise too_big
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)

    def _ingest(self, c: Collection, org: Org, body: bytes) -> StatusRecord:
        try:
            envelope = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise TaxiiError(400, "malformed JSON", f"the body is not JSON: {exc}") from None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("objects"), list):
            raise TaxiiError(
                422,
                "malformed envelope",
                "the body must be a TAXII envelope: an object with an 'objects' list",
            )
        items: list[object] = envelope["objects"]
        status = StatusRecord(
            id=str(uuid.uuid4()),
            request_timestamp=format_timestamp(self.clock(), precision="microsecond"),
            total_count=len(items),
        )
        incoming = prepare(items, status.failures)
        if not org.peer_hub:
            self.store.add_objects(c, org, incoming, status)
            new = {(s["id"], s.get("version", "")) for s in status.successes if "message" not in s}
            stored = [o for o in incoming if (o.id, o.version) in new]
            route_sightings(self.store, org, c, stored, clock=self.clock)
            return status
        # another hub pushing to us: the agreement with it decides what enters, and its unmarked objects
        # take the agreement's TLP, never this collection's default
        agreement = self.store.agreement_for(org)
        before = len(status.failures)
        kept = policy.screen_ingress(agreement, incoming, status.failures)
        return self.store.add_objects(
            c,
            org,
            kept,
            status,
            unmarked_tlp=agreement.max_tlp,
            origin=policy.peer_origin(org.name),
            refused=len(status.failures) - before,
        )


def _collection_resource(c: Collection, g: Grant) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": c.id,
        "title": c.title,
        "can_read": g.can_read,
        "can_write": g.can_write,
        "media_types": [STIX_MEDIA_TYPE],
    }
    if c.description:
        body["description"] = c.description
    if c.alias:
        body["alias"] = c.alias
    return body


async def _to_web_ui(request: Request) -> Response:
    return RedirectResponse("/ui/", status_code=303)


def create_app(settings: HubSettings, store: Store, *, clock: Clock = utc_now) -> Starlette:
    """Build the hub's ASGI app over ``store``."""
    api = _Api(settings, store, clock)

    async def on_taxii_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TaxiiError)
        return _error_response(exc.status, exc.title, exc.description, exc.headers)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        titles = {404: "not found", 405: "method not allowed"}
        return _error_response(
            exc.status_code, titles.get(exc.status_code, str(exc.detail)), headers=dict(exc.headers or {})
        )

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        return _error_response(500, "internal error", "the hub could not complete this request")

    r = api.root
    c = r + "collections/{collection_id}/"
    routes = [
        Route("/", _to_web_ui, methods=["GET"]),
        Route("/taxii2/", api.discovery, methods=["GET"]),
        Route(r, api.api_root, methods=["GET"]),
        Route(r + "status/{status_id}/", api.status, methods=["GET"]),
        Route(r + "collections/", api.collections, methods=["GET"]),
        Route(c, api.collection, methods=["GET"]),
        Route(c + "objects/", api.objects, methods=["GET", "POST"]),
        Route(c + "manifest/", api.manifest, methods=["GET"]),
        Route(c + "objects/{object_id}/", api.one_object, methods=["GET", "DELETE"]),
        Route(c + "objects/{object_id}/versions/", api.versions, methods=["GET"]),
        *web_routes(api.store, settings, clock),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={
            TaxiiError: on_taxii_error,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
    )
