"""The hub's web UI: read-only HTML pages over the same store and sharing policy as the TAXII API.

``web_routes(store, settings, clock=..., cursors=...)`` returns the routes ``create_app`` mounts at ``/ui``.
"""

from kizuna.web.ui import WebUI, web_routes

__all__ = ["WebUI", "web_routes"]
