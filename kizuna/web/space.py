"""Space: ``/ui/space/conjunctions/`` lists the published conjunction objects the reader may read (sortable
NORAD pair, TCA, miss distance, relative speed, Pc and method, producer; filters by NORAD id, TCA window, Pc
and miss); each event's page draws the encounter plane and the range over time with the same code as
``kizuna space plot`` (:func:`kizuna.space.plot.plot_encounter`), as inline SVG with a text alternative and
a table, and offers the CDM exactly as kept in the object.
"""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from kizuna.errors import KizunaError
from kizuna.hub.index import CONJUNCTION_TYPE
from kizuna.hub.reads import COUNT_CAP, Conjunction, ConjunctionQuery
from kizuna.stix.ids import to_us
from kizuna.web.base import UiBase, href, object_href, q
from kizuna.web.errors import WebError
from kizuna.web.summary import parse_raw

SORTS = {
    "tca": lambda c: c.tca_us,
    "miss": lambda c: (c.miss_km is None, c.miss_km or 0.0),
    "pc": lambda c: (c.pc is None, -(c.pc or 0.0)),
    "speed": lambda c: (c.rel_speed_km_s is None, -(c.rel_speed_km_s or 0.0)),
    "pair": lambda c: (c.norad_1, c.norad_2, c.tca_us),
}
#: Plots kept drawn (each is a few tens of KB of SVG).
MAX_PLOTS = 64
_PLOT_LOCK = threading.Lock()  # matplotlib's pyplot is not thread-safe


def draw_encounter(obj: dict[str, Any], chart_id: str) -> tuple[Markup, list[tuple[float, float]], str]:
    """The encounter plane and range-over-time plot of one conjunction object (from its CDM), as inline
    SVG; the range table beneath it; and a text alternative."""
    import matplotlib

    from kizuna.space.assessment import cdm_geometry
    from kizuna.space.cdm import parse_cdm
    from kizuna.space.plot import plot_encounter, range_profile
    from kizuna.web.charts import inline_svg

    cdm = parse_cdm(str(obj.get("cdm") or ""), source="the conjunction's CDM")
    g = cdm_geometry(cdm)
    hbr = obj.get("hbr_m") if isinstance(obj.get("hbr_m"), int | float) else cdm.hbr_m
    radius = float(hbr) if hbr is not None else 10.0
    pc = obj.get("collision_probability")
    pc_text = f"Pc {pc:.3e} ({obj.get('pc_method', '?')})" if isinstance(pc, int | float) else ""
    names = (
        f"{obj.get('object_name_1') or obj.get('norad_1')} / {obj.get('object_name_2') or obj.get('norad_2')}"
    )
    title = f"{names}, TCA {obj.get('tca', '?')}"
    with _PLOT_LOCK, tempfile.TemporaryDirectory(prefix="kizuna-plot-") as tmp:
        out = Path(tmp) / "plot.svg"
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "kizuna"}):
            plot_encounter(g, radius, title, out, pc_text=pc_text, image_format="svg")
        svg = out.read_bytes()
    import numpy as np

    r_rel, v_rel = g.r2 - g.r1, g.v2 - g.v1
    speed = float(np.linalg.norm(v_rel))
    half = min(max(5.0, 20 * float(np.linalg.norm(r_rel)) / max(speed, 1e-9)), 3 * 3600.0)
    times, ranges = range_profile(g, half, points=21)
    table = [(float(t), float(r)) for t, r in zip(times, ranges, strict=True)]
    desc = (
        f"Left: the encounter plane with object 1 at the origin, the hard-body circle of {radius:g} m and the"
        f" miss vector of {float(np.linalg.norm(r_rel)) * 1000:.1f} m. Right: the range between the objects"
        f" from {-half:.0f} s to {half:.0f} s around TCA, closest at TCA; the table below lists it."
    )
    return inline_svg(svg, title=title, desc=desc, chart_id=chart_id), table, desc


class SpacePages(UiBase):
    def init_space(self) -> None:
        self._plots: OrderedDict[int, tuple[Markup, list[tuple[float, float]], str]] = OrderedDict()
        self._plots_lock = threading.Lock()

    def plot(self, date_added_us: int, obj: dict[str, Any]) -> tuple[Markup, list[tuple[float, float]], str]:
        with self._plots_lock:
            found = self._plots.get(date_added_us)
        if found is not None:
            return found
        drawn = draw_encounter(obj, "encounter")
        with self._plots_lock:
            self._plots[date_added_us] = drawn
            while len(self._plots) > MAX_PLOTS:
                self._plots.popitem(last=False)
        return drawn

    async def conjunctions_page(self, request: Request) -> Response:
        org = await self.require_org(request)
        params = self.params(request)
        tca_from = params.moment_us("from")
        tca_to = params.moment_us("to")
        query = ConjunctionQuery(
            norad=params.integer("norad", lo=0, hi=999_999_999, default=None),
            tca_from_us=tca_from,
            tca_to_us=tca_to,
            min_pc=params.number("min_pc", lo=0.0, hi=1.0),
            max_miss_km=params.number("max_miss_km", lo=0.0, hi=1e6),
            limit=COUNT_CAP,
        )
        sort = params.choice("sort", tuple(SORTS), "tca")
        direction = params.choice("dir", ("asc", "desc"), "desc" if sort == "tca" else "asc")
        size = self.page_size_of(params)
        offset = params.integer("offset", lo=0, hi=COUNT_CAP, default=0) or 0
        found, truncated = await self.run(self.store.conjunctions, org, query)
        found.sort(key=SORTS[sort], reverse=direction == "desc")
        page = found[offset : offset + size]
        keep = {
            k: params.one(k)
            for k in ("norad", "from", "to", "min_pc", "max_miss_km", "size")
            if params.one(k)
        }
        rows = [self.conjunction_view(c) for c in page]
        return self.render(
            request,
            "conjunctions.html",
            rows=rows,
            total=len(found),
            truncated=truncated,
            sort=sort,
            direction=direction,
            filters=keep,
            sort_href=lambda s: href(
                "/space/conjunctions/",
                **keep,
                sort=s,
                dir="asc" if sort == s and direction == "desc" else "desc",
            ),
            next_href=href("/space/conjunctions/", **keep, sort=sort, dir=direction, offset=offset + size)
            if offset + size < len(found)
            else None,
            prev_href=href(
                "/space/conjunctions/", **keep, sort=sort, dir=direction, offset=max(0, offset - size)
            )
            if offset > 0
            else None,
            offset=offset,
        )

    def conjunction_view(self, c: Conjunction) -> dict[str, Any]:
        obj = parse_raw(c.hit.row.raw)
        return {
            "c": c,
            "row": self.row_view(c.hit),
            "names": (obj.get("object_name_1") or "", obj.get("object_name_2") or ""),
            "href": href(f"/space/conjunctions/{q(c.hit.row.id)}"),
            "hbr_m": obj.get("hbr_m"),
        }

    async def conjunction_page(self, request: Request) -> Response:
        org = await self.require_org(request)
        object_id = self.object_id(request)
        versions = await self.readable_versions(org, object_id)
        hit = versions[0].hit
        if hit.row.type != CONJUNCTION_TYPE:
            raise WebError(404, "Object not found", f"No object {object_id!r} is available to you.")
        obj = parse_raw(hit.row.raw)
        plot_error = None
        svg: Markup | None = None
        table: list[tuple[float, float]] = []
        desc = ""
        try:
            svg, table, desc = await self.run(self.plot, hit.row.date_added_us, obj)
        except (KizunaError, ValueError, KeyError, TypeError) as exc:
            plot_error = f"The plot could not be drawn from this object's CDM: {exc}"
        tca = obj.get("tca")
        return self.render(
            request,
            "conjunction.html",
            obj=obj,
            row=self.row_view(hit),
            object_id=object_id,
            svg=svg,
            table=table,
            desc=desc,
            plot_error=plot_error,
            cdm_href=href(f"/space/conjunctions/{q(object_id)}/cdm"),
            object_href=object_href(object_id),
            tca_us=to_us_or_none(tca),
        )

    async def conjunction_cdm(self, request: Request) -> Response:
        """The CDM as the object keeps it, byte for byte (audited download)."""
        org = await self.require_org(request)
        object_id = self.object_id(request)
        versions = await self.readable_versions(org, object_id)
        obj = parse_raw(versions[0].hit.row.raw)
        cdm = obj.get("cdm")
        if versions[0].hit.row.type != CONJUNCTION_TYPE or not isinstance(cdm, str):
            raise WebError(404, "Object not found", f"No object {object_id!r} is available to you.")
        xml = obj.get("cdm_format") == "xml"
        await self.audit_download(org, "cdm", {"id": object_id, "version": versions[0].hit.row.version})
        return Response(
            cdm.encode(),
            media_type="application/xml" if xml else "text/plain; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{object_id}.{"xml" if xml else "cdm"}"'},
        )


def to_us_or_none(text: object) -> int | None:
    from kizuna.stix.ids import parse_timestamp

    if not isinstance(text, str):
        return None
    try:
        return to_us(parse_timestamp(text))
    except ValueError:
        return None
