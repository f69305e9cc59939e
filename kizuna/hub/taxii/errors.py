"""Errors on the TAXII API: every library error (:mod:`kizuna.errors`) becomes a TAXII error message
resource (TAXII 2.1 section 3.6.1) with the TAXII media type; nothing else ever reaches a client."""

from __future__ import annotations

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from kizuna.errors import (
    AuthenticationFailed,
    Conflict,
    InputError,
    InvalidObject,
    KizunaError,
    NotAcceptable,
    NotFound,
    PermissionDenied,
    RemoteError,
    StoreError,
    TooLarge,
    TooManyFailures,
    TooManyRequests,
    UnsupportedMedia,
)
from kizuna.hub import logs
from kizuna.hub.auth import WWW_AUTHENTICATE

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
_log = logs.logger("taxii")

#: HTTP status of each library error class (the most specific class wins).
STATUS: tuple[tuple[type[KizunaError], int], ...] = (
    (NotAcceptable, 406),
    (UnsupportedMedia, 415),
    (InputError, 400),
    (TooManyFailures, 429),
    (TooManyRequests, 429),
    (AuthenticationFailed, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (TooLarge, 413),
    (InvalidObject, 422),
    (RemoteError, 502),
    (StoreError, 503),
)


def status_of(exc: KizunaError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def error_response(
    status: int,
    title: str,
    description: str = "",
    headers: dict[str, str] | None = None,
    request: Request | None = None,
) -> Response:
    """The TAXII error message resource; ``error_id`` is the request id (in the hub's log lines too)."""
    body: dict[str, str] = {"title": title, "http_status": str(status)}
    if description:
        body["description"] = description
    rid = None if request is None else request.scope.get("state", {}).get("request_id")
    if rid:
        body["error_id"] = rid
    return Response(orjson.dumps(body), status_code=status, media_type=TAXII_MEDIA_TYPE, headers=headers)


async def on_library_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KizunaError)
    status = status_of(exc)
    headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if status == 401 else None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after_s)}
    description = (
        str(exc) if not isinstance(exc, StoreError) else "the hub's storage is unavailable; retry later"
    )
    if status >= 500:
        _log.warning("%s: %s", type(exc).__name__, exc)
    return error_response(status, exc.title, description, headers, request)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: "not found", 405: "method not allowed"}
    return error_response(
        exc.status_code,
        titles.get(exc.status_code, str(exc.detail)),
        headers=dict(exc.headers or {}),
        request=request,
    )


async def on_unexpected(request: Request, exc: Exception) -> Response:
    _log.error(  # the traceback goes to the server's log only, never to the client
        "unexpected %s while answering %s %s",
        type(exc).__name__,
        request.method,
        request.url.path,
        exc_info=exc,
    )
    return error_response(500, "internal error", "the hub could not complete this request", request=request)


def error_handlers() -> dict[type[Exception] | int, object]:
    """Starlette exception handlers for the hub's app."""
    return {KizunaError: on_library_error, HTTPException: on_http_error, Exception: on_unexpected}
