"""A small TAXII 2.1 client for kizuna hubs (and any TAXII 2.1 server).

Domain modules (detect, space, minerals) publish through this class only; they never touch hub internals::

    client = HubClient("http://127.0.0.1:8000/api/", token="...")
    status = client.add_objects(collection_id, [indicator, sighting])
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import orjson

from kizuna.errors import RemoteError
from kizuna.stix import ijson

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
EVENT_STREAM_MEDIA_TYPE = "text/event-stream"


class HubClient:
    """TAXII 2.1 client bound to one API root.

    ``token`` is sent as ``Authorization: Bearer``; with ``user`` it is sent as HTTP Basic (user, token).
    ``transport`` lets tests and benchmarks talk to an in-process ASGI app.
    """

    def __init__(
        self,
        api_root_url: str,
        token: str,
        *,
        user: str | None = None,
        timeout_s: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_root_url = api_root_url if api_root_url.endswith("/") else api_root_url + "/"
        self.timeout_s = timeout_s
        headers = {"Accept": TAXII_MEDIA_TYPE}
        auth: httpx.Auth | None = None
        if user is None:
            headers["Authorization"] = f"Bearer {token}"
        else:
            auth = httpx.BasicAuth(user, token)
        self._http = httpx.Client(headers=headers, auth=auth, timeout=timeout_s, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = path if path.startswith("http") else self.api_root_url + path
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            where = _without_query(exc.request.url if _has_request(exc) else url)
            raise RemoteError(
                f"cannot reach {where}: {unreachable_reason(exc, self.timeout_s)}", url=where
            ) from None
        if response.status_code >= 400:
            raise http_error(method, response)
        return response

    def _json(self, response: httpx.Response) -> Any:
        try:
            return ijson.loads(response.content)  # integers of any size kept exact (then refused)
        except ValueError:
            where = _without_query(response.request.url)
            raise RemoteError(f"{where} answered with a body that is not JSON", url=where) from None

    # -- API ----------------------------------------------------------------------------------------
    def api_root(self) -> dict[str, Any]:
        return dict(self._json(self._request("GET", "")))

    def collections(self) -> list[dict[str, Any]]:
        body = self._json(self._request("GET", "collections/"))
        return list(body.get("collections", []))

    def add_objects(
        self,
        collection_id: str,
        objects: Sequence[Mapping[str, Any]],
        *,
        wait: bool = True,
        poll_interval_s: float = 0.1,
        timeout_s: float = 300.0,
    ) -> dict[str, Any]:
        """POST an envelope; with ``wait``, poll the status until it is complete. Returns the status."""
        return self.add_envelope(
            collection_id,
            orjson.dumps({"objects": list(objects)}),
            wait=wait,
            poll_interval_s=poll_interval_s,
            timeout_s=timeout_s,
        )

    def add_serialised(
        self,
        collection_id: str,
        raw_objects: Sequence[bytes],
        *,
        wait: bool = True,
        timeout_s: float = 300.0,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """POST objects already serialised as JSON (as a hub stores them), without parsing them again;
        ``extra`` adds properties to the envelope beside ``objects``."""
        body = b'{"objects":[' + b",".join(raw_objects) + b"]"
        if extra:
            body += b"," + orjson.dumps(dict(extra))[1:-1]
        return self.add_envelope(collection_id, body + b"}", wait=wait, timeout_s=timeout_s)

    def add_envelope(
        self,
        collection_id: str,
        body: bytes,
        *,
        wait: bool = True,
        poll_interval_s: float = 0.1,
        timeout_s: float = 300.0,
    ) -> dict[str, Any]:
        """POST a serialised envelope; with ``wait``, poll the status until it is complete."""
        response = self._request(
            "POST",
            f"collections/{collection_id}/objects/",
            content=body,
            headers={"Content-Type": TAXII_MEDIA_TYPE},
        )
        status: dict[str, Any] = self._json(response)
        deadline = time.monotonic() + timeout_s
        while wait and status.get("status") != "complete":
            if time.monotonic() > deadline:
                raise RemoteError(f"status {status.get('id')} not complete after {timeout_s} s")
            time.sleep(poll_interval_s)
            status = self._json(self._request("GET", f"status/{status['id']}/"))
        return status

    def get_objects_page(
        self, collection_id: str, params: Mapping[str, str] | None = None
    ) -> tuple[dict[str, Any], httpx.Headers]:
        response = self._request("GET", f"collections/{collection_id}/objects/", params=params or {})
        return dict(self._json(response)), response.headers

    def iter_objects(
        self,
        collection_id: str,
        *,
        limit: int = 1000,
        added_after: str | None = None,
        match: Mapping[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every object the caller may read, following ``next`` until ``more`` is false."""
        params: dict[str, str] = {"limit": str(limit)}
        if added_after:
            params["added_after"] = added_after
        for key, value in (match or {}).items():
            params[f"match[{key}]"] = value
        while True:
            envelope, _headers = self.get_objects_page(collection_id, params)
            yield from envelope.get("objects", [])
            if not envelope.get("more") or not envelope.get("next"):
                return
            params["next"] = str(envelope["next"])

    @contextmanager
    def open_stream(
        self,
        collection_id: str,
        *,
        params: Mapping[str, str] | None = None,
        last_event_id: str | None = None,
        read_timeout_s: float = 45.0,
    ) -> Iterator[httpx.Response]:
        """Open a collection's change stream (``collections/{id}/stream/``, ``text/event-stream``); the
        response's body is read as it arrives. :class:`RemoteError` (with the status) when it is refused.
        :class:`kizuna.hub.stream_client.ObjectStream` parses it, resumes and reconnects."""
        headers = {"Accept": EVENT_STREAM_MEDIA_TYPE, "Cache-Control": "no-store"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        url = f"{self.api_root_url}collections/{collection_id}/stream/"
        timeout = httpx.Timeout(10.0, read=read_timeout_s)
        try:
            with self._http.stream("GET", url, params=params or {}, headers=headers, timeout=timeout) as r:
                if r.status_code >= 400:
                    r.read()
                    detail = ""
                    try:
                        body = orjson.loads(r.content)
                        detail = f": {body.get('title', '')} {body.get('description', '')}".rstrip()
                    except (orjson.JSONDecodeError, AttributeError):
                        detail = ""
                    raise RemoteError(f"GET {url} answered {r.status_code}{detail}", status=r.status_code)
                media = r.headers.get("content-type", "").partition(";")[0].strip().lower()
                if media != EVENT_STREAM_MEDIA_TYPE:
                    raise RemoteError(f"GET {url} answered {media or 'no media type'}, not an event stream")
                yield r
        except httpx.HTTPError as exc:
            raise RemoteError(f"GET {url}: {exc}") from None

    def get_object(self, collection_id: str, object_id: str) -> list[dict[str, Any]]:
        envelope = self._json(self._request("GET", f"collections/{collection_id}/objects/{object_id}/"))
        return list(envelope.get("objects", []))


# -- errors as users read them ----------------------------------------------------------------------------
def http_error(method: str, response: httpx.Response) -> RemoteError:
    """The one-line error for an HTTP error answer: where, the status, and the TAXII error resource's title
    and description as two parts (``POST URL: HTTP 403 forbidden: you may not write to this collection``)."""
    where = _without_query(response.request.url)
    title = description = None
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        title = _one_line(body.get("title"))
        description = _one_line(body.get("description"))
    message = f"{method} {where}: HTTP {response.status_code} {title or response.reason_phrase.lower()}"
    if description and description != title:
        message += f": {description}"
    return RemoteError(
        message,
        status=response.status_code,
        url=where,
        remote_title=title,
        remote_description=description,
    )


def unreachable_reason(exc: httpx.HTTPError, timeout_s: float | None = None) -> str:
    """Why a request got no answer, in a few words (``connection refused``, ``no answer within 30 s``)."""
    limit = "the time limit" if timeout_s is None else f"{timeout_s:g} s"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"no connection within {limit}"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {limit}"
    text = _without_userinfo(str(exc)) or type(exc).__name__
    found = _ERRNO.search(text)
    if found:
        text = found.group(1)
    elif isinstance(exc, httpx.RemoteProtocolError):
        text = f"the connection closed without a valid answer ({text})"
    return _one_line(text[:1].lower() + text[1:]) or type(exc).__name__


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\]\[]+)")


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018  (httpx raises RuntimeError when the error has no request)
    except RuntimeError:
        return False
    return True


def _without_query(url: httpx.URL | str) -> str:
    """The URL as messages show it: no query, no fragment, no ``user:password@``."""
    return _without_userinfo(str(httpx.URL(str(url)).copy_with(query=None, fragment=None)))


def _one_line(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return " ".join(value.split())


def _without_userinfo(text: str) -> str:
    """``text`` with the ``user:password@`` of any URL in it removed (messages never carry credentials)."""
    return re.sub(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@", r"\1", text)
