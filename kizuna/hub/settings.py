"""Hub-wide settings: what every interface of one hub (TAXII, the web UI) is configured with."""

from __future__ import annotations

from dataclasses import dataclass, field

from kizuna.hub.auth import AuthLimits


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
    #: Limits on failed authentication (API and web login alike).
    auth_limits: AuthLimits = field(default_factory=AuthLimits)
