"""Administrators' pages: ``/ui/admin/audit/`` (keyset-paged audit records with filters, a CSV export, and
the chain's status, verified incrementally with the checks of ``kizuna hub audit verify``) and
``/ui/admin/peers/`` (each peer's flows, cursors, last success and error, refused counts). Organisations that
are not administrators get 403 and no link."""

from __future__ import annotations

import csv
import io
import re
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from kizuna.hub import policy
from kizuna.hub.audit import AuditRecord
from kizuna.hub.models import Org
from kizuna.hub.paging import Cursor
from kizuna.hub.reads import AuditFilter, ChainProgress
from kizuna.stix.ids import format_us
from kizuna.web.base import UiBase, href
from kizuna.web.errors import WebError
from kizuna.web.params import Params

#: Records the chain check verifies at a time (at most; fewer when the time left for this view would not
#: hold that many at the pace of the last batch: a batch costs more round trips on PostgreSQL), and the time
#: one view of the audit page gives it (the check goes on from where the last view stopped, so no view waits
#: long for a long chain); asking for the whole chain (``check=all``) gives it up to ``VERIFY_ALL_S``.
VERIFY_BATCH = 500
VERIFY_FIRST_BATCH = 50
VERIFY_PER_VIEW_S = 0.03
VERIFY_ALL_S = 30.0
#: Records in one CSV export at most.
MAX_EXPORT = 200_000


_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]*--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: What an audit page shows in place of the id of an object the administrator may not read.
HIDDEN = "[an object you may not read]"


def ids_in(records: list[AuditRecord]) -> set[str]:
    return {m for r in records for m in _ID_RE.findall(r.detail)}


def redact(text: str, readable: set[str]) -> str:
    """The record's text with the ids of objects the reader may not read hidden: an administrator audits
    the hub's records, and still reads objects under the sharing policy."""
    return _ID_RE.sub(lambda m: m.group(0) if m.group(0) in readable else HIDDEN, text)


def record_view(r: AuditRecord, readable: set[str]) -> dict[str, Any]:
    """The columns of one record: time, actor, action, and the object, collection and peer it names."""
    r = replace(r, detail=redact(r.detail, readable))
    try:
        detail = orjson.loads(r.detail)
    except orjson.JSONDecodeError:
        detail = {}
    detail = detail if isinstance(detail, dict) else {}
    obj = detail.get("id")
    if obj is None:
        added = detail.get("added") or detail.get("shared") or detail.get("deleted")
        if isinstance(added, list) and added and isinstance(added[0], list) and added[0]:
            obj = str(added[0][0]) + (f" (+{len(added) - 1})" if len(added) > 1 else "")
    collection = detail.get("collection") or detail.get("local_collection")
    return {
        "seq": r.seq,
        "at": r.at,
        "actor": r.actor,
        "action": r.action,
        "object": "" if obj is None else str(obj),
        "collection": "" if collection is None else str(collection),
        "peer": str(detail.get("peer") or ""),
    }


class AdminPages(UiBase):
    def init_admin(self) -> None:
        self._progress: ChainProgress | None = None
        self._progress_lock = threading.Lock()

    async def require_admin(self, request: Request) -> Org:
        org = await self.require_org(request)
        if not policy.may_administer(org):
            raise WebError(403, "Administrators only", "Only the hub's administrators may open this page.")
        return org

    def chain_status(self, budget_s: float) -> ChainProgress:
        """Verify the audit chain further, for at most ``budget_s`` seconds, from where the last check stopped
        (only records added since are read again once it has reached the head); a view that finds another
        one checking shows how far that has got."""
        head = self.store.audit_head()
        if not self._progress_lock.acquire(blocking=False):
            return self._progress or ChainProgress(head_records=0 if head is None else head.records)
        try:
            progress = self._progress
            deadline = time.monotonic() + budget_s
            batch = VERIFY_FIRST_BATCH
            while True:
                started = time.monotonic()
                progress = self.store.verify_audit_progress(progress, max_records=batch)
                now = time.monotonic()
                if progress.complete or not progress.ok or now >= deadline:
                    break
                per_record = (now - started) / batch
                fits = int((deadline - now) / per_record) if per_record > 0 else VERIFY_BATCH
                batch = max(VERIFY_FIRST_BATCH, min(VERIFY_BATCH, fits))
            self._progress = progress
            return progress
        finally:
            self._progress_lock.release()

    def audit_filter(self, params: Params, org: Org, *, limit: int) -> AuditFilter:
        since = params.moment_us("since")
        until = params.moment_us("until")
        before = self.cursor(params, "page", f"ui:audit:{org.id}")
        return AuditFilter(
            actions=tuple(params.all("action")),
            actors=tuple(params.all("actor")),
            since_at=None if since is None else format_us(since),
            until_at=None if until is None else format_us(until),
            before_seq=None if before is None else before.date_added_us,
            limit=limit,
        )

    async def audit_page(self, request: Request) -> Response:
        org = await self.require_admin(request)
        params = self.params(request)
        size = self.page_size_of(params)
        f = self.audit_filter(params, org, limit=size)
        records, more = await self.run(self.store.audit_page, f)
        readable = await self.run(self.store.readable_ids, org, sorted(ids_in(records)))
        check_all = params.choice("check", ("", "all"), "") == "all"
        progress = await self.run(self.chain_status, VERIFY_ALL_S if check_all else VERIFY_PER_VIEW_S)
        keep = {k: params.all(k) for k in ("action", "actor", "since", "until") if params.all(k)}
        next_href = None
        if more and records:
            token = self.cursors.encode(Cursor(records[-1].seq), scope=f"ui:audit:{org.id}")
            next_href = href("/admin/audit/", **keep, size=params.one("size"), page=token)
        return self.render(
            request,
            "audit.html",
            rows=[record_view(r, readable) for r in records],
            progress=progress,
            filters={k: (v[0] if v else "") for k, v in keep.items()},
            next_href=next_href,
            first_href=href("/admin/audit/", **keep) if f.before_seq is not None else None,
            csv_href=href("/admin/audit.csv", **keep),
            check_href=href("/admin/audit/", check="all"),
        )

    async def audit_csv(self, request: Request) -> Response:
        org = await self.require_admin(request)
        params = self.params(request)
        f = self.audit_filter(params, org, limit=5000)
        await self.audit_download(
            org, "audit-csv", {"filter": {"action": list(f.actions), "actor": list(f.actors)}}
        )

        async def rows() -> AsyncIterator[bytes]:
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(["seq", "at", "actor", "action", "object", "collection", "peer", "detail"])
            yield buf.getvalue().encode()
            before, sent = f.before_seq, 0
            while sent < MAX_EXPORT:
                page = AuditFilter(f.actions, f.actors, f.since_at, f.until_at, before, 5000)
                records, more = await self.run(self.store.audit_page, page)
                readable = await self.run(self.store.readable_ids, org, sorted(ids_in(records)))
                buf = io.StringIO()
                writer = csv.writer(buf, lineterminator="\n")
                for r in records:
                    v = record_view(r, readable)
                    row = [
                        v["seq"],
                        v["at"],
                        v["actor"],
                        v["action"],
                        v["object"],
                        v["collection"],
                        v["peer"],
                    ]
                    writer.writerow([*row, redact(r.detail, readable)])
                yield buf.getvalue().encode()
                sent += len(records)
                if not more or not records:
                    return
                before = records[-1].seq

        return StreamingResponse(
            rows(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
        )

    async def peers_page(self, request: Request) -> Response:
        await self.require_admin(request)
        peers = await self.run(self.store.list_peers)
        return self.render(
            request,
            "peers.html",
            peers=peers,
            cursor_text=lambda c: (
                "" if c is None else format_us(c.date_added_us) + ("" if c.complete else "~")
            ),
        )
