"""MISP feeds: a directory or an ``http(s)://`` URL holding ``manifest.json``, ``<event-uuid>.json`` files and
optionally ``hashes.csv``.

The manifest maps each event uuid to its info, Orgc, Tag, date and timestamp. :func:`plan` chooses the
events that are new, or whose ``timestamp`` is newer than the hub's stored cursor for that feed and event
(the version of the unit last stored from it); each chosen event is fetched (streaming, at most
``max_event_bytes``), converted and committed as one unit, and its cursor moves in the same transaction, so a
rerun after a kill fetches only what is missing and stores nothing twice.

HTTP: timeouts, retries with back-off on connection errors and 5xx answers, TLS verified, one client whose
connections are kept alive and reused. :meth:`Feed.fetch_all` fetches several events at once (a few threads
over that client, results in manifest order, bounded in count and in bytes waiting); ``workers=1`` is the
plain serial reference it is tested against.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from kizuna.errors import InputError, KizunaError, NotFound, RemoteError

DEFAULT_MAX_EVENT_MB = 256
#: Events fetched at once, and how many bytes of fetched events may wait for the converter before no further
#: fetch starts (the events being fetched come on top: at most ``FETCH_WORKERS`` x the per-event limit).
FETCH_WORKERS = 4
FETCH_BUDGET_BYTES = 64 * 1024 * 1024


class FeedError(Exception):
    """One event of a feed cannot be had (missing, too large, not JSON): reported, the others go on."""


@dataclass(frozen=True, slots=True)
class Choice:
    uuid: str
    timestamp: str
    state: str  # "new" or "updated"


@dataclass(slots=True)
class Plan:
    chosen: list[Choice] = field(default_factory=list)
    unchanged: int = 0
    filtered: int = 0


class Feed:
    """Read a feed from a directory or over HTTP(S)."""

    def __init__(
        self,
        source: str,
        *,
        max_event_bytes: int = DEFAULT_MAX_EVENT_MB * 1024 * 1024,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.is_http = source.startswith(("http://", "https://"))
        if self.is_http:
            self.source = source if source.endswith("/") else source + "/"
            self._http: httpx.Client | None = httpx.Client(
                timeout=timeout_s, verify=True, follow_redirects=True, transport=transport
            )
        else:
            path = Path(source)
            if not path.is_dir():
                raise NotFound(f"{source}: feed directory not found")
            self.source = str(path.resolve())
            self._http = None
        self.max_event_bytes = max_event_bytes
        self.retries = retries
        self.backoff_s = backoff_s

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> Feed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- fetching ---------------------------------------------------------------------------------------
    def _get(self, name: str, limit: int | None) -> bytes | None:
        """The bytes of ``name`` in the feed, None when it does not exist; FeedError when over ``limit``."""
        if self._http is None:
            path = Path(self.source) / name
            if not path.is_file():
                return None
            if limit is not None and path.stat().st_size > limit:
                raise FeedError(f"{name} is {path.stat().st_size:,} bytes, over the limit of {limit:,}")
            return path.read_bytes()
        url = self.source + name
        for attempt in range(self.retries + 1):
            try:
                with self._http.stream("GET", url) as r:
                    if r.status_code == 404:
                        return None
                    if r.status_code >= 500 and attempt < self.retries:
                        raise _Retry(f"{url} answered {r.status_code}")
                    if r.status_code >= 400:
                        raise RemoteError(f"GET {url} answered {r.status_code}", status=r.status_code)
                    declared = r.headers.get("content-length")
                    if limit is not None and declared and declared.isdigit() and int(declared) > limit:
                        raise FeedError(f"{name} is {int(declared):,} bytes, over the limit of {limit:,}")
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in r.iter_bytes():
                        size += len(chunk)
                        if limit is not None and size > limit:
                            raise FeedError(f"{name} is over the limit of {limit:,} bytes")
                        chunks.append(chunk)
                    return b"".join(chunks)
            except (httpx.TransportError, _Retry) as exc:
                if attempt >= self.retries:
                    raise RemoteError(f"GET {url}: {exc}") from None
                time.sleep(self.backoff_s * 2**attempt)
        raise RemoteError(f"GET {url}: no answer")  # pragma: no cover - the loop returns or raises

    def manifest(self) -> dict[str, Mapping[str, Any]]:
        where = self.source + ("manifest.json" if self.is_http else "/manifest.json")
        try:
            raw = self._get("manifest.json", None)
        except RemoteError as exc:
            raise RemoteError(f"cannot read the feed's manifest: {exc}", status=exc.status) from None
        if raw is None:
            raise NotFound(f"{where}: the feed has no manifest.json (status 404)")
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"manifest is not JSON: {exc}", path=where) from None
        if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
            raise InputError(
                "manifest is not a MISP feed manifest (event uuid -> event metadata)", path=where
            )
        return doc

    def event(self, uuid: str) -> bytes:
        raw = self._get(f"{uuid}.json", self.max_event_bytes)
        if raw is None:
            raise FeedError(f"{uuid}.json is listed in the manifest but missing from the feed")
        return raw

    def fetch_all(
        self,
        uuids: Iterable[str],
        *,
        workers: int = FETCH_WORKERS,
        budget_bytes: int = FETCH_BUDGET_BYTES,
    ) -> Iterator[tuple[str, bytes | KizunaError | FeedError]]:
        """Each event's bytes, or why it cannot be had (:class:`FeedError`, a :class:`KizunaError` such as
        a refused request), in the order of ``uuids``. Up to ``workers`` are fetched at once; no further
        fetch starts while fetched events waiting here hold ``budget_bytes`` or more. ``workers=1`` fetches
        one after the other in the caller's thread (the reference)."""
        if workers <= 1:
            for uuid in uuids:
                yield uuid, self._fetch(uuid)
            return
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kizuna-feed")
        pending: deque[tuple[str, Future[bytes | KizunaError | FeedError]]] = deque()
        todo = iter(uuids)
        more = True
        try:
            while True:
                while more and len(pending) < 2 * workers and _waiting(pending) < budget_bytes:
                    following = next(todo, None)
                    if following is None:
                        more = False
                    else:
                        pending.append((following, pool.submit(self._fetch, following)))
                if not pending:
                    return
                uuid, future = pending.popleft()
                yield uuid, future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _fetch(self, uuid: str) -> bytes | KizunaError | FeedError:
        try:
            return self.event(uuid)
        except (FeedError, KizunaError) as exc:
            return exc

    def hashes(self) -> set[str] | None:
        """The value hashes of ``hashes.csv`` (first column), or None when the feed has none."""
        try:
            raw = self._get("hashes.csv", None)
        except (RemoteError, FeedError):
            return None
        if raw is None:
            return None
        return {
            line.split(",", 1)[0].strip().lower()
            for line in raw.decode("utf-8", "replace").splitlines()
            if line
        }


class _Retry(Exception):
    pass


def _waiting(pending: Iterable[tuple[str, Future[bytes | KizunaError | FeedError]]]) -> int:
    """Bytes of the fetched events not yet handed on."""
    total = 0
    for _uuid, future in pending:
        if future.done() and not future.cancelled():
            result = future.result()
            if isinstance(result, bytes):
                total += len(result)
    return total


def plan(
    manifest: Mapping[str, Mapping[str, Any]],
    cursors: Mapping[str, str],
    *,
    since: datetime | None = None,
    tags: tuple[str, ...] = (),
) -> Plan:
    """Which events to fetch: new ones, and those whose timestamp is newer than their cursor."""
    out = Plan()
    wanted = {t.lower() for t in tags}
    for uuid, meta in manifest.items():
        ts = str(meta.get("timestamp", "0"))
        if since is not None and (not ts.isdigit() or int(ts) < since.replace(tzinfo=UTC).timestamp()):
            out.filtered += 1
            continue
        if wanted:
            names = {str(t.get("name", "")).lower() for t in meta.get("Tag") or [] if isinstance(t, dict)}
            if not wanted & names:
                out.filtered += 1
                continue
        done = cursors.get(uuid)
        if done is None:
            out.chosen.append(Choice(uuid, ts, "new"))
        elif _newer(ts, done):
            out.chosen.append(Choice(uuid, ts, "updated"))
        else:
            out.unchanged += 1
    return out


def _newer(ts: str, done: str) -> bool:
    if ts.isdigit() and done.isdigit():
        return int(ts) > int(done)
    return ts != done


def value_hash(value: str) -> str:
    """How MISP's hashes.csv names an attribute value (MD5 of the value)."""
    return hashlib.md5(value.encode("utf-8"), usedforsecurity=False).hexdigest()


def unhashed_values(event: Mapping[str, Any], hashes: set[str]) -> list[str]:
    """Attribute values of ``event`` that hashes.csv does not list (a warning each)."""
    values: list[str] = []
    for a in event.get("Attribute") or []:
        if isinstance(a, dict) and a.get("value") is not None:
            values.append(str(a["value"]))
    for o in event.get("Object") or []:
        for a in (o.get("Attribute") or []) if isinstance(o, dict) else []:
            if isinstance(a, dict) and a.get("value") is not None:
                values.append(str(a["value"]))
    return [v for v in values if value_hash(v) not in hashes and not _parts_hashed(v, hashes)]


def _parts_hashed(value: str, hashes: set[str]) -> bool:
    return "|" in value and all(value_hash(p) in hashes for p in value.split("|"))
