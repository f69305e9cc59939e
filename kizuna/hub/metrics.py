"""Prometheus metrics of one hub (``/metrics``, off unless ``kizuna hub serve --metrics``; token protected).

Each app has its own registry (no global state). Counted: requests by route and status, their latencies,
objects stored and refused (refusals by kind, a small fixed set, never by object id), failed
authentications; read at scrape time from the store: the seconds since each peer's last successful sync.
Nothing in a metric names an object, a token or what an organisation may read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kizuna.hub.store.protocols import PeerStore
from kizuna.stix.ids import Clock, parse_timestamp

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Refusal kinds (label values of ``kizuna_objects_refused_total``), matched in this order.
_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("limits", ("I-JSON", "nested more than", "longer than", "members and items", "not finite")),
    ("owner", ("belongs to another organisation",)),
    ("conflict", ("already stored", "different object with this id")),
    ("policy", ("TLP", "agreement", "recipient", "may not", "peer")),
)


def refusal_kind(reason: str) -> str:
    """The kind of a refusal, for the metric's label: limits, owner, conflict, policy or invalid."""
    for kind, words in _KINDS:
        if any(w in reason for w in words):
            return kind
    return "invalid"


class _SyncLag(Collector):
    def __init__(self, peers: PeerStore, clock: Clock) -> None:
        self.peers = peers
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "kizuna_sync_lag_seconds",
            "Seconds since the last successful sync with each peer",
            labels=["peer"],
        )
        now: datetime = self.clock()
        for p in self.peers.list_peers():
            if p.last_success:
                try:
                    lag = (now - parse_timestamp(p.last_success)).total_seconds()
                except ValueError:
                    continue
                gauge.add_metric([p.name], max(0.0, lag))
        yield gauge


class HubMetrics:
    """The metrics of one app."""

    def __init__(self, peers: PeerStore, clock: Clock) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "kizuna_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "kizuna_http_request_seconds", "HTTP request latency", ["route"], registry=self.registry
        )
        self.stored = Counter("kizuna_objects_stored", "Object versions stored", registry=self.registry)
        self.refused = Counter(
            "kizuna_objects_refused", "Objects refused, by kind", ["kind"], registry=self.registry
        )
        self.auth_failures = Counter(
            "kizuna_auth_failures", "Failed or throttled authentications", ["status"], registry=self.registry
        )
        self.registry.register(_SyncLag(peers, clock))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)
        if status in (401, 429):
            self.auth_failures.labels(str(status)).inc()

    def written(self, stored: int, refusals: list[str]) -> None:
        self.stored.inc(stored)
        for reason in refusals:
            self.refused.labels(refusal_kind(reason)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
