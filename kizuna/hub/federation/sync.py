"""Sync with peer hubs over plain TAXII 2.1: this hub is a TAXII client of each peer's API.

Pull: GET the peer's collection (``match[version]=all``, ``added_after`` = the durable cursor), following
``next`` until ``more`` is false; each page goes through the intake (validation, the agreement's ingress
rule) and is stored together with the advanced cursor in one transaction, so a crash at any point loses and
repeats nothing.

Push: read what may leave to the peer (egress, :func:`kizuna.hub.policy.egress_sql`) after the cursor, POST
it, and advance the cursor only once the peer's status resource confirms every object (a re-sent object is
stored once on the other side: same id and version).

After the flows, sightings of the peer's indicators go home to it (:mod:`kizuna.hub.federation.home`).
``kizuna hub sync --follow`` keeps the same flows current continuously (:mod:`kizuna.hub.federation.follow`).

Each peer syncs in its own thread; a peer that is down, slow, answers 5xx or garbage, or sends a page that
does not advance is retried with back-off, reported, and never blocks the others.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from kizuna.errors import KizunaError, NotFound, RemoteError
from kizuna.hub import intake, policy
from kizuna.hub.client import HubClient
from kizuna.hub.federation.home import HomeResult, SightingsHome
from kizuna.hub.keys import HubKeys
from kizuna.hub.models import Collection, Flow, Peer, Query, VersionFilter
from kizuna.hub.paging import Cursor
from kizuna.hub.store.protocols import Store
from kizuna.stix.ids import Clock, format_us, parse_timestamp, to_us, utc_now

Progress = Callable[[str, str, int], None]  # (peer, "pull"/"push", objects in this page)


#: The lease that lets one process of a hub run ``serve --sync-every`` passes at a time.
SYNC_LEASE = "federation-sync"


@dataclass
class FlowResult:
    """What one pass did on one flow: objects moved, objects refused with their reasons counted, or the
    error that stopped the flow (the counts then say how far it got)."""

    direction: str
    local_collection: str
    remote_collection: str
    transferred: int = 0
    refused: int = 0
    error: str | None = None
    reasons: Counter[str] = field(default_factory=Counter)  # refusal reason -> objects

    def count_refusals(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Count (id, reason) refusals: the reason without the object's id, so like ones add up."""
        for obj_id, why in pairs:
            self.refused += 1
            self.reasons[refusal_kind(obj_id, why)] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "local_collection": self.local_collection,
            "remote_collection": self.remote_collection,
            "transferred": self.transferred,
            "refused": self.refused,
            "reasons": dict(self.reasons.most_common()),
            "error": self.error,
        }


def refusal_kind(obj_id: str, reason: str) -> str:
    """A refusal's reason with the object's own id taken out (``"indicator--1: x"`` -> ``"x"``)."""
    text = reason.strip()
    if obj_id and text.startswith(obj_id):
        text = text[len(obj_id) :].lstrip(" :")
    return text[:200] or "no reason given"


@dataclass
class PeerResult:
    peer: str
    flows: list[FlowResult] = field(default_factory=list)
    error: str | None = None
    home: HomeResult = field(default_factory=HomeResult)  # sightings sent home (waiting is not a failure)

    @property
    def ok(self) -> bool:
        return self.error is None and all(f.error is None for f in self.flows)

    def as_json(self) -> dict[str, Any]:
        return {
            "peer": self.peer,
            "ok": self.ok,
            "error": self.error,
            "flows": [f.as_json() for f in self.flows],
            "sightings_home": {
                "sent": self.home.sent,
                "held_back": self.home.held,
                "waiting": self.home.waiting,
            },
        }

    def summary(self) -> str:
        errors = [self.error] if self.error else []
        errors += [f"{f.direction} {f.local_collection}: {f.error}" for f in self.flows if f.error]
        return "; ".join(errors)


class Syncer:
    """Runs sync passes for the peers recorded in ``store``."""

    def __init__(
        self,
        store: Store,
        secrets: HubKeys,
        *,
        clock: Clock = utc_now,
        new_id: intake.IdFactory = uuid.uuid4,
        page_size: int = 1000,
        retries: int = 3,
        backoff_s: float = 0.5,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        on_progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.secrets = secrets
        self.clock = clock
        self.new_id = new_id
        self.page_size = page_size
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.transport = transport
        self.on_progress = on_progress

    # -- passes -------------------------------------------------------------------------------------
    def run_once(self, only: Sequence[str] = ()) -> list[PeerResult]:
        """One full pass of every pull and push of every peer (or of the peers named in ``only``)."""
        peers = self.store.list_peers()
        if only:
            known = {p.name for p in peers}
            missing = [n for n in only if n not in known]
            if missing:
                raise NotFound(f"unknown peer(s): {', '.join(missing)}")
            peers = [p for p in peers if p.name in only]
        if not peers:
            return []
        with ThreadPoolExecutor(max_workers=len(peers), thread_name_prefix="kizuna-sync") as pool:
            return list(pool.map(self.sync_peer, peers))

    def run_forever(
        self,
        every_s: float,
        stop: threading.Event,
        only: Sequence[str] = (),
        on_pass: Callable[[list[PeerResult]], None] | None = None,
    ) -> None:
        """Sync every ``every_s`` seconds until ``stop`` is set."""
        while not stop.is_set():
            results = self.run_once(only)
            if on_pass is not None:
                on_pass(results)
            stop.wait(every_s)

    def run_leased(
        self,
        every_s: float,
        stop: threading.Event,
        *,
        holder: str,
        ttl_s: float = 30.0,
        on_pass: Callable[[list[PeerResult]], None] | None = None,
    ) -> None:
        """As :meth:`run_forever`, but a pass runs only while ``holder`` holds the hub's sync lease, so that
        of several processes serving one hub (``serve --workers N``, several hosts) one syncs at a time; when
        it dies, another takes over once its lease has expired (``ttl_s``, at least two periods)."""
        ttl = max(ttl_s, 2 * every_s)
        try:
            while not stop.is_set():
                if self.store.hold_lease(SYNC_LEASE, holder, ttl):
                    results = self.run_once()
                    if on_pass is not None:
                        on_pass(results)
                stop.wait(every_s)
        finally:
            with contextlib.suppress(Exception):  # let another process take over at once
                self.store.release_lease(SYNC_LEASE, holder)

    def sync_peer(self, peer: Peer) -> PeerResult:
        result = PeerResult(peer.name)
        try:
            token = self.secrets.open(peer.secret)
        except KizunaError as exc:
            result.error = str(exc)
            self.store.record_sync(peer.id, None, result.error)
            return result
        agreement = self.store.agreement_named(peer.name) or policy.Agreement(
            peer.name, peer.max_tlp, peer.types
        )
        with HubClient(
            peer.url, token, user=peer.user, timeout_s=self.timeout_s, transport=self.transport
        ) as client:
            for flow in peer.flows:
                fr = FlowResult(flow.direction, flow.local_collection, flow.remote_collection)
                result.flows.append(fr)
                try:
                    if flow.direction == "pull":
                        self.pull(peer, flow, client, agreement, fr)
                    else:
                        self.push(peer, flow, client, agreement, fr)
                except Exception as exc:  # one failing flow never stops the others
                    fr.error = describe(exc)
                self.store.record_sync(peer.id, flow.id, fr.error)
            try:
                result.home = SightingsHome(self.store, peer.name).send(
                    self.store.get_peer(peer.name), client
                )
            except Exception as exc:
                result.error = f"sightings home: {describe(exc)}"
        self.store.record_sync(peer.id, None, result.summary() or None)
        return result

    # -- plumbing -----------------------------------------------------------------------------------
    def _retry(self, what: str, call: Callable[[], Any]) -> Any:
        for attempt in range(self.retries + 1):
            try:
                return call()
            except RemoteError as exc:
                permanent = (
                    exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 429)
                )
                if permanent or attempt == self.retries:
                    raise RemoteError(f"{what}: {exc}", status=exc.status) from None
            time.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")

    def local_collection(self, flow: Flow) -> Collection:
        collection = self.store.get_collection(flow.local_collection)
        if collection is None:
            raise NotFound(f"local collection {flow.local_collection} no longer exists")
        return collection

    def _progress(self, peer: Peer, direction: str, n: int) -> None:
        if self.on_progress is not None:
            self.on_progress(peer.name, direction, n)

    # -- pull ---------------------------------------------------------------------------------------
    def pull(
        self, peer: Peer, flow: Flow, client: HubClient, agreement: policy.Agreement, fr: FlowResult
    ) -> None:
        collection = self.local_collection(flow)
        # The cursor is the peer's date_added of the last object stored. An incomplete cursor marks a pass
        # that stopped mid-way: a peer may give many objects one date_added (medallion gives a whole
        # envelope one), so the restart asks from just before it and the intake counts what it already
        # holds as duplicates.
        base: dict[str, str] = {"limit": str(self.page_size), "match[version]": "all"}
        floor_us: int | None = None
        if flow.cursor is not None:
            floor_us = flow.cursor.date_added_us - (0 if flow.cursor.complete else 1)
            base["added_after"] = format_us(floor_us)
        params = dict(base)
        previous_page = ""
        last_us = floor_us
        while True:
            envelope, headers = self._retry(
                f"GET {flow.remote_collection}",
                functools.partial(client.get_objects_page, flow.remote_collection, params),
            )
            objects = envelope.get("objects", [])
            if not isinstance(objects, list):
                raise RemoteError("the peer answered with something that is not a TAXII envelope")
            more = bool(envelope.get("more"))
            if objects:
                last = headers.get("X-TAXII-Date-Added-Last")
                if not last:
                    raise RemoteError("a page of objects came without X-TAXII-Date-Added-Last")
                try:
                    page_last_us = to_us(parse_timestamp(last))
                except ValueError:
                    raise RemoteError(f"the peer sent an invalid X-TAXII-Date-Added-Last {last!r}") from None
                restarted = "next" not in params
                if last_us is not None and (
                    page_last_us < last_us or (restarted and page_last_us <= last_us)
                ):
                    raise RemoteError(f"the peer's page does not advance past {format_us(last_us)}")
                signature = repr([(o.get("id"), o.get("modified")) for o in objects if isinstance(o, dict)])
                if signature == previous_page:
                    raise RemoteError("the peer's page does not advance (the same page twice)")
                previous_page = signature
                last_us = page_last_us
                cursor = Cursor(page_last_us, complete=not more)
                claims = intake.claims_from(envelope)
                self.store_page(peer, flow, collection, objects, agreement, cursor, claims, fr)
            elif more:
                raise RemoteError("the peer says there is more but sent an empty page")
            if not more:
                return
            nxt = envelope.get("next")
            restart = {**base} if last_us is None else {**base, "added_after": format_us(last_us)}
            params = restart if nxt is None else {**base, "next": str(nxt)}

    def store_page(
        self,
        peer: Peer,
        flow: Flow,
        collection: Collection,
        objects: list[Any],
        agreement: policy.Agreement,
        cursor: Cursor,
        claims: dict[tuple[str, str], intake.PeerClaim],
        fr: FlowResult,
    ) -> None:
        result = intake.accept(
            self.store,
            collection,
            intake.Sender.pulled(agreement),
            objects,
            clock=self.clock,
            new_id=self.new_id,
            flow=intake.FlowAdvance(flow.id, cursor),
            claims=claims,
        )
        fr.transferred += result.added  # new, not re-sent
        fr.count_refusals([(r.id, r.reason) for r in result.refused])
        self._progress(peer, "pull", len(objects))

    # -- push ---------------------------------------------------------------------------------------
    def push(
        self, peer: Peer, flow: Flow, client: HubClient, agreement: policy.Agreement, fr: FlowResult
    ) -> None:
        collection = self.local_collection(flow)
        after = flow.cursor
        while True:
            page = self.store.query(
                collection,
                agreement,
                Query(limit=self.page_size, after=after, versions=VersionFilter(all=True)),
            )
            if not page.rows:
                return
            raws = [r.raw for r in page.rows]
            claims = intake.claims_for(page.rows, self.store.hub_id())
            status = self._retry(
                f"POST {flow.remote_collection}",
                functools.partial(
                    client.add_serialised,
                    flow.remote_collection,
                    raws,
                    extra={intake.CLAIMS_PROPERTY: claims},
                ),
            )
            counts = [status.get(k) for k in ("success_count", "failure_count", "pending_count")]
            if (
                status.get("status") != "complete"
                or status.get("total_count") != len(raws)
                or not all(isinstance(c, int) for c in counts)
                or sum(counts) != len(raws)
            ):
                raise RemoteError(f"the peer's status does not confirm the {len(raws)} objects sent")
            after = Cursor(page.rows[-1].date_added_us)
            self.store.confirm_push(peer, flow, after, page.rows, status)
            failures = [
                f if isinstance(f, dict) else {"message": str(f)} for f in status.get("failures") or []
            ]
            held = sum(1 for ok in status.get("successes") or [] if ok.get("message") == "already stored")
            fr.transferred += len(raws) - len(failures) - held  # new to the peer, as a pull counts
            fr.count_refusals([(str(f.get("id", "")), str(f.get("message", ""))) for f in failures])
            self._progress(peer, "push", len(raws))
            if not page.more:
                return


def describe(exc: Exception) -> str:
    if isinstance(exc, KizunaError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
