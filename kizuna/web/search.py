"""Search and collection pages: the same filters over every readable collection or one of them.

``/ui/search?q=...``: free text over names, descriptions, aliases and observable values; a query that is
one observable value (an IP, a domain, a hash, a URL, an e-mail address) finds, exactly, the indicators
whose patterns compare it and the observables holding it. Filters: type, TLP, producer, origin hub, added
after/before, revoked. Keyset paging (50/100/500 a page) with the hub's one cursor type; totals counted to
10,000 ("10,000+" beyond). Counts and facets come from tallies cached per write.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kizuna.hub import policy
from kizuna.hub.index import looks_like_observable
from kizuna.hub.models import Collection, Org
from kizuna.hub.reads import COUNT_CAP, TLP_FILTER_LABELS, Search, Source, Tally
from kizuna.web.base import UiBase, collection_href, href, q, tlp_css, tlp_text
from kizuna.web.charts import Bar, bar_chart
from kizuna.web.params import Params
from kizuna.web.summary import ranked, tlp_counts

#: Bars of the objects-per-type chart; the remaining types share one "other types" bar.
MAX_TYPE_BARS = 12


class SearchPages(UiBase):
    # -- cached reads -----------------------------------------------------------------------------------
    def reader_key(self, org: Org) -> tuple[Any, ...]:
        """Everything a reader's reads depend on besides the stored objects (generation): the organisation
        (its ceiling), its grants and, for another hub's account, its agreement."""
        grants = tuple((c.key, g) for c, g in self.store.collections_for(org))
        agreement = self.store.agreement_for(org) if policy.is_peer_account(org) else None
        return (org, grants, agreement)

    def tally(self, c: Collection, org: Org) -> Tally:
        key = ("tally", c.key, self.reader_key(org))
        return self.cache.get(key, lambda: self.store.tally(c, org, limit=self.max_summary_objects))

    def total(self, org: Org, search: Search) -> int:
        bare = replace(search, after=None, limit=0, newest_first=False)
        return self.cache.get(("count", bare, self.reader_key(org)), lambda: self.store.count(org, bare))

    def facets(self, org: Org, collections: list[Collection]) -> dict[str, Any]:
        """What the filters offer: only types, producers and hubs of objects the reader may read."""
        types: dict[str, int] = {}
        sources: dict[str, Source] = {}
        hubs: set[str] = set()
        for c in collections:
            t = self.tally(c, org)
            for k, n in t.by_type.items():
                types[k] = types.get(k, 0) + n
            sources.update(t.sources)
            hubs.update(h for h in t.by_hub if h)
        return {
            "types": [k for k, _ in ranked(types)],
            "sources": sorted(sources.values(), key=lambda s: (s.kind, s.name)),
            "hubs": sorted(hubs),
        }

    # -- parameters -------------------------------------------------------------------------------------
    def search_of(self, params: Params, collection: Collection | None, scope: str) -> tuple[Search, str]:
        text = params.text("q")
        mode = params.choice("mode", ("auto", "text", "value"), "auto")
        value = ""
        if text and (mode == "value" or (mode == "auto" and looks_like_observable(text))):
            value, text = text, ""
        hubs = tuple("" if h == "this" else h for h in params.all("hub"))
        search = Search(
            collection=collection,
            text=text,
            value=value,
            types=params.types("type"),
            tlps=params.choices("tlp", TLP_FILTER_LABELS),
            origins=tuple(dict.fromkeys(params.all("producer"))),
            origin_hubs=tuple(dict.fromkeys(hubs)),
            added_after_us=params.moment_us("added_after"),
            added_before_us=params.moment_us("added_before"),
            revoked=params.boolean("revoked"),
            after=self.cursor(params, "page", scope),
            newest_first=params.choice("order", ("oldest", "newest"), "oldest") == "newest",
            limit=self.page_size_of(params),
        )
        return search, mode

    @staticmethod
    def filter_values(params: Params) -> dict[str, Any]:
        """The filters as the page's links repeat them (no cursor)."""
        return {
            "q": params.text("q"),
            "mode": params.one("mode") or "",
            "type": params.all("type"),
            "tlp": params.all("tlp"),
            "producer": params.all("producer"),
            "hub": params.all("hub"),
            "added_after": params.one("added_after") or "",
            "added_before": params.one("added_before") or "",
            "revoked": params.one("revoked") or "",
            "order": params.one("order") or "",
            "size": params.one("size") or "",
        }

    # -- pages ------------------------------------------------------------------------------------------
    async def search_page(self, request: Request) -> Response:
        org = await self.require_org(request)
        params = self.params(request)
        pairs = await self.collections(org)
        readable = [c for c, g in pairs if policy.may_read_collection(g)]
        only = params.one("collection")
        collection = None
        if only:
            collection = await self.readable_collection(org, only)
        scope = f"ui:search:{org.id}"
        search, mode = self.search_of(params, collection, scope)
        return await self._list_page(
            request,
            org,
            params,
            search,
            scope,
            template="search.html",
            base_path="/search",
            facets=await self.run(self.facets, org, [collection] if collection else readable),
            extra={
                "collections": readable,
                "chosen_collection": collection,
                "mode": mode,
            },
        )

    async def collection(self, request: Request) -> Response:
        org = await self.require_org(request)
        c = await self.readable_collection(org, request.path_params["collection_id"])
        params = self.params(request)
        scope = f"ui:{c.id}:{org.id}"
        search, mode = self.search_of(params, c, scope)
        tally = await self.run(self.tally, c, org)
        return await self._list_page(
            request,
            org,
            params,
            search,
            scope,
            template="collection.html",
            base_path=f"/collections/{q(c.id)}",
            facets=await self.run(self.facets, org, [c]),
            extra={
                "collection": c,
                "tally": tally,
                "type_chart": self._type_chart(c, tally),
                "tlp_chart": self._tlp_chart(tally),
                "mode": mode,
            },
        )

    async def _list_page(
        self,
        request: Request,
        org: Org,
        params: Params,
        search: Search,
        scope: str,
        *,
        template: str,
        base_path: str,
        facets: dict[str, Any],
        extra: dict[str, Any],
    ) -> Response:
        page = await self.run(self.store.search, org, search)
        total = await self.run(self.total, org, search)
        filters = self.filter_values(params)
        if template == "search.html" and extra.get("chosen_collection") is not None:
            filters["collection"] = extra["chosen_collection"].id
        cursor = page.cursor
        next_href = (
            href(base_path, **filters, page=self.cursors.encode(cursor, scope=scope))
            if page.more and cursor is not None
            else None
        )
        first_href = href(base_path, **filters) if search.after is not None else None
        rows = [self.row_view(h) for h in page.hits]
        active = {k: v for k, v in filters.items() if v and k not in ("size", "order", "mode")}
        return self.render(
            request,
            template,
            rows=rows,
            total=total,
            total_text=f"{COUNT_CAP:,}+" if total > COUNT_CAP else f"{total:,}",
            filters=filters,
            active=active,
            facets=facets,
            tlp_labels=TLP_FILTER_LABELS,
            next_href=next_href,
            first_href=first_href,
            self_href=href(base_path),
            size=search.limit,
            value=search.value,
            text=search.text,
            text_href=href(base_path, **{**filters, "mode": "text"}),
            **extra,
        )

    def _type_chart(self, c: Collection, tally: Tally) -> Any:
        counts = ranked(tally.by_type)
        bars = [Bar(t, n, "bar", collection_href(c.id, type=t)) for t, n in counts[:MAX_TYPE_BARS]]
        rest = counts[MAX_TYPE_BARS:]
        if rest:
            bars.append(Bar(f"{len(rest)} other types", sum(n for _, n in rest), "bar bar-other"))
        return bar_chart(bars, title="Objects per type (latest versions)", chart_id="chart-types")

    def _tlp_chart(self, tally: Tally) -> Any:
        bars = [Bar(tlp_text(label), n, "bar " + tlp_css(label)) for label, n in tlp_counts(tally.by_tlp)]
        return bar_chart(bars, title="Objects per TLP marking (latest versions)", chart_id="chart-tlp")
