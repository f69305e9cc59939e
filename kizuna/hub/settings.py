"""Hub-wide settings: what every interface of one hub (TAXII, the web UI) is configured with."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HubSettings:
    """Settings of one hub's app; :func:`kizuna.hub.app.create_app` takes them with the store."""

    title: str = "kizuna hub"
    description: str = "A kizuna exchange hub (TAXII 2.1)."
    contact: str = ""
    api_root: str = "api"
    #: Largest request body accepted (TAXII ``max_content_length``), in bytes.
    max_content_length: int = 64 * 1024 * 1024
    default_page_size: int = 1000
    max_page_size: int = 10_000
    #: The change stream (``collections/{id}/stream/``): seconds between heartbeat comments, streams one
    #: organisation may hold open at once (per server process), object versions read per query.
    stream_heartbeat_s: float = 15.0
    max_streams_per_org: int = 16
    stream_page_size: int = 500
