"""The change stream, an extension beside TAXII 2.1: ``GET {api-root}/collections/{id}/stream/``.

It answers ``text/event-stream`` (server-sent events, WHATWG HTML section 9.2): one ``object`` event per
object version the caller may read, from the very query that serves ``objects/`` (``store.query`` with the
caller's organisation, every version, in ``date_added`` order), so it can never carry what ``objects/``
would not give the same caller. Each event's ``id`` is the authenticated keyset cursor of that version
(scope ``stream:<collection>:<organisation>``): a client that reconnects with ``Last-Event-ID`` (or
``?after=CURSOR``) continues exactly after the last version it received, missing and repeating nothing
however many writers commit meanwhile. After each page of versions a ``page`` event says whether more
follow at once. A comment line goes out every ``stream_heartbeat_s`` (15 s) while nothing changes.

Nothing polls: after catching up, a stream sleeps on the store's commit notifications
(:mod:`kizuna.hub.changes`) for its collection and queries again when a commit wakes it. Each organisation
may hold ``max_streams_per_org`` streams open at once in one server process (429 beyond). Every page sent
to another hub's account is audited like a pull (``objects.share``, ``"by": "stream"``) before it leaves,
and each of its events carries, beside the object as stored, the claims a pull's envelope carries
(``x_kizuna_object``: the TLP this hub enforces on it, its origin hub and hop count).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

import anyio
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from kizuna.errors import InputError, NotAcceptable, TooManyRequests
from kizuna.hub import intake, policy
from kizuna.hub.auth import TokenKey, hash_token, parse_authorization
from kizuna.hub.models import Collection, Org, Page, Query, VersionFilter
from kizuna.hub.paging import Cursor
from kizuna.hub.taxii.routes import TaxiiApi
from kizuna.stix.ids import format_us, parse_timestamp, to_us

EVENT_STREAM = "text/event-stream"
#: Envelope-claim property of one ``object`` event (the claims a pull's envelope carries for that object).
CLAIM_PROPERTY = "x_kizuna_object"
#: Reconnection delay suggested to clients (the SSE ``retry`` field), in milliseconds.
RETRY_MS = 1000


def accepts_event_stream(header: str | None) -> bool:
    """Does an Accept header admit ``text/event-stream``?"""
    if header is None or not header.strip():
        return True
    for item in header.split(","):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if params.get("q", "1").strip() in ("0", "0.0", "0.00", "0.000"):
            continue
        if media in (EVENT_STREAM, "text/*", "*/*"):
            return True
    return False


class StreamSlots:
    """Open streams per organisation (in this process)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[int, int] = {}

    def take(self, org: Org) -> Callable[[], None]:
        """A slot for ``org``, or TooManyRequests; returns the (idempotent) release."""
        if self.open.get(org.id, 0) >= self.limit:
            raise TooManyRequests(
                f"{org.name} already holds {self.limit} open streams (the limit per organisation); close"
                " one or retry later"
            )
        self.open[org.id] = self.open.get(org.id, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.open[org.id] -= 1
                if not self.open[org.id]:
                    del self.open[org.id]

        return release


class EventStreamResponse(Response):
    """A response that runs ``produce(send_chunk)`` until it returns, the client goes away or the server
    stops; ``on_close`` runs in every case."""

    media_type = EVENT_STREAM

    def __init__(
        self,
        produce: Callable[[Callable[[bytes], Awaitable[None]]], Awaitable[None]],
        on_close: Callable[[], None],
    ) -> None:
        # no Content-Length: the body is as long as the stream lasts
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),
        ]
        self.produce = produce
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})

            async def chunk(data: bytes) -> None:
                await send({"type": "http.response.body", "body": data, "more_body": True})

            async with anyio.create_task_group() as group:

                async def body() -> None:
                    await self.produce(chunk)
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    group.cancel_scope.cancel()

                async def until_disconnect() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(body)
                group.start_soon(until_disconnect)
        except OSError:  # the client went away while we wrote
            pass
        finally:
            self.on_close()


def object_event(token: str, date_added_us: int, raw: bytes, claim: bytes = b"") -> bytes:
    """One ``object`` event: ``id`` the cursor, ``data`` the date added, the object as stored, the claim."""
    data = b'{"date_added":"' + format_us(date_added_us).encode() + b'","object":' + raw
    if claim:
        data += b',"' + CLAIM_PROPERTY.encode() + b'":' + claim
    assert b"\n" not in data and b"\r" not in data  # serialised JSON never holds a raw line break
    return b"id: " + token.encode() + b"\nevent: object\ndata: " + data + b"}\n\n"


def page_event(page: Page) -> bytes:
    return b'event: page\ndata: {"more":' + (b"true" if page.more else b"false") + b"}\n\n"


class ChangeStream:
    """The stream handler of one hub, beside its TAXII handlers (whose guards it uses)."""

    def __init__(self, api: TaxiiApi) -> None:
        self.api = api
        self.store = api.store
        self.settings = api.settings
        self.slots = StreamSlots(api.settings.max_streams_per_org)

    @staticmethod
    def scope(c: Collection, org: Org) -> str:
        return f"stream:{c.id}:{org.id}"

    def _query(self, request: Request, c: Collection, org: Org) -> Query:
        qp = request.query_params
        token = request.headers.get("last-event-id") or qp.get("after")
        after = None if not token else self.api.cursors.decode(token.strip(), scope=self.scope(c, org))
        added_after = qp.get("added_after")
        added_after_us = None
        if added_after is not None:
            try:
                added_after_us = to_us(parse_timestamp(added_after))
            except ValueError:
                raise InputError(
                    f"{added_after!r} is not an RFC 3339 UTC timestamp", title="invalid added_after"
                ) from None
        types = tuple(v.strip() for raw in qp.getlist("match[type]") for v in raw.split(",") if v.strip())
        return Query(
            added_after_us=added_after_us,
            after=after,
            types=types,
            versions=VersionFilter(all=True),
            limit=self.settings.stream_page_size,
        )

    async def stream(self, request: Request) -> Response:
        org = await self.api.identify(request)
        if not accepts_event_stream(request.headers.get("accept")):
            raise NotAcceptable(f"the stream answers with {EVENT_STREAM}")
        c = await self.api.readable(request, org)
        q = self._query(request, c, org)
        release = self.slots.take(org)
        creds = parse_authorization(request.headers.get("authorization"))
        assert creds is not None
        token_hash = hash_token(creds.token)

        async def produce(send: Callable[[bytes], Awaitable[None]]) -> None:
            await self._run(send, c, org, q, token_hash)

        return EventStreamResponse(produce, release)

    async def _run(
        self,
        send: Callable[[bytes], Awaitable[None]],
        c: Collection,
        org: Org,
        q: Query,
        token_hash: TokenKey,
    ) -> None:
        changes = self.store.changes()
        heartbeat_s = self.settings.stream_heartbeat_s
        await send(b"retry: " + str(RETRY_MS).encode() + b"\n\n")
        hub_id = await run_in_threadpool(self.store.hub_id) if policy.is_peer_account(org) else ""
        position = q.after
        while not changes.closed:
            seen = changes.latest(c.key)
            page = await run_in_threadpool(self.store.query, c, org, replace(q, after=position))
            if page.rows:
                await send(await self._events(c, org, page, hub_id))
                position = Cursor(page.rows[-1].date_added_us)
                if page.more:
                    continue
            while changes.latest(c.key) <= seen and not changes.closed:
                if await changes.wait(c.key, seen, heartbeat_s) > seen:
                    break
                # nothing changed for a heartbeat: say so, and stop if the caller's token was revoked
                if await run_in_threadpool(self.store.org_for_token, token_hash) != org:
                    return
                await send(b": heartbeat\n\n")

    async def _events(self, c: Collection, org: Org, page: Page, hub_id: str) -> bytes:
        claims: list[bytes] = []
        if policy.is_peer_account(org):
            # audited before it leaves, like a pull; claims as a pull's envelope carries them
            await run_in_threadpool(self.store.record_share, c, org.name, page.rows, by="stream")
            claims = [orjson.dumps(x) for x in intake.claims_for(page.rows, hub_id)]
        scope = self.scope(c, org)
        encode = self.api.cursors.encode
        out = [
            object_event(
                encode(Cursor(r.date_added_us), scope=scope),
                r.date_added_us,
                r.raw,
                claims[i] if claims else b"",
            )
            for i, r in enumerate(page.rows)
        ]
        out.append(page_event(page))
        return b"".join(out)

    def routes(self) -> list[BaseRoute]:
        return [Route(self.api.root + "collections/{collection_id}/stream/", self.stream, methods=["GET"])]


def stream_routes(api: TaxiiApi) -> list[BaseRoute]:
    """The change stream's route, beside the TAXII routes of ``api``."""
    return ChangeStream(api).routes()
