"""kizuna (絆): a self-hosted exchange for allied partners to share security information and act on it.

The public surface is small: the CLI (``kizuna``), the hub's ASGI app factory
(:func:`kizuna.hub.app.create_app`), the hub client (:class:`kizuna.hub.client.HubClient`) and each
domain's documented entry points.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
