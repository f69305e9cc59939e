"""Keeping every peer flow current continuously: ``kizuna hub sync --follow`` and ``kizuna hub serve
--follow-peers``.

One :class:`Follower` runs per hub (a lease in the store, ``federation-follow``, makes sure of it however
many processes try: ``serve`` workers, a ``sync --follow`` beside them); under it one thread per flow and
one per peer for sightings going home:

* **pull** from a kizuna peer: its change stream (``collections/{id}/stream/``), opened at the flow's
  durable cursor (``added_after``), resumed with ``Last-Event-ID`` after a drop, reconnected with back-off.
  Every page the peer sends goes through :func:`kizuna.hub.intake.accept` with the flow's cursor, exactly
  as a one-shot pull stores a page: the same ingress rules (agreement, never-lowered TLP from the claims
  beside each object, owners), the cursor moved in the same transaction.
* **pull** from a peer without a stream (medallion, other TAXII 2.1 servers: it answers 404 there):
  :meth:`kizuna.hub.federation.sync.Syncer.pull` (TAXII polling with ``added_after`` from the durable
  cursor) every ``poll_s``.
* **push**: :meth:`~kizuna.hub.federation.sync.Syncer.push` (the egress query after the durable cursor)
  whenever the local collection's commit notification (:mod:`kizuna.hub.changes`) says it moved.
* **sightings home** (:mod:`kizuna.hub.federation.home`): whenever a commit anywhere at this hub may have
  stored a sighting.

A failing flow is retried with back-off (``backoff_s`` doubling to ``max_backoff_s``) and reported in
``kizuna hub peer list``; it never stops the others. A change to the peer records (``peer add``,
``peer remove``) restarts the threads within ``lease_ttl_s / 3``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from kizuna.errors import NotFound
from kizuna.hub import intake, policy
from kizuna.hub.changes import ANY
from kizuna.hub.client import HubClient
from kizuna.hub.federation.home import SightingsHome
from kizuna.hub.federation.sync import FlowResult, Syncer, describe
from kizuna.hub.keys import HubKeys
from kizuna.hub.models import Flow, Peer
from kizuna.hub.paging import Cursor
from kizuna.hub.store.protocols import Store
from kizuna.hub.stream_client import NoStream, ObjectStream
from kizuna.stix.ids import Clock, utc_now

#: The lease one follower per hub holds.
LEASE = "federation-follow"

#: How long stopping waits for the flow threads (which store nothing once stopped) before letting go.
STOP_WAIT_S = 3.0

Report = Callable[[str, str], None]  # (peer, message): what the follower tells its operator


@dataclass(frozen=True)
class FollowOptions:
    poll_s: float = 5.0  # polling interval for peers without a stream
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    read_timeout_s: float = 45.0  # a stream silent this long (3 heartbeats) is reconnected
    lease_ttl_s: float = 30.0
    push_wait_s: float = 60.0  # a push flow also runs this often with no notification


def _fingerprint(peers: Sequence[Peer]) -> tuple[object, ...]:
    """What a change to restarts the followers: the peer records without their progress."""
    return tuple(
        (
            p.name,
            p.url,
            p.user,
            p.secret,
            p.max_tlp,
            p.types,
            p.reshare,
            p.reshare_max_tlp,
            p.sighter,
            tuple((f.id, f.direction, f.remote_collection, f.local_collection) for f in p.flows),
        )
        for p in peers
    )


class Follower:
    """Follows the peers recorded in ``store`` until ``stop`` is set (see the module's docstring)."""

    def __init__(
        self,
        store: Store,
        secrets: HubKeys,
        *,
        clock: Clock = utc_now,
        new_id: intake.IdFactory = uuid.uuid4,
        page_size: int = 1000,
        options: FollowOptions | None = None,
        transport: httpx.BaseTransport | None = None,
        report: Report | None = None,
        holder: str | None = None,
    ) -> None:
        self.store = store
        self.secrets = secrets
        self.options = options or FollowOptions()
        self.syncer = Syncer(
            store,
            secrets,
            clock=clock,
            new_id=new_id,
            page_size=page_size,
            retries=0,
            transport=transport,
        )
        self.clock = clock
        self.new_id = new_id
        self.transport = transport
        self.report = report
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leading = threading.Event()  # set while this process holds the lease and follows

    # -- supervision --------------------------------------------------------------------------------
    def run(self, stop: threading.Event, only: Sequence[str] = ()) -> None:
        """Hold the lease and follow every peer (or those in ``only``) until ``stop`` is set; while
        another process holds the lease, wait for it."""
        ttl = self.options.lease_ttl_s
        waiting_said = False
        try:
            while not stop.is_set():
                if not self.store.hold_lease(LEASE, self.holder, ttl):
                    if not waiting_said:
                        holder = self.store.lease_holder(LEASE)
                        self._say("", f"another process follows the peers ({holder}); waiting for its lease")
                        waiting_said = True
                    stop.wait(ttl / 2)
                    continue
                waiting_said = False
                self.leading.set()
                self._lead(stop, only)
                self.leading.clear()
        finally:
            self.leading.clear()
            # let another process take over at once (unless the store is already closing)
            with contextlib.suppress(Exception):
                self.store.release_lease(LEASE, self.holder)

    def _lead(self, stop: threading.Event, only: Sequence[str]) -> None:
        """Run the flow threads while the lease is renewed; restart them when the peer records change."""
        ttl = self.options.lease_ttl_s
        while not stop.is_set():
            peers = self._peers(only)
            fingerprint = _fingerprint(peers)
            inner = threading.Event()
            threads = self._start(peers, inner)
            try:
                while not stop.is_set():
                    stop.wait(ttl / 3)
                    if stop.is_set():
                        break
                    if not self.store.hold_lease(LEASE, self.holder, ttl):
                        self._say("", "lost the follow lease to another process; stopping")
                        return
                    if _fingerprint(self._peers(only)) != fingerprint:
                        self._say("", "the peer records changed; restarting the followers")
                        break
            finally:
                # the threads store nothing once stopped; one blocked on a partner's stream ends at its
                # next heartbeat, so it is not waited for
                inner.set()
                self.store.changes().poke()
                deadline = time.monotonic() + STOP_WAIT_S
                for t in threads:
                    t.join(timeout=max(0.0, deadline - time.monotonic()))

    def _peers(self, only: Sequence[str]) -> list[Peer]:
        peers = self.store.list_peers()
        if only:
            missing = [n for n in only if n not in {p.name for p in peers}]
            if missing:
                raise NotFound(f"unknown peer(s): {', '.join(missing)}")
            peers = [p for p in peers if p.name in only]
        return peers

    def _start(self, peers: Sequence[Peer], stop: threading.Event) -> list[threading.Thread]:
        threads = []
        for peer in peers:
            for flow in peer.flows:
                target = self._follow_pull if flow.direction == "pull" else self._follow_push
                threads.append(
                    threading.Thread(
                        target=self._guard,
                        args=(target, peer, flow, stop),
                        name=f"kizuna-follow-{peer.name}-{flow.id}",
                        daemon=True,
                    )
                )
            if any(f.direction == "pull" for f in peer.flows):
                threads.append(
                    threading.Thread(
                        target=self._guard,
                        args=(self._follow_home, peer, None, stop),
                        name=f"kizuna-home-{peer.name}",
                        daemon=True,
                    )
                )
        for t in threads:
            t.start()
        return threads

    def _guard(
        self,
        target: Callable[[Peer, Flow | None, threading.Event], None],
        peer: Peer,
        flow: Flow | None,
        stop: threading.Event,
    ) -> None:
        """Run one flow's loop; anything it raises is reported and retried with back-off."""
        failures = 0
        while not stop.is_set():
            try:
                target(peer, flow, stop)
                return
            except Exception as exc:  # one failing flow never stops the others
                if stop.is_set():
                    return  # stopping: the store or the connection may be closing under it
                failures += 1
                self._failed(peer, flow, describe(exc))
                stop.wait(min(self.options.max_backoff_s, self.options.backoff_s * 2 ** (failures - 1)))

    def _client(self, peer: Peer) -> HubClient:
        token = self.secrets.open(peer.secret)
        return HubClient(
            peer.url,
            token,
            user=peer.user,
            timeout_s=self.syncer.timeout_s,
            transport=self.transport,
        )

    def _say(self, peer: str, message: str) -> None:
        if self.report is not None:
            self.report(peer, message)

    def _failed(self, peer: Peer, flow: Flow | None, error: str) -> None:
        where = "sightings home" if flow is None else f"{flow.direction} {flow.local_collection}"
        self._say(peer.name, f"{where}: {error}")
        self.store.record_sync(peer.id, None if flow is None else flow.id, error)

    def _ok(self, peer: Peer, flow: Flow) -> None:
        self.store.record_sync(peer.id, flow.id, None)

    def _current(self, peer: Peer, flow: Flow) -> tuple[Peer, Flow]:
        """The peer and flow as recorded now (their cursors move as they are followed)."""
        fresh = self.store.get_peer(peer.name)
        for f in fresh.flows:
            if f.id == flow.id:
                return fresh, f
        raise NotFound(f"flow {flow.id} of {peer.name} no longer exists")

    # -- the flows ----------------------------------------------------------------------------------
    def _follow_pull(self, peer: Peer, flow: Flow | None, stop: threading.Event) -> None:
        assert flow is not None
        peer, flow = self._current(peer, flow)
        collection = self.syncer.local_collection(flow)
        floor = None
        if flow.cursor is not None:
            floor = flow.cursor.date_added_us - (0 if flow.cursor.complete else 1)
        with self._client(peer) as client:

            def on_state(state: str, detail: str | None) -> None:
                if state == "connected":
                    self._ok(peer, flow)
                else:
                    self._failed(peer, flow, detail or state)

            stream = ObjectStream(
                client,
                flow.remote_collection,
                added_after_us=floor,
                backoff_s=self.options.backoff_s,
                max_backoff_s=self.options.max_backoff_s,
                read_timeout_s=self.options.read_timeout_s,
                on_state=on_state,
            )
            try:
                for batch in stream.batches(stop):
                    if stop.is_set():
                        return
                    if batch is None or not batch.events:
                        continue
                    agreement = self.store.agreement_named(peer.name) or policy.Agreement(
                        peer.name, peer.max_tlp, peer.types
                    )
                    last = batch.last_date_added_us
                    assert last is not None
                    envelope = batch.envelope()
                    fr = FlowResult(flow.direction, flow.local_collection, flow.remote_collection)
                    self.syncer.store_page(
                        peer,
                        flow,
                        collection,
                        envelope["objects"],
                        agreement,
                        Cursor(last),
                        intake.claims_from(envelope),
                        fr,
                    )
                return
            except NoStream:
                self._say(peer.name, f"pull {flow.local_collection}: no change stream; polling every"
                          f" {self.options.poll_s:g} s")  # fmt: skip
            self._poll(peer, flow, client, stop)

    def _poll(self, peer: Peer, flow: Flow, client: HubClient, stop: threading.Event) -> None:
        """TAXII polling with ``added_after`` from the durable cursor, for a peer without a stream."""
        failures = 0
        while not stop.is_set():
            peer, flow = self._current(peer, flow)
            agreement = self.store.agreement_named(peer.name) or policy.Agreement(
                peer.name, peer.max_tlp, peer.types
            )
            fr = FlowResult(flow.direction, flow.local_collection, flow.remote_collection)
            try:
                self.syncer.pull(peer, flow, client, agreement, fr)
            except Exception as exc:
                failures += 1
                self._failed(peer, flow, describe(exc))
                stop.wait(min(self.options.max_backoff_s, self.options.backoff_s * 2 ** (failures - 1)))
                continue
            if failures or flow.last_error:
                self._ok(peer, flow)
            failures = 0
            stop.wait(self.options.poll_s)

    def _follow_push(self, peer: Peer, flow: Flow | None, stop: threading.Event) -> None:
        assert flow is not None
        changes = self.store.changes()
        collection = self.syncer.local_collection(flow)
        failures = 0
        with self._client(peer) as client:
            while not stop.is_set():
                seen = changes.latest(collection.key)
                peer, flow = self._current(peer, flow)
                agreement = self.store.agreement_named(peer.name) or policy.Agreement(
                    peer.name, peer.max_tlp, peer.types
                )
                fr = FlowResult(flow.direction, flow.local_collection, flow.remote_collection)
                try:
                    self.syncer.push(peer, flow, client, agreement, fr)
                except Exception as exc:
                    failures += 1
                    self._failed(peer, flow, describe(exc))
                    stop.wait(min(self.options.max_backoff_s, self.options.backoff_s * 2 ** (failures - 1)))
                    continue
                if failures or flow.last_error:
                    self._ok(peer, flow)
                failures = 0
                self._wait(collection.key, seen, self.options.push_wait_s, stop)

    def _follow_home(self, peer: Peer, flow: Flow | None, stop: threading.Event) -> None:
        changes = self.store.changes()
        home = SightingsHome(self.store, peer.name)
        failures = 0
        with self._client(peer) as client:
            while not stop.is_set():
                seen = changes.latest(ANY)
                current = self.store.get_peer(peer.name)
                result = home.send(current, client, save_always=False)
                if result.waiting is not None:
                    failures += 1
                    self._say(peer.name, f"sightings home {result.waiting}")
                    stop.wait(min(self.options.max_backoff_s, self.options.backoff_s * 2 ** (failures - 1)))
                    continue
                failures = 0
                self._wait(ANY, seen, self.options.push_wait_s, stop)

    def _wait(self, key: int, seen: int, timeout_s: float, stop: threading.Event) -> None:
        """Sleep until collection ``key`` moves past ``seen``, ``timeout_s`` passes or ``stop`` is set."""
        self.store.changes().wait_blocking(key, seen, timeout_s, stop)
