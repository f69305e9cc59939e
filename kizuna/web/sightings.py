"""Live sightings: ``/ui/sightings/`` lists the objects (indicators, mostly) sighted in a window (default
30 days), with counts, first and last seen, distinct reporting organisations and a sparkline per day; the
second tab lists stale indicators (no sighting for 90 days, past ``valid_until``, revoked). Every aggregate
counts only sightings the reader may read (the store's policy-filtered tallies)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kizuna.hub.models import Org
from kizuna.hub.paging import Cursor
from kizuna.hub.reads import TLP_FILTER_LABELS, Hit
from kizuna.stix.ids import is_stix_id, to_us
from kizuna.web.base import UiBase, href, object_href
from kizuna.web.charts import sparkline
from kizuna.web.summary import describe, parse_raw

_DAY_US = 86_400_000_000
QUIET_DAYS = 90
WINDOWS = ("1", "7", "30", "90", "365")


class SightingPages(UiBase):
    def describe_refs(self, org: Org, refs: list[str]) -> dict[str, dict[str, Any]]:
        found = self.store.latest(org, [r for r in refs if is_stix_id(r)])
        return {r: self.describe_ref(r, found.get(r)) for r in refs}

    def describe_ref(self, ref: str, hit: Hit | None) -> dict[str, Any]:
        """The sighted object as the reader may see it; the same words for one missing or hidden."""
        if hit is None:
            return {"id": ref, "text": "", "href": None, "type": ref.partition("--")[0]}
        return {
            "id": ref,
            "text": describe(parse_raw(hit.row.raw)),
            "href": object_href(ref),
            "type": hit.row.type,
            "row": self.row_view(hit),
        }

    async def sightings(self, request: Request) -> Response:
        org = await self.require_org(request)
        params = self.params(request)
        tab = params.choice("tab", ("live", "stale"), "live")
        cid = params.one("collection")
        collection = await self.readable_collection(org, cid) if cid else None
        tlps = params.choices("tlp", TLP_FILTER_LABELS)
        window = int(params.choice("window", WINDOWS, "30"))
        size = self.page_size_of(params)
        now_us = to_us(self.clock())
        pairs = await self.collections(org)
        common: dict[str, Any] = {
            "tab": tab,
            "window": window,
            "windows": WINDOWS,
            "collections": [c for c, _ in pairs],
            "chosen_collection": cid or "",
            "tlp_labels": TLP_FILTER_LABELS,
            "chosen_tlps": tlps,
            "quiet_days": QUIET_DAYS,
            "live_href": href("/sightings/", collection=cid, window=window),
            "stale_href": href("/sightings/", tab="stale", collection=cid),
        }
        if tab == "stale":
            scope = f"ui:stale:{org.id}"
            after = self.cursor(params, "page", scope)
            stale, more = await self.run(
                self.store.stale_indicators,
                org,
                now_us=now_us,
                quiet_since_us=now_us - QUIET_DAYS * _DAY_US,
                collection=collection,
                after=after,
                limit=size,
            )
            rows = [{"s": s, "row": self.row_view(s.hit)} for s in stale]
            next_href = None
            if more and stale:
                token = self.cursors.encode(Cursor(stale[-1].hit.row.date_added_us), scope=scope)
                next_href = href(
                    "/sightings/", tab="stale", collection=cid, size=params.one("size"), page=token
                )
            return self.render(request, "sightings.html", rows=rows, next_href=next_href, **common)
        offset = params.integer("offset", lo=0, hi=10_000, default=0) or 0
        since = now_us - window * _DAY_US
        tallies, more = await self.run(
            self.store.sighting_tallies,
            org,
            since_us=since,
            until_us=now_us + 1,
            collection=collection,
            tlps=tlps,
            offset=offset,
            limit=size,
        )
        rows = []
        targets = await self.run(self.describe_refs, org, [t.ref for t in tallies])
        for t in tallies:
            target = targets[t.ref]
            rows.append(
                {
                    "t": t,
                    "target": target,
                    "spark": sparkline(t.per_day, label=f"Sightings per day of {target['text'] or t.ref}"),
                }
            )
        next_href = (
            href(
                "/sightings/",
                collection=cid,
                tlp=list(tlps),
                window=window,
                size=params.one("size"),
                offset=offset + size,
            )
            if more and offset + size <= 10_000
            else None
        )
        return self.render(request, "sightings.html", rows=rows, next_href=next_href, offset=offset, **common)
