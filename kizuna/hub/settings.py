"""Hub-wide settings: what every interface of one hub (TAXII, the web UI) is configured with."""

from __future__ import annotations

from dataclasses import dataclass, field

from kizuna.hub.auth import AuthLimits
from kizuna.stix.ijson import ObjectLimits


@dataclass(frozen=True, slots=True)
class HubSettings:
    """Settings of one hub's app; :func:`kizuna.hub.app.create_app` takes them with the store."""

    title: str = "kizuna hub"
    description: str = "A kizuna exchange hub (TAXII 2.1)."
    contact: str = ""
    api_root: str = "api"
    #: Largest request body accepted (TAXII ``max_content_length``), in bytes.
    max_content_length: int = 64 * 1024 * 1024
    #: Most objects one envelope may hold (a larger one is refused whole: 413, nothing stored).
    max_objects_per_envelope: int = 100_000
    #: Bounds on each object (beyond them that object alone is refused, with a reason).
    object_limits: ObjectLimits = field(default_factory=ObjectLimits)
    default_page_size: int = 1000
    max_page_size: int = 10_000
    #: Serve ``/metrics`` to whoever presents this bearer token (None: no metrics endpoint).
    metrics_token: str | None = None
    #: Add Strict-Transport-Security to every response (set when the hub is served over TLS).
    hsts: bool = False
    #: Limits on failed authentication (API and web login alike).
    auth_limits: AuthLimits = field(default_factory=AuthLimits)
    #: Helper processes that check (validate, bound, index) the objects of large envelopes beside the
    #: request's thread (:class:`kizuna.hub.checkpool.CheckPool`); 0: all in the request's thread.
    check_processes: int = 0
    #: The change stream (``collections/{id}/stream/``): seconds between heartbeat comments, streams one
    #: organisation may hold open at once (per server process), object versions read per query.
    stream_heartbeat_s: float = 15.0
    max_streams_per_org: int = 16
    stream_page_size: int = 500
