"""The TAXII 2.1 API's routes (TAXII 2.1 OS, section 4), mounted by :func:`kizuna.hub.app.create_app`.

Endpoints: discovery ``/taxii2/``; API root ``/api/``; status; collections; collection; objects (GET, POST);
object (GET, DELETE); manifest; versions. Every response carries ``application/taxii+json;version=2.1``;
every error is a library error (:mod:`kizuna.errors`) that ``taxii/errors.py`` turns into the TAXII error
message resource. Reads go through the store's policy-filtered query; writes through the intake.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kizuna.errors import (
    InputError,
    InvalidObject,
    NotAcceptable,
    NotFound,
    PermissionDenied,
    TooLarge,
    UnsupportedMedia,
)
from kizuna.hub import intake, logs, policy
from kizuna.hub.auth import Authenticator
from kizuna.hub.models import Collection, Grant, Org, Outcome, Page, Query, VersionFilter, WriteResult
from kizuna.hub.paging import CursorCodec
from kizuna.hub.settings import HubSettings
from kizuna.hub.store.protocols import Store
from kizuna.hub.taxii.errors import TAXII_MEDIA_TYPE
from kizuna.stix import ijson
from kizuna.stix.ids import Clock, format_us, parse_timestamp, to_us

STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
_log = logs.logger("taxii")


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=TAXII_MEDIA_TYPE, headers=headers)


# -- request parsing ----------------------------------------------------------------------------------
def media_ok(header: str | None, *, for_accept: bool) -> bool:
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
        raise InputError(f"{text!r} is not an RFC 3339 UTC timestamp", title=f"invalid {name}") from None


def status_resource(result: WriteResult) -> dict[str, object]:
    """The TAXII status resource of one write, built from the intake's result."""
    successes: list[dict[str, str]] = []
    failures: list[dict[str, str]] = []
    for r in result.objects:
        ref = {"id": r.id, "version": r.version} if r.version else {"id": r.id}
        if r.outcome is Outcome.REFUSED:
            failures.append({**ref, "message": r.reason})
        elif r.outcome is Outcome.DUPLICATE:
            successes.append({**ref, "message": "already stored"})
        else:
            successes.append({**ref, "message": r.reason} if r.reason else ref)
    return {
        "id": result.id,
        "status": "complete",
        "request_timestamp": format_us(result.requested_us),
        "total_count": len(result.objects),
        "success_count": len(successes),
        "successes": successes,
        "failure_count": len(failures),
        "failures": failures,
        "pending_count": 0,
        "pendings": [],
    }


def _collection_resource(c: Collection, g: Grant, addressed_as: str | None = None) -> dict[str, Any]:
    """A TAXII collection resource. Asked for by its alias (``/collections/cni/``), the collection names
    itself by that alias: TAXII clients check that a collection's ``id`` is part of the URL they asked
    (taxii2-client refuses the collection otherwise), and under that URL the alias is its name. The list of
    collections and ``/collections/{uuid}/`` give the UUID."""
    body: dict[str, Any] = {
        "id": c.id if addressed_as is None else addressed_as,
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


def _page_headers(page: Page) -> dict[str, str]:
    if not page.rows:
        return {}
    return {
        "X-TAXII-Date-Added-First": format_us(page.rows[0].date_added_us),
        "X-TAXII-Date-Added-Last": format_us(page.rows[-1].date_added_us),
    }


def _version_text(row_version: str, date_added_us: int) -> str:
    return row_version or format_us(date_added_us)


class TaxiiApi:
    """The handlers of one hub; holds its settings, store, clock, id factory and cursor codec."""

    def __init__(
        self,
        settings: HubSettings,
        store: Store,
        *,
        clock: Clock,
        new_id: intake.IdFactory,
        cursors: CursorCodec,
        auth: Authenticator,
        checker: intake.Checker = intake.check_all,
    ) -> None:
        self.auth = auth
        self.checker = checker
        self.settings = settings
        self.store = store
        self.clock = clock
        self.new_id = new_id
        self.cursors = cursors
        self.root = "/" + settings.api_root.strip("/") + "/"
        self._openapi: bytes | None = None

    # -- guards -------------------------------------------------------------------------------------
    async def identify(self, request: Request) -> Org:
        """The organisation the request's credentials belong to (AuthenticationFailed otherwise); the
        request's state names it for the access log."""
        who = await run_in_threadpool(
            self.auth.authenticate, request.headers.get("authorization"), client_address(request)
        )
        request.state.org = who.org.name
        request.state.key_id = who.key_id
        return who.org

    async def authenticate(self, request: Request) -> Org:
        org = await self.identify(request)
        if not media_ok(request.headers.get("accept"), for_accept=True):
            raise NotAcceptable(f"this server answers with {TAXII_MEDIA_TYPE}")
        return org

    async def _collection_grant(self, request: Request, org: Org) -> tuple[Collection, Grant]:
        """The path's collection and ``org``'s grant; 404 (as for a missing one) when it has no access."""
        cid = request.path_params["collection_id"]
        c = await run_in_threadpool(self.store.get_collection, cid)
        g = None if c is None else await run_in_threadpool(self.store.grant, c, org)
        if c is None or g is None or not policy.may_see_collection(g):
            raise NotFound(f"no collection {cid!r} is available to you", title="collection not found")
        return c, g

    async def readable(self, request: Request, org: Org) -> Collection:
        c, g = await self._collection_grant(request, org)
        if not policy.may_read_collection(g):
            raise PermissionDenied("you may not read this collection")
        return c

    async def writable(self, request: Request, org: Org) -> Collection:
        c, g = await self._collection_grant(request, org)
        if not policy.may_write(g):
            raise PermissionDenied("you may not write to this collection")
        return c

    def _query(self, request: Request, c: Collection, org: Org, *, default_version: str = "last") -> Query:
        qp = request.query_params
        added_after = qp.get("added_after")
        limit = self.settings.default_page_size
        if "limit" in qp:
            try:
                limit = int(qp["limit"])
            except ValueError:
                raise InputError("limit must be a positive integer", title="invalid limit") from None
            if limit < 1:
                raise InputError("limit must be a positive integer", title="invalid limit")
        limit = min(limit, self.settings.max_page_size)
        versions = _csv(request, "match[version]") or (default_version,)
        at = [_timestamp_us(v, "match[version]") for v in versions if v not in ("last", "first", "all")]
        spec_versions = _csv(request, "match[spec_version]")
        unknown = [s for s in spec_versions if s not in ("2.0", "2.1")]
        if unknown:
            raise InputError(
                f"unsupported value(s): {', '.join(unknown)}", title="invalid match[spec_version]"
            )
        after = None
        if "next" in qp:
            after = self.cursors.decode(qp["next"], scope=self._scope(c, org))
        return Query(
            added_after_us=None if added_after is None else _timestamp_us(added_after, "added_after"),
            limit=limit,
            after=after,
            ids=_csv(request, "match[id]"),
            types=_csv(request, "match[type]"),
            versions=VersionFilter(
                last="last" in versions, first="first" in versions, all="all" in versions, at_us=tuple(at)
            ),
            spec_versions=spec_versions,
        )

    @staticmethod
    def _scope(c: Collection, org: Org) -> str:
        return f"taxii:{c.id}:{org.id}"

    def _page_prefix(self, page: Page, c: Collection, org: Org) -> bytes:
        cursor = page.cursor
        if page.more and cursor is not None:
            token = self.cursors.encode(cursor, scope=self._scope(c, org))
            return b'{"more":true,"next":"' + token.encode() + b'"'
        return b'{"more":false'

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
        result = await run_in_threadpool(self.store.write_result, request.path_params["status_id"], org)
        if result is None:
            raise NotFound("no such status is available to you", title="status not found")
        return _json(status_resource(result))

    async def collections(self, request: Request) -> Response:
        org = await self.authenticate(request)
        pairs = await run_in_threadpool(self.store.collections_for, org)
        return _json({"collections": [_collection_resource(c, g) for c, g in pairs]} if pairs else {})

    async def collection(self, request: Request) -> Response:
        org = await self.authenticate(request)
        c, g = await self._collection_grant(request, org)
        asked = request.path_params["collection_id"]
        return _json(_collection_resource(c, g, None if asked == c.id else asked))

    # -- objects ------------------------------------------------------------------------------------
    async def objects(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.post_objects(request)
        return await self.get_objects(request)

    async def get_objects(self, request: Request, object_id: str | None = None) -> Response:
        org = await self.authenticate(request)
        c = await self.readable(request, org)
        q = self._query(request, c, org)
        if object_id is not None:
            q = replace(q, ids=(object_id,), types=())
        page = await run_in_threadpool(self.store.query, c, org, q)
        if object_id is not None and not page.rows and q.after is None:
            raise NotFound(f"no object {object_id!r} is available to you here", title="object not found")
        body = self._page_prefix(page, c, org)
        if page.rows:
            body += b',"objects":[' + b",".join(r.raw for r in page.rows) + b"]"
            body += await self._shared_with_peer(c, org, page)
        return Response(body + b"}", media_type=TAXII_MEDIA_TYPE, headers=_page_headers(page))

    async def _shared_with_peer(self, c: Collection, org: Org, page: Page) -> bytes:
        """For another hub's account: audit the page as shared with it, and tell it beside each object the TLP
        this hub enforces on it, where it came from and how far it has travelled (envelope property)."""
        if not policy.is_peer_account(org):
            return b""
        await run_in_threadpool(self.store.record_share, c, org.name, page.rows)
        claims = intake.claims_for(page.rows, await run_in_threadpool(self.store.hub_id))
        return b',"' + intake.CLAIMS_PROPERTY.encode() + b'":' + orjson.dumps(claims)

    async def manifest(self, request: Request) -> Response:
        org = await self.authenticate(request)
        c = await self.readable(request, org)
        page = await run_in_threadpool(self.store.query, c, org, self._query(request, c, org))
        records = [
            {
                "id": r.id,
                "date_added": format_us(r.date_added_us),
                "version": _version_text(r.version, r.date_added_us),
                "media_type": STIX_MEDIA_TYPE,
            }
            for r in page.rows
        ]
        body = self._page_prefix(page, c, org)
        if records:
            body += b',"objects":' + orjson.dumps(records)
        return Response(body + b"}", media_type=TAXII_MEDIA_TYPE, headers=_page_headers(page))

    async def one_object(self, request: Request) -> Response:
        object_id = request.path_params["object_id"]
        if request.method != "DELETE":
            return await self.get_objects(request, object_id)
        org = await self.authenticate(request)
        c = await self.writable(request, org)
        q = self._query(request, c, org, default_version="all")
        deleted = await run_in_threadpool(self.store.delete_versions, c, org, object_id, q)
        if not deleted:
            raise NotFound(f"no object {object_id!r} is available to you here", title="object not found")
        return Response(b"", status_code=200, media_type=TAXII_MEDIA_TYPE)

    async def versions(self, request: Request) -> Response:
        org = await self.authenticate(request)
        c = await self.readable(request, org)
        object_id = request.path_params["object_id"]
        q = replace(
            self._query(request, c, org, default_version="all"),
            ids=(object_id,),
            types=(),
            versions=VersionFilter(all=True),
        )
        page = await run_in_threadpool(self.store.query, c, org, q)
        if not page.rows and q.after is None:
            raise NotFound(f"no object {object_id!r} is available to you here", title="object not found")
        body = self._page_prefix(page, c, org)
        body += b',"versions":' + orjson.dumps([_version_text(r.version, r.date_added_us) for r in page.rows])
        return Response(body + b"}", media_type=TAXII_MEDIA_TYPE, headers=_page_headers(page))

    async def post_objects(self, request: Request) -> Response:
        org = await self.authenticate(request)
        c = await self.writable(request, org)
        if not media_ok(request.headers.get("content-type"), for_accept=False):
            raise UnsupportedMedia(f"POST a TAXII envelope as {TAXII_MEDIA_TYPE}")
        body = await self._read_body(request)
        result = await run_in_threadpool(self._ingest, c, org, body)
        request.state.written = (result.added, [r.reason for r in result.refused])
        _log.debug(
            "write %s to %s: %d stored, %d refused", result.id, c.id, result.added, len(result.refused)
        )
        return _json(status_resource(result), status=202)

    async def _read_body(self, request: Request) -> bytes:
        limit = self.settings.max_content_length
        too_big = TooLarge(f"the body exceeds max_content_length ({limit} bytes)")
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise InputError("the Content-Length header is not a number", title="invalid Content-Length")
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

    def _ingest(self, c: Collection, org: Org, body: bytes) -> WriteResult:
        try:
            envelope = ijson.loads(body)
        except ValueError as exc:
            raise InputError(f"the body is not JSON: {exc}", title="malformed JSON") from None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("objects"), list):
            raise InvalidObject(
                "the body must be a TAXII envelope: an object with an 'objects' list",
                title="malformed envelope",
            )
        most = self.settings.max_objects_per_envelope
        if len(envelope["objects"]) > most:
            raise TooLarge(f"the envelope holds more than {most} objects; send them in several requests")
        sender = intake.sender_for(self.store, org)
        return intake.accept(
            self.store,
            c,
            sender,
            envelope["objects"],
            clock=self.clock,
            new_id=self.new_id,
            claims=intake.claims_from(envelope),
            limits=self.settings.object_limits,
            checker=self.checker,
        )

    async def openapi(self, request: Request) -> Response:
        """The OpenAPI 3.1 description of this API (``taxii/openapi.json``, paths under this API root)."""
        if self._openapi is None:
            spec = orjson.loads((resources.files("kizuna.hub.taxii") / "openapi.json").read_bytes())
            spec["paths"] = {
                (self.root + p[len("/api/") :] if p.startswith("/api/") else p): v
                for p, v in spec["paths"].items()
            }
            self._openapi = orjson.dumps(spec)
        return Response(self._openapi, media_type="application/json")

    def routes(self) -> list[BaseRoute]:
        r = self.root
        c = r + "collections/{collection_id}/"
        return [
            Route("/taxii2/", self.discovery, methods=["GET"]),
            Route(r, self.api_root, methods=["GET"]),
            Route(r + "status/{status_id}/", self.status, methods=["GET"]),
            Route(r + "collections/", self.collections, methods=["GET"]),
            Route(c, self.collection, methods=["GET"]),
            Route(c + "objects/", self.objects, methods=["GET", "POST"]),
            Route(c + "manifest/", self.manifest, methods=["GET"]),
            Route(c + "objects/{object_id}/", self.one_object, methods=["GET", "DELETE"]),
            Route(c + "objects/{object_id}/versions/", self.versions, methods=["GET"]),
            Route("/openapi/taxii.json", self.openapi, methods=["GET"]),
        ]


def client_address(request: Request) -> str:
    """The address a request came from (the proxy's own, unless it is a trusted proxy that said whom for)."""
    return request.client.host if request.client is not None else "unknown"


def taxii_routes(
    settings: HubSettings,
    store: Store,
    *,
    clock: Clock,
    new_id: intake.IdFactory,
    cursors: CursorCodec,
    auth: Authenticator,
) -> list[BaseRoute]:
    """The TAXII 2.1 routes of one hub."""
    return TaxiiApi(settings, store, clock=clock, new_id=new_id, cursors=cursors, auth=auth).routes()
