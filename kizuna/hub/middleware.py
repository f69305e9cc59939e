"""What every request to a hub goes through, in one place (``create_app`` wraps the whole app in it).

* a request id: in the ``X-Request-ID`` response header, in every log line written while it is handled
  (:data:`kizuna.hub.logs.request_id`) and in every error body (the TAXII error resource's ``error_id``);
* credentials in a URL are refused with 400 before anything else (a query string ends up in logs, proxies
  and browser history): a parameter named like a credential, or any value holding a kizuna token;
* ``GET /healthz`` (no authentication; ``ok``, or 503 when the store does not answer);
* ``GET /metrics`` (Prometheus text) only when the app has a metrics token, and only with it;
* one access log line per request (method, path, status, duration, source, organisation and key id; never
  the query string, a header value or a body), and the request metrics;
* ``Strict-Transport-Security`` on every response when the hub is served over TLS (directly, or behind a
  trusted proxy that says the client used HTTPS).
"""

from __future__ import annotations

import hmac
import time
import uuid
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kizuna.hub import logs
from kizuna.hub.auth import looks_like_token, parse_authorization
from kizuna.hub.metrics import CONTENT_TYPE as METRICS_TYPE
from kizuna.hub.metrics import HubMetrics
from kizuna.hub.store.protocols import Store

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
HSTS = "max-age=31536000; includeSubDomains"

#: Query parameters that can only be credentials.
CREDENTIAL_PARAMS = frozenset(
    {"token", "access_token", "api_key", "apikey", "key", "auth", "authorization", "password", "secret"}
)

_log = logs.logger("http")


def error_body(status: int, title: str, description: str, request_id: str) -> bytes:
    body = {"title": title, "description": description, "http_status": str(status), "error_id": request_id}
    return orjson.dumps(body)


def credentials_in_url(query_string: bytes) -> bool:
    """Does the query string carry what looks like a credential?"""
    if not query_string:
        return False
    text = query_string.decode("latin-1")
    if looks_like_token(text):
        return True
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=1000)
    except ValueError:
        return False
    return any(k.lower() in CREDENTIAL_PARAMS or looks_like_token(v) for k, v in pairs)


class HubMiddleware:
    """See the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        store: Store,
        *,
        metrics: HubMetrics | None = None,
        metrics_token: str | None = None,
        hsts: bool = False,
    ) -> None:
        self.app = app
        self.store = store
        self.metrics = metrics
        self.metrics_token = metrics_token
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = 500
        extra_headers = [(b"x-request-id", rid.encode())]
        # under TLS here, or behind a trusted TLS proxy (uvicorn sets the scheme from its X-Forwarded-Proto)
        if self.hsts or scope.get("scheme") == "https":
            extra_headers.append((b"strict-transport-security", HSTS.encode()))

        async def send_wrapped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend((k, v) for k, v in extra_headers if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        try:
            path = scope.get("path", "")
            if credentials_in_url(scope.get("query_string", b"")):
                await self._answer(
                    send_wrapped,
                    400,
                    error_body(
                        400,
                        "credentials in the URL",
                        "send credentials in the Authorization header, never in the URL",
                        rid,
                    ),
                )
            elif path == "/healthz" and scope["method"] in ("GET", "HEAD"):
                await self._health(send_wrapped)
            elif path == "/metrics" and self.metrics is not None and self.metrics_token:
                await self._metrics(scope, send_wrapped, rid)
            else:
                await self.app(scope, receive, send_wrapped)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_name(scope)
            state = scope.get("state", {})
            if self.metrics is not None:
                self.metrics.observe(str(scope.get("method", ""))[:10], route, status, elapsed)
                written = state.get("written")
                if written is not None:
                    self.metrics.written(*written)
            _log.info(
                "%s %s %d",
                scope.get("method", ""),
                scope.get("path", ""),
                status,
                extra={
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "source": (scope.get("client") or ("", 0))[0],
                    "org": state.get("org"),
                    "key_id": state.get("key_id"),
                    "route": route,
                },
            )
            logs.request_id.reset(token)

    async def _answer(
        self, send: Send, status: int, body: bytes, media_type: str = TAXII_MEDIA_TYPE, **headers: str
    ) -> None:
        raw = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]
        raw.extend((k.replace("_", "-").encode(), v.encode()) for k, v in headers.items())
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async def _health(self, send: Send) -> None:
        try:
            self.store.hub_id()
        except Exception:
            _log.warning("health check: the store does not answer")
            await self._answer(send, 503, b"unavailable\n", "text/plain; charset=utf-8")
            return
        await self._answer(send, 200, b"ok\n", "text/plain; charset=utf-8")

    async def _metrics(self, scope: Scope, send: Send, rid: str) -> None:
        assert self.metrics is not None and self.metrics_token
        header = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
        creds = parse_authorization(header)
        given = creds.token if creds is not None else ""
        if not hmac.compare_digest(given.encode(), self.metrics_token.encode()):
            body = error_body(401, "authentication required", "send the metrics token as a bearer token", rid)
            await self._answer(send, 401, body, WWW_Authenticate='Bearer realm="kizuna-metrics"')
            return
        await self._answer(send, 200, self.metrics.render(), METRICS_TYPE)


def _route_name(scope: Scope) -> str:
    path = scope.get("path", "")
    if path in ("/healthz", "/metrics"):
        return str(path[1:])
    endpoint = scope.get("endpoint")
    name = getattr(endpoint, "__name__", None)
    return str(name) if name else "unmatched"
