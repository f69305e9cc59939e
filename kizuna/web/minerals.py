"""Minerals: ``/ui/minerals/`` lists the published supply-risk assessments the reader may read; each page
draws the assessment's charts as inline SVG (supplier shares by stage, a partner's import exposure, a
scenario's shortfall before and after reallocation, sourcing today and after optimisation) with the data
table beneath and a CSV download of that table.

The assessment object carries the minerals command's full ``--json`` document (``kizuna/minerals/
publish.py``); the figures here are read from it as published, never recomputed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kizuna.hub.index import ASSESSMENT_TYPE
from kizuna.hub.reads import Search
from kizuna.web.base import UiBase, href, object_href, q
from kizuna.web.charts import Stack, stacked_bars
from kizuna.web.errors import WebError
from kizuna.web.summary import parse_raw

#: Suppliers shown by name in a bar; the rest are one "other".
TOP = 6


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def _top(shares: Mapping[str, Any], n: int = TOP) -> tuple[tuple[str, float], ...]:
    items = sorted(((k, _num(v) or 0.0) for k, v in shares.items()), key=lambda kv: -kv[1])
    top = [(k, v / 100.0) for k, v in items[:n] if v > 0]
    rest = sum(v for _, v in items[n:])
    if rest > 0:
        top.append(("other", rest / 100.0))
    return tuple(top)


class Tables:
    """What one assessment shows: charts (title, stacks) and one data table (header, rows)."""

    def __init__(self) -> None:
        self.charts: list[tuple[str, list[Stack]]] = []
        self.header: list[str] = []
        self.rows: list[list[str]] = []


def _map(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}


def _list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.4g}"


def _by_share(shares: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return sorted(shares.items(), key=lambda kv: -(_num(kv[1]) or 0.0))


def _profile(doc: Mapping[str, Any], t: Tables) -> None:
    t.header = ["mineral", "stage", "source", "year", "basis", "HHI", "supplier", "share_pct"]
    stacks = []
    for s in map(_map, _list(doc.get("series"))):
        shares = _map(s.get("shares_pct"))
        if not shares:
            continue
        stacks.append(Stack(f"{s.get('stage')}: {s.get('source')} {s.get('year')}", _top(shares)))
        head = [str(doc.get("mineral", "")), str(s.get("stage", "")), str(s.get("source", ""))]
        head += [str(s.get("year", "")), str(s.get("basis", "")), _fmt(_num(s.get("hhi")))]
        t.rows.extend([*head, supplier, _fmt(_num(share))] for supplier, share in _by_share(shares))
    t.charts.append((f"{doc.get('name', doc.get('mineral', ''))}: supplier shares by stage", stacks))


def _exposure(doc: Mapping[str, Any], t: Tables) -> None:
    t.header = ["partner", "mineral", "stage", "year", "import_reliance_pct", "import_hhi", "geopolrisk"]
    t.header += ["supplier", "share_pct"]
    stacks = []
    for e in map(_map, _list(doc.get("exposures"))):
        for s in map(_map, _list(e.get("stages"))):
            shares = _map(s.get("import_shares_pct"))
            if not shares:
                continue
            stacks.append(Stack(f"{e.get('partner')} {e.get('mineral')} {s.get('stage')}", _top(shares)))
            head = [str(e.get("partner", "")), str(e.get("mineral", "")), str(s.get("stage", ""))]
            head += [str(s.get("year", "")), _fmt(_num(s.get("import_reliance_pct")))]
            head += [_fmt(_num(s.get("import_hhi"))), _fmt(_num(_map(s.get("geopolrisk")).get("score")))]
            t.rows.extend([*head, supplier, _fmt(_num(share))] for supplier, share in _by_share(shares))
    t.charts.append(("Partner exposure: import shares by supplier", stacks))


def _scenario(doc: Mapping[str, Any], t: Tables) -> None:
    t.header = ["partner", "restriction", "before_direct_pct", "before_through_processing_pct"]
    t.header += ["before_total_pct", "after_total_pct"]
    stacks = []
    for i in map(_map, _list(doc.get("impacts"))):
        before, after = _map(i.get("before")), _map(i.get("after"))
        direct = _num(before.get("direct_pct")) or 0.0
        through = _num(before.get("through_processing_pct")) or 0.0
        label = f"{i.get('partner')} {i.get('restriction')}"
        stacks.append(
            Stack(label + " before", (("direct", direct / 100), ("through processing", through / 100)))
        )
        after_pct = (_num(after.get("total_pct")) or 0.0) / 100
        stacks.append(Stack(label + " after", (("after reallocation", after_pct),)))
        row = [str(i.get("partner", "")), str(i.get("restriction", "")), _fmt(_num(before.get("direct_pct")))]
        row += [_fmt(_num(before.get("through_processing_pct"))), _fmt(_num(before.get("total_pct")))]
        row += [_fmt(_num(after.get("total_pct")))]
        t.rows.append(row)
    t.charts.append(("Shortfall, % of apparent consumption, before and after reallocation", stacks))


def _diversify(doc: Mapping[str, Any], t: Tables) -> None:
    t.header = ["partner", "when", "supplier", "tonnes"]
    stacks = []
    for p in map(_map, _list(doc.get("partners"))):
        for when in ("today", "optimal"):
            alloc = _map(p.get(f"{when}_t"))
            if not alloc:
                continue
            total = sum(_num(v) or 0.0 for v in alloc.values()) or 1.0
            shares = {k: 100 * (_num(v) or 0.0) / total for k, v in alloc.items()}
            stacks.append(Stack(f"{p.get('partner')} {when}", _top(shares)))
            t.rows.extend(
                [str(p.get("partner", "")), when, supplier, _fmt(_num(tonnes))]
                for supplier, tonnes in _by_share(alloc)
            )
    t.charts.append(("Sourcing today and after the joint optimisation (share of demand)", stacks))


def assessment_tables(obj: Mapping[str, Any]) -> Tables:
    """Charts and the data table of an assessment object, by its kind; unknown kinds get a table of its
    top-level figures."""
    doc = _map(obj.get("assessment"))
    t = Tables()
    draw = {"profile": _profile, "exposure": _exposure, "scenario": _scenario, "diversify": _diversify}
    kind = obj.get("assessment_kind")
    if isinstance(kind, str) and kind in draw:
        draw[kind](doc, t)
    if not t.rows:
        t.header = ["figure", "value"]
        t.charts = []
        for k, v in doc.items():
            if isinstance(v, str | int | float) and not isinstance(v, bool):
                t.rows.append([str(k), str(v)])
    return t


class MineralsPages(UiBase):
    async def minerals_page(self, request: Request) -> Response:
        org = await self.require_org(request)
        params = self.params(request)
        size = self.page_size_of(params)
        scope = f"ui:minerals:{org.id}"
        after = self.cursor(params, "page", scope)
        page = await self.run(
            self.store.search,
            org,
            Search(types=(ASSESSMENT_TYPE,), newest_first=True, after=after, limit=size),
        )
        rows = []
        for h in page.hits:
            obj = parse_raw(h.row.raw)
            rows.append(
                {
                    "row": self.row_view(h),
                    "name": obj.get("name") or h.row.id,
                    "kind": obj.get("assessment_kind") or "",
                    "minerals": ", ".join(m for m in obj.get("minerals") or () if isinstance(m, str)),
                    "partners": ", ".join(m for m in obj.get("partners") or () if isinstance(m, str)),
                    "href": href(f"/minerals/{q(h.row.id)}"),
                }
            )
        cursor = page.cursor
        return self.render(
            request,
            "minerals.html",
            rows=rows,
            next_href=href(
                "/minerals/", size=params.one("size"), page=self.cursors.encode(cursor, scope=scope)
            )
            if page.more and cursor is not None
            else None,
            first_href=href("/minerals/") if after is not None else None,
        )

    async def _assessment(self, request: Request) -> tuple[Any, dict[str, Any], str]:
        org = await self.require_org(request)
        object_id = self.object_id(request)
        versions = await self.readable_versions(org, object_id)
        hit = versions[0].hit
        if hit.row.type != ASSESSMENT_TYPE:
            raise WebError(404, "Object not found", f"No object {object_id!r} is available to you.")
        return hit, parse_raw(hit.row.raw), object_id

    async def assessment_page(self, request: Request) -> Response:
        hit, obj, object_id = await self._assessment(request)
        tables = assessment_tables(obj)
        charts = [
            (title, stacked_bars(stacks, title=title, chart_id=f"minerals-{i}"))
            for i, (title, stacks) in enumerate(tables.charts)
            if stacks
        ]
        notes = [n for n in _list(_map(obj.get("assessment")).get("notes")) if isinstance(n, str)]
        return self.render(
            request,
            "assessment.html",
            obj=obj,
            row=self.row_view(hit),
            charts=charts,
            header=tables.header,
            rows=tables.rows,
            notes=notes,
            csv_href=href(f"/minerals/{q(object_id)}/csv"),
            object_href=object_href(object_id),
        )

    async def assessment_csv(self, request: Request) -> Response:
        hit, obj, object_id = await self._assessment(request)
        tables = assessment_tables(obj)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(tables.header)
        writer.writerows([[_csv_safe(c) for c in row] for row in tables.rows])
        org = request.state.org
        await self.audit_download(org, "minerals-csv", {"id": object_id, "version": hit.row.version})
        return Response(
            buf.getvalue().encode(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{object_id}.csv"'},
        )


def _csv_safe(cell: str) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(cell) else cell


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
