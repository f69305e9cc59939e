"""CLI for kizuna.minerals: ``kizuna minerals profile|exposure|scenario|diversify|eu-crm|restrictions``.

Every analysis command prints Rich tables, or with ``--json`` one JSON document with the same figures;
``--chart FILE.png`` draws the chart; ``--publish HUB_URL`` posts the assessment to a hub (STIX report +
kizuna extension object, TLP-marked). Data files can be replaced by newer releases with the group
options (``kizuna minerals --usgs mcs2027.csv profile cobalt``).
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.table import Table

from kizuna.clikit import FORCE_HELP, err, out, output_file, read_token_file, say, write_output
from kizuna.errors import InputError, NotFound
from kizuna.minerals import charts
from kizuna.minerals.catalogue import WATCHED, resolve_key
from kizuna.minerals.countries import PARTNERS
from kizuna.minerals.dataset import DataPaths, MineralsData
from kizuna.minerals.diversify import diversify as run_diversify
from kizuna.minerals.eucrm import Assumptions, compute_crm
from kizuna.minerals.exposure import DEFAULT_TRADE_YEAR, exposure
from kizuna.minerals.profile import all_minerals, profile, require_known, suggest
from kizuna.minerals.restrictions import SEEDED
from kizuna.minerals.scenario import load_scenario, run_scenario
from kizuna.minerals.tidy import slug
from kizuna.stix.markings import LEVEL_CHOICES, parse_level

app = typer.Typer(
    name="minerals",
    help="Critical-mineral supply risk: concentration, partner exposure, restriction scenarios, sourcing.",
    no_args_is_help=True,
)

DEFAULT_EXPOSURE_MINERALS = ("rare_earths", "gallium", "graphite_natural", "cobalt")


@app.callback()
def _group(
    ctx: typer.Context,
    usgs: Path | None = typer.Option(
        None, help="USGS MCS data release CSV (cp1252) instead of the shipped one."
    ),
    eu_global: Path | None = typer.Option(None, help="EU CRM global supply shares CSV."),
    eu_sourcing: Path | None = typer.Option(None, help="EU CRM EU sourcing shares CSV."),
    eu_use: Path | None = typer.Option(None, help="EU CRM material end-use shares CSV."),
    wgi: Path | None = typer.Option(None, help="WGI estimates CSV (iso3,country,year,indicator,estimate)."),
    baci: Path | None = typer.Option(None, help="BACI trade CSV (t,i,j,k,v,q)."),
    baci_countries: Path | None = typer.Option(None, help="BACI country codes CSV."),
) -> None:
    """Critical-mineral supply risk for the partnership's economic-security analysts."""
    ctx.obj = MineralsData(DataPaths(usgs, eu_global, eu_sourcing, eu_use, wgi, baci, baci_countries))


# -- shared options --------------------------------------------------------------------------------
JSON_OPT = typer.Option(False, "--json", help="Print one JSON document instead of tables.")
CHART_OPT = typer.Option(None, "--chart", help="Draw the chart to FILE.png (an existing file needs --force).")
FORCE_OPT = typer.Option(False, "--force", help=FORCE_HELP)
PUBLISH_OPT = typer.Option(None, "--publish", metavar="HUB_URL", help="Post to this hub's API root.")
TOKEN_OPT = typer.Option(None, "--token-file", help="File holding the hub token (with --publish).")
COLLECTION_OPT = typer.Option(None, "--collection", help="Collection id to post to (with --publish).")
TLP_OPT = typer.Option("amber", "--tlp", help=f"TLP of what is published: {', '.join(LEVEL_CHOICES)}.")


def _emit_json(doc: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")


def _data_block(data: MineralsData) -> dict[str, Any]:
    rep = data.report
    return {
        "files": [
            {"role": c.role, "path": c.path, "status": c.status, "sha256": c.sha256} for c in rep.checks
        ],
        "rows_read": rep.rows_read,
        "rows_kept": rep.rows_kept,
        "rows_rejected": len(rep.rejected),
    }


def _print_file_notes(data: MineralsData) -> None:
    for note in data.file_notes():
        err.print(f"kizuna: note: {note}", markup=False, soft_wrap=True)


def _maybe_publish(
    kind: str,
    title: str,
    doc: dict[str, Any],
    *,
    minerals: list[str],
    partners: list[str] | None,
    hub_url: str | None,
    token_file: Path | None,
    collection: str | None,
    tlp: str,
) -> None:
    if hub_url is None:
        return
    if token_file is None or collection is None:
        raise InputError("--publish needs --token-file and --collection")
    from kizuna.hub.client import HubClient
    from kizuna.minerals.publish import build_objects, publish

    level = parse_level(tlp)
    bundle = build_objects(kind, title, doc, level, minerals=minerals, partners=partners)
    with HubClient(hub_url, read_token_file(token_file)) as client:
        status = publish(client, collection, bundle)
    err.print(
        f"kizuna: published {bundle.report_id} ({level}) to {collection}: "
        f"{status.get('success_count', '?')} accepted, {status.get('failure_count', '?')} failed",
        markup=False,
        soft_wrap=True,
    )


def _check_chart(chart: Path | None, force: bool) -> None:
    """Before any work: the chart's name and place (an existing file is refused without --force)."""
    if chart is not None:
        charts.check_png_name(chart)
        output_file(chart, force=force, what="chart")


def _write_chart(fig: Any, chart: Path, force: bool) -> None:
    write_output(chart, lambda tmp: charts.save_png(fig, tmp), force=force, what="chart")
    say(f"kizuna: wrote chart {chart}")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


# -- profile ---------------------------------------------------------------------------------------
@app.command("profile")
def profile_cmd(
    ctx: typer.Context,
    mineral: str = typer.Argument(..., help="Mineral (e.g. cobalt, rare_earths, graphite), or 'all'."),
    year: int | None = typer.Option(None, help="USGS year (default: the latest in the release)."),
    as_json: bool = JSON_OPT,
    chart: Path | None = CHART_OPT,
    force: bool = FORCE_OPT,
    hub_url: str | None = PUBLISH_OPT,
    token_file: Path | None = TOKEN_OPT,
    collection: str | None = COLLECTION_OPT,
    tlp: str = TLP_OPT,
) -> None:
    """Supplier shares per stage (mining, refining), top-1/top-3, HHI (0-10,000) and China's share."""
    data: MineralsData = ctx.obj
    every = mineral.lower() == "all"
    if chart is not None and every:
        raise InputError("--chart draws one mineral; name it instead of 'all'")
    _check_chart(chart, force)
    keys = all_minerals(data) if every else [require_known(data, mineral)]
    profiles = [profile(data, k, year=year) for k in keys]
    docs = [p.as_dict() for p in profiles]
    doc: dict[str, Any] = docs[0] if len(docs) == 1 else {"profiles": docs}
    doc["data"] = _data_block(data)
    if chart is not None:
        _write_chart(charts.profile_figure(docs[0]), chart, force)
    if as_json:
        _emit_json(doc)
    else:
        for p in profiles:
            t = Table(title=f"{p.mineral.name} ({p.mineral.key}): supply by stage")
            for col in ("stage", "series", "HHI", "top-1", "top-3 %", "China %", "top suppliers (%)"):
                t.add_column(col)
            for s in p.series:
                c = s.conc
                top = ", ".join(f"{k} {100 * v:.1f}" for k, v in list(c.shares.items())[:5])
                t.add_row(
                    s.stage,
                    f"{'USGS' if s.source == 'usgs' else 'EU CRM'} {s.year}: {s.basis.split(': ', 1)[-1]}",
                    f"{c.hhi:,.0f}",
                    f"{c.top1_iso3} {100 * c.top1_share:.1f}%" if c.top1_iso3 else "-",
                    f"{100 * c.top3_share:.1f}",
                    f"{100 * c.share_of('CHN'):.1f}",
                    top,
                )
            out.print(t)
            for note in p.notes:
                out.print(f"  note: {note}", soft_wrap=True)
    _print_file_notes(data)
    _maybe_publish(
        "profile",
        f"Supply profile: {', '.join(keys) if len(keys) < 6 else f'{len(keys)} minerals'}",
        doc,
        minerals=keys,
        partners=None,
        hub_url=hub_url,
        token_file=token_file,
        collection=collection,
        tlp=tlp,
    )


# -- exposure --------------------------------------------------------------------------------------
@app.command("exposure")
def exposure_cmd(
    ctx: typer.Context,
    partner: list[str] = typer.Option(
        list(PARTNERS), "--partner", help="Partner ISO3 (repeatable): JPN, GBR."
    ),
    mineral: list[str] = typer.Option(
        list(DEFAULT_EXPOSURE_MINERALS),
        "--mineral",
        help="Mineral (repeatable); default: REE, Ga, graphite, Co.",
    ),
    year: int = typer.Option(DEFAULT_TRADE_YEAR, help="BACI trade year."),
    as_json: bool = JSON_OPT,
    chart: Path | None = CHART_OPT,
    force: bool = FORCE_OPT,
    hub_url: str | None = PUBLISH_OPT,
    token_file: Path | None = TOKEN_OPT,
    collection: str | None = COLLECTION_OPT,
    tlp: str = TLP_OPT,
) -> None:
    """Import reliance, import shares by supplier, import HHI and GeoPolRisk per partner and mineral."""
    data: MineralsData = ctx.obj
    _check_chart(chart, force)
    partners = [p.upper() for p in partner]
    keys = [require_known(data, m) for m in mineral]
    results = [exposure(data, p, m, year=year) for p in partners for m in keys]
    docs = [e.as_dict() for e in results]
    doc: dict[str, Any] = {"year": year, "exposures": docs, "data": _data_block(data)}
    if chart is not None:
        _write_chart(charts.exposure_figure(docs), chart, force)
    if as_json:
        _emit_json(doc)
    else:
        t = Table(title=f"Partner exposure (BACI {year}, tonnes)")
        for col in (
            "partner",
            "mineral",
            "stage",
            "imports t",
            "IR %",
            "import HHI",
            "top supplier",
            "China %",
            "GeoPolRisk",
        ):
            t.add_column(col)
        for e in results:
            for s in e.stages:
                t.add_row(
                    e.partner,
                    e.mineral.key,
                    s.stage + (" (proxy)" if s.proxy else ""),
                    f"{s.imports_t:,.0f}",
                    _pct(s.import_reliance_pct),
                    f"{s.shares.hhi:,.0f}",
                    f"{s.shares.top1_iso3} {100 * s.shares.top1_share:.0f}%" if s.shares.top1_iso3 else "-",
                    f"{100 * s.shares.share_of('CHN'):.1f}",
                    f"{s.gpr.score:.3f}",
                )
        out.print(t)
        seen: set[str] = set()
        for e in results:
            for note in e.notes:
                if note not in seen:
                    seen.add(note)
                    out.print(f"  note: {note}", soft_wrap=True)
            for s in e.stages:
                for note in s.notes:
                    out.print(f"  note ({e.partner} {e.mineral.key} {s.stage}): {note}", soft_wrap=True)
    _print_file_notes(data)
    _maybe_publish(
        "exposure",
        f"Partner exposure {', '.join(partners)}: {', '.join(keys)}",
        doc,
        minerals=keys,
        partners=partners,
        hub_url=hub_url,
        token_file=token_file,
        collection=collection,
        tlp=tlp,
    )


# -- scenario --------------------------------------------------------------------------------------
@app.command("scenario")
def scenario_cmd(
    ctx: typer.Context,
    scenario_file: Path = typer.Argument(..., help="SCENARIO.toml (see docs/minerals.md)."),
    as_of: str | None = typer.Option(None, "--as-of", help="Date the restrictions' status is judged on."),
    as_json: bool = JSON_OPT,
    chart: Path | None = CHART_OPT,
    force: bool = FORCE_OPT,
    hub_url: str | None = PUBLISH_OPT,
    token_file: Path | None = TOKEN_OPT,
    collection: str | None = COLLECTION_OPT,
    tlp: str = TLP_OPT,
) -> None:
    """Each partner's shortfall (t and % of apparent consumption), direct and through processing,
    before and after other suppliers' spare capacity is reallocated."""
    data: MineralsData = ctx.obj
    _check_chart(chart, force)
    today = datetime.now(UTC).date()
    sc = load_scenario(scenario_file, today=today)
    for r in sc.restrictions:
        try:
            require_known(data, r.mineral)
        except NotFound as exc:
            raise NotFound(f"{scenario_file}: restriction {r.id}: {exc}") from None
    if as_of is not None:
        try:
            when = date.fromisoformat(as_of)
        except ValueError:
            raise InputError(f"--as-of must be YYYY-MM-DD, got {as_of!r}") from None
        from dataclasses import replace

        sc = replace(sc, as_of=when)
    res = run_scenario(data, sc)
    doc = res.as_dict()
    doc["data"] = _data_block(data)
    if chart is not None:
        _write_chart(charts.scenario_figure(doc), chart, force)
    if as_json:
        _emit_json(doc)
    else:
        t = Table(title=f"Scenario {sc.name} (BACI {sc.year}, as of {sc.as_of})")
        for col in (
            "partner",
            "restriction",
            "direct t",
            "processing t",
            "before t",
            "before %",
            "reallocated t",
            "after t",
            "after %",
        ):
            t.add_column(col)
        for i in res.impacts:

            def tonnes(x: float, proxy: bool = i.proxy) -> str:
                return "n/a (proxy)" if proxy else f"{x:,.1f}"

            t.add_row(
                i.partner,
                i.restriction,
                tonnes(i.direct_t),
                tonnes(i.processed_t),
                tonnes(i.loss_t),
                _pct(i.pct(i.loss_t)),
                tonnes(i.reallocated_t),
                tonnes(i.after_t),
                _pct(i.pct(i.after_t)),
            )
        out.print(t)
        for note in res.notes:
            out.print(f"  note: {note}", soft_wrap=True)
    _print_file_notes(data)
    _maybe_publish(
        "scenario",
        f"Restriction scenario: {sc.name}",
        doc,
        minerals=sorted({r.mineral for r in sc.restrictions}),
        partners=list(sc.partners),
        hub_url=hub_url,
        token_file=token_file,
        collection=collection,
        tlp=tlp,
    )


@app.command("restrictions")
def restrictions_cmd(as_json: bool = JSON_OPT) -> None:
    """The seeded restriction table (ids usable in a scenario file), with each public source.

    One block per restriction: its id, country, mineral, HS92 codes and dates on the first line, the measure
    and the source below, wrapped between words to the terminal's width (ids are never split)."""
    if as_json:
        _emit_json({"restrictions": [r.as_dict() for r in SEEDED]})
        return
    import textwrap

    width = max(40, out.width)
    lines = ["Seeded export restrictions (ids usable in a scenario file)", ""]
    for r in SEEDED:
        dates = f"effective {r.effective.isoformat()}"
        if r.suspended_until:
            dates += f", suspended until {r.suspended_until.isoformat()}"
        hs = " ".join(str(h) for h in r.hs) or "-"
        head = f"{r.id}  {r.country_iso3} {r.mineral}  HS92 {hs}  {dates}"
        lines += textwrap.wrap(
            head, width, subsequent_indent="    ", break_long_words=False, break_on_hyphens=False
        )
        for label, text in (("measure", r.measure), ("source", r.source)):
            lines += textwrap.wrap(
                f"{label}: {text}",
                width,
                initial_indent="  ",
                subsequent_indent="    ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        lines.append("")
    for line in lines[:-1]:
        out.print(line, soft_wrap=True)


# -- diversify -------------------------------------------------------------------------------------
@app.command("diversify")
def diversify_cmd(
    ctx: typer.Context,
    mineral: str = typer.Argument(
        ..., help="Mineral with HS92 trade codes (rare_earths, graphite, cobalt...)."
    ),
    partner: list[str] = typer.Option(list(PARTNERS), "--partner", help="Partners optimised jointly."),
    year: int = typer.Option(DEFAULT_TRADE_YEAR, help="BACI trade year (demand, prices, capacity)."),
    cap_pct: float = typer.Option(40.0, help="Most any one supplier may provide, % of a partner's demand."),
    allied_pct: float = typer.Option(50.0, help="Least share from allied suppliers, % of what is sourced."),
    headroom_pct: float = typer.Option(20.0, help="Spare capacity, % of each supplier's exports."),
    risk_weight: float | None = typer.Option(
        None, help="USD per tonne per unit of instability g (default: world average unit value)."
    ),
    exclude: list[str] = typer.Option([], "--exclude", help="Supplier ISO3 to leave out (repeatable)."),
    as_json: bool = JSON_OPT,
    chart: Path | None = CHART_OPT,
    force: bool = FORCE_OPT,
    hub_url: str | None = PUBLISH_OPT,
    token_file: Path | None = TOKEN_OPT,
    collection: str | None = COLLECTION_OPT,
    tlp: str = TLP_OPT,
) -> None:
    """Joint UK+Japan sourcing LP (HiGHS): cost + governance risk, shared capacity, caps, allied share."""
    data: MineralsData = ctx.obj
    _check_chart(chart, force)
    res = run_diversify(
        data,
        require_known(data, mineral),
        partners=[p.upper() for p in partner],
        year=year,
        cap_pct=cap_pct,
        allied_pct=allied_pct,
        headroom_pct=headroom_pct,
        risk_weight_usd_per_t=risk_weight,
        exclude=[e.upper() for e in exclude],
    )
    doc = res.as_dict()
    doc["data"] = _data_block(data)
    if chart is not None:
        _write_chart(charts.diversify_figure(doc), chart, force)
    if as_json:
        _emit_json(doc)
    else:
        t = Table(title=f"{res.mineral}: joint sourcing optimum (HS {res.hs}, BACI {res.year})")
        for col in (
            "partner",
            "demand t",
            "cost today USD",
            "cost optimal USD",
            "allied % today/opt",
            "HHI today/opt",
            "unmet t",
            "optimal suppliers (t)",
        ):
            t.add_column(col)
        for p in res.plans:
            top = ", ".join(
                f"{k} {v:,.0f}" for k, v in sorted(p.optimal_t.items(), key=lambda kv: -kv[1])[:6]
            )
            t.add_row(
                p.partner,
                f"{p.demand_t:,.0f}",
                f"{p.cost_today_usd:,.0f}",
                f"{p.cost_optimal_usd:,.0f}",
                f"{p.allied_today_pct:.0f} / {p.allied_optimal_pct:.0f}",
                f"{p.hhi_today:,.0f} / {p.hhi_optimal:,.0f}",
                f"{p.unmet_t:,.1f}",
                top,
            )
        out.print(t)
        for note in res.notes:
            out.print(f"  note: {note}", soft_wrap=True)
    _print_file_notes(data)
    _maybe_publish(
        "diversify",
        f"Joint sourcing optimisation: {res.mineral}",
        doc,
        minerals=[res.mineral],
        partners=[p.partner for p in res.plans],
        hub_url=hub_url,
        token_file=token_file,
        collection=collection,
        tlp=tlp,
    )


# -- EU CRM ----------------------------------------------------------------------------------------
@app.command("eu-crm")
def eu_crm_cmd(
    ctx: typer.Context,
    year: int = typer.Option(2023, help="Assessment year (the shipped inputs are the 2023 assessment)."),
    material: list[str] = typer.Option([], "--material", help="Only these materials (repeatable)."),
    ir: float = typer.Option(1.0, help="Assumed import reliance IR (0-1), absent from the inputs."),
    eol_rir: float = typer.Option(0.0, help="Assumed end-of-life recycling input rate (0-1)."),
    si_sr: float = typer.Option(1.0, help="Assumed substitution index for SR."),
    si_ei: float = typer.Option(1.0, help="Assumed substitution index for EI."),
    wgi_years: str = typer.Option("2016-2020", help="WGI years averaged for the scaled governance score."),
    as_json: bool = JSON_OPT,
    chart: Path | None = CHART_OPT,
    force: bool = FORCE_OPT,
    hub_url: str | None = PUBLISH_OPT,
    token_file: Path | None = TOKEN_OPT,
    collection: str | None = COLLECTION_OPT,
    tlp: str = TLP_OPT,
) -> None:
    """EU 2017 methodology: HHI_WGI,t, supply risk (SR) and economic importance (EI) per material."""
    _check_chart(chart, force)
    if year != 2023:
        raise InputError(
            f"the shipped EU CRM inputs are for the 2023 assessment; --year {year} is not available"
        )
    for name, v in (("--ir", ir), ("--eol-rir", eol_rir)):
        if not 0.0 <= v <= 1.0:
            raise InputError(f"{name} must be between 0 and 1, got {v}")
    data: MineralsData = ctx.obj
    first, _, last = wgi_years.partition("-")
    try:
        years = tuple(range(int(first), int(last or first) + 1))
    except ValueError:
        raise InputError(f"--wgi-years must be YEAR or FIRST-LAST, got {wgi_years!r}") from None
    available = data.governance.years()
    if not years or not set(years) <= set(available):
        raise InputError(f"--wgi-years {wgi_years}: the WGI file covers {available[0]}-{available[-1]}")
    a = Assumptions(import_reliance=ir, eol_rir=eol_rir, si_sr=si_sr, si_ei=si_ei, wgi_years=years)
    results = compute_crm(data.eu_global, data.eu_sourcing, data.eu_use, data.governance, a)
    if material:
        names = [r.material for r in results]
        wanted = set()
        for m in material:
            key = resolve_key(m)
            spellings = {key, slug(m), *(WATCHED[key].eu_materials if key in WATCHED else ())}
            if not spellings & set(names):
                raise NotFound(f"unknown EU CRM 2023 material {m!r}; {suggest(slug(m), names)}")
            wanted |= spellings
        results = [r for r in results if r.material in wanted]
    doc: dict[str, Any] = {
        "year": year,
        "assumptions": a.statements(),
        "materials": [r.as_dict() for r in results],
        "data": _data_block(data),
    }
    if chart is not None:
        _write_chart(charts.eu_crm_figure(doc), chart, force)
    if as_json:
        _emit_json(doc)
    else:
        t = Table(title="EU CRM 2017 methodology, 2023 inputs (SR and EI computed by kizuna)")
        for col in ("material", "SR", "SR stage", "EI", "HHI_WGI,t global (mining / refining)"):
            t.add_column(col)
        for r in results:
            st = {s.stage: s for s in r.stages}
            hh = " / ".join(
                f"{st[k].hhi_wgi_t_global:.2f}" if k in st else "-" for k in ("mining", "refining")
            )
            t.add_row(
                r.material,
                "-" if r.sr is None else f"{r.sr:.2f}",
                r.sr_stage or "-",
                "-" if r.ei is None else f"{r.ei:.2f}",
                hh,
            )
        out.print(t)
        out.print("Assumptions (inputs the shipped data lack):")
        for s in a.statements():
            out.print(f"  - {s}", soft_wrap=True)
    _print_file_notes(data)
    _maybe_publish(
        "eu-crm",
        "EU CRM 2023: SR and EI (kizuna computation)",
        doc,
        minerals=[r.material for r in results],
        partners=None,
        hub_url=hub_url,
        token_file=token_file,
        collection=collection,
        tlp=tlp,
    )


def register(root: typer.Typer) -> None:
    """Add ``kizuna minerals ...`` to the root app."""
    root.add_typer(app, name="minerals")


__all__ = ["WATCHED", "app", "register"]
