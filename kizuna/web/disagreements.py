"""Disagreements, shown and never merged: ``/ui/disagreements/`` lists what two or more sources report
about the same thing with different facts; ``/ui/disagreements/{key}`` puts the reports side by side, one
column per source and one row per property, differing cells marked with a symbol and in words.

"The same thing" is a sameness key computed by the store's read interface (:mod:`kizuna.hub.index`); only
reports the reader may read take part, so a group, its counts and its key never hint at hidden ones.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kizuna.hub.index import decode_key, encode_key, key_kind
from kizuna.hub.models import Org
from kizuna.hub.paging import Cursor
from kizuna.hub.reads import Hit, SameGroup
from kizuna.stix.ids import format_us
from kizuna.web.base import UiBase, href
from kizuna.web.diff import facts, side_by_side
from kizuna.web.errors import WebError
from kizuna.web.objects import MAX_SAME, run_key, tca_runs
from kizuna.web.summary import describe, parse_raw

#: Reports of one key read for the list (whether they differ, and by whom); its page reads more.
LIST_SAMPLE = 50

KINDS = {
    "value": "Indicators comparing the same observable value",
    "sco": "The same observable (SCO id)",
    "name": "Possibly the same (same name or alias; never asserted)",
    "conjunction": "The same conjunction (NORAD pair, TCAs within 60 s)",
    "minerals": "The same minerals figures (mineral, stage, country, year)",
}


def key_text(key: str) -> str:
    """What a key says, for people: the value, the name, the NORAD pair and TCA, the minerals figures."""
    kind, _, rest = key.partition(":")
    if kind == "name":
        stix_type, _, name = rest.partition(":")
        return f"{name} ({stix_type})"
    if kind == "conjunction":
        pair, _, anchor = rest.partition("@")
        return f"NORAD {pair.replace('-', ' / ')}" + (
            f", TCA {format_us(int(anchor))}" if anchor.isdigit() else ""
        )
    if kind == "minerals":
        mineral, stage, country, year = [*rest.split(":"), "", "", "", ""][:4]
        where = "world" if country == "world" else country
        return f"{mineral}, {stage}, {where}, {year}"
    return rest


def distinct_facts(hits: list[Hit], key: str) -> bool:
    seen = {tuple(sorted(facts(parse_raw(h.row.raw), key).items())) for h in hits}
    return len(seen) > 1


class DisagreementPages(UiBase):
    def groups_page(
        self, org: Org, kinds: tuple[str, ...], collection: Any, after: Any, limit: int
    ) -> tuple[list[dict[str, Any]], SameGroup | None, bool]:
        # two statements whatever the groups hold: the groups, and each one's first reports (one more than
        # the list shows, so a group with more says so: counting them all would read every report of a key
        # that thousands share, for every group of the page)
        groups, more = self.store.same_groups(
            org, kinds=kinds, collection=collection, after=after, limit=limit, count=False
        )
        sampled = self.store.same_members_of(
            org, [g.key for g in groups], limit=LIST_SAMPLE + 1, collection=collection
        )
        rows = []
        for g in groups:
            # the first reports show whether facts differ and who reports them
            members = sampled[g.key]
            capped = len(members) > LIST_SAMPLE
            members = members[:LIST_SAMPLE]
            runs = tca_runs(members) if key_kind(g.key) == "conjunction" else [members]
            for run in runs:
                sources = {m.source.origin for m in run}
                if not capped and (len(sources) < 2 or not distinct_facts(run, g.key)):
                    continue
                key = run_key(g.key, run) if key_kind(g.key) == "conjunction" else g.key
                rows.append(
                    {
                        "key": key,
                        "kind": KINDS[key_kind(g.key)],
                        "text": key_text(key),
                        "reports": f"{LIST_SAMPLE}+" if capped else str(len({m.row.id for m in run})),
                        "sources": sorted({m.source.name for m in run}) + (["…"] if capped else []),
                        "types": sorted({m.row.type for m in run}),
                        "href": href(f"/disagreements/{encode_key(key)}"),
                    }
                )
        return rows, (groups[-1] if groups else None), more

    async def disagreements(self, request: Request) -> Response:
        org = await self.require_org(request)
        params = self.params(request)
        kinds = params.choices("kind", tuple(KINDS))
        cid = params.one("collection")
        collection = await self.readable_collection(org, cid) if cid else None
        scope = f"ui:disagreements:{org.id}"
        after = self.cursor(params, "page", scope)
        size = self.page_size_of(params)
        rows, last, more = await self.run(self.groups_page, org, kinds, collection, after, size)
        next_href = None
        if more and last is not None:
            token = self.cursors.encode(Cursor(last.position), scope=scope)
            next_href = href(
                "/disagreements/", kind=list(kinds), collection=cid, size=params.one("size"), page=token
            )
        pairs = await self.collections(org)
        return self.render(
            request,
            "disagreements.html",
            rows=rows,
            kinds=KINDS,
            chosen_kinds=kinds,
            collections=[c for c, _ in pairs],
            chosen_collection=cid or "",
            next_href=next_href,
            first_href=href("/disagreements/", kind=list(kinds), collection=cid)
            if after is not None
            else None,
        )

    async def disagreement(self, request: Request) -> Response:
        org = await self.require_org(request)
        text = str(request.path_params["key"])
        key = decode_key(text)
        missing = WebError(404, "No such disagreement", "No reports under this key are available to you.")
        if key is None:
            raise missing
        base, _, anchor = key.partition("@")
        members = await self.run(self.store.same_members, org, base, limit=MAX_SAME)
        if key_kind(base) == "conjunction":
            runs = [r for r in tca_runs(members) if run_key(base, r) == key]
            members = runs[0] if runs else []
        elif anchor:
            members = []
        if len({m.source.origin for m in members}) < 2:
            raise missing
        columns = []
        cells = []
        for m in members:
            obj = parse_raw(m.row.raw)
            columns.append({"row": self.row_view(m), "title": describe(obj) or m.row.id})
            cells.append(facts(obj, base))
        lines = side_by_side(cells)
        return self.render(
            request,
            "disagreement.html",
            key=key,
            kind=KINDS[key_kind(base)],
            text=key_text(key),
            columns=columns,
            lines=lines,
            differing=sum(1 for line in lines if line.differs),
        )
