"""HTTP hardening of every web UI response: a strict Content-Security-Policy and friends.

Every page works without script; one small script from the hub itself (``copy.js``: a "Copy" button beside
JSON) is the only one the policy allows: no inline script, no ``eval``. Styles and images come only from the
hub itself, and there are no inline styles (charts are coloured by the stylesheet or by SVG presentation
attributes). ``frame-ancestors 'none'`` (and the
legacy ``X-Frame-Options``) stop clickjacking; ``no-store`` keeps TLP-marked pages out of shared caches.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SecurityHeaders:
    """ASGI middleware: adds :data:`SECURITY_HEADERS` to every response that does not already set them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()]

    @property
    def routes(self) -> list[Any]:
        """The wrapped app's routes (so the hub's router lists every page)."""
        return list(getattr(self.app, "routes", []))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((k, v) for k, v in self._raw if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def is_cross_site(sec_fetch_site: str | None) -> bool:
    """True when the browser says the request comes from another site (``Sec-Fetch-Site: cross-site``).

    Used to refuse cross-site form posts (login CSRF); the session cookie is ``SameSite=Strict`` besides.
    Clients that send no ``Sec-Fetch-Site`` (not browsers) are not refused.
    """
    return (sec_fetch_site or "").strip().lower() == "cross-site"


def own_origin(scheme: str, host: str | None) -> str:
    """The origin a browser sends for pages of this hub: ``scheme://host[:port]`` as the request named it."""
    return f"{scheme}://{(host or '').strip().lower()}"


def origin_ok(origin: str | None, sec_fetch_site: str | None, expected: str) -> bool:
    """Is a form post from the hub's own pages? Its ``Origin`` is the hub's own origin; or, since the UI's
    ``no-referrer`` policy makes Chromium send ``Origin: null`` on same-origin posts, ``null`` (or no
    ``Origin``) together with ``Sec-Fetch-Site: same-origin``. Anything else is refused."""
    value = (origin or "").strip().lower()
    if value and value != "null":
        return value == expected.lower()
    return (sec_fetch_site or "").strip().lower() == "same-origin"
