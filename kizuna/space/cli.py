"""``kizuna space ...``: screen a catalogue, compute Pc from a CDM, plot an event, make a test catalogue.

The command forms are part of the interface (docs/space.md):

    kizuna space screen CATALOG [--primary NORAD]... [--start UTC] [--days 7] [--threshold-km 5]
        [--out events.csv] [--cdm-dir DIR] [--publish HUB_URL --token-file F --collection ID --tlp LEVEL]
    kizuna space pc CDMFILE [--json]
    kizuna space plot EVENT --out PNG
    kizuna space synth COUNT --out FILE [--seed N] [--epoch UTC]
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from kizuna.clikit import check_output_dir, check_output_file, err, out, read_token_file
from kizuna.errors import InputError
from kizuna.space.assessment import (
    DEFAULT_HBR_M,
    assess_cdm,
    assess_event,
    cdm_geometry,
    event_geometry,
    event_to_cdm,
)
from kizuna.space.catalog import read_catalog, write_tle
from kizuna.space.cdm import read_cdm, write_kvn, write_xml
from kizuna.space.events import Event, find_event, read_events_csv, write_events_csv
from kizuna.space.screening import ScreenSettings, screen
from kizuna.space.timeutil import format_utc, parse_utc
from kizuna.stix.ids import utc_now
from kizuna.stix.markings import LEVEL_CHOICES, parse_level

space_app = typer.Typer(
    help="Space: screen a catalogue for conjunctions, Pc from CDMs, plots, and sharing through a hub.",
    no_args_is_help=True,
)


def _utc(text: str | None, option: str) -> datetime:
    if text is None:
        return utc_now()
    try:
        return parse_utc(text)
    except InputError as exc:
        raise InputError(f"{option}: {exc.reason}") from None


@space_app.command("screen")
def screen_cmd(
    catalog: Path = typer.Argument(..., help="TLE, 3LE or OMM (KVN, XML, JSON, CSV) catalogue file."),
    primary: list[int] = typer.Option(
        [], "--primary", help="Screen only this NORAD id against the catalogue (repeatable)."
    ),
    start: str | None = typer.Option(None, "--start", help="Window start, UTC (default: now)."),
    days: float = typer.Option(7.0, "--days", help="Window length in days."),
    threshold_km: float = typer.Option(5.0, "--threshold-km", help="Report approaches closer than this."),
    out_path: Path = typer.Option(Path("events.csv"), "--out", help="Events CSV to write."),
    cdm_dir: Path | None = typer.Option(None, "--cdm-dir", help="Write one CDM per event into this folder."),
    cdm_format: str = typer.Option("kvn", "--cdm-format", help="kvn or xml."),
    hbr_m: float = typer.Option(DEFAULT_HBR_M, "--hbr-m", help="Combined hard-body radius for Pc (m)."),
    workers: int | None = typer.Option(None, "--workers", help="Processes to use (default: every core)."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="dask.distributed scheduler address (tcp://host:8786) to scale out."
    ),
    step_s: float = typer.Option(40.0, "--step-s", help="Screening step (s); divides 120."),
    originator: str = typer.Option("KIZUNA", "--originator", help="ORIGINATOR written in CDMs."),
    publish: str | None = typer.Option(None, "--publish", help="Hub API root URL to publish the events to."),
    token_file: Path | None = typer.Option(None, "--token-file", help="File holding the hub token."),
    collection: str | None = typer.Option(None, "--collection", help="Hub collection id."),
    tlp: str = typer.Option("amber", "--tlp", help=f"TLP of published events ({'|'.join(LEVEL_CHOICES)})."),
) -> None:
    """Screen a catalogue for close approaches; write events.csv, CDMs, and publish them to a hub."""
    if days <= 0 or threshold_km <= 0:
        raise InputError("--days and --threshold-km must be positive")
    if cdm_format not in {"kvn", "xml"}:
        raise InputError(f"--cdm-format must be kvn or xml, not {cdm_format!r}")
    level = parse_level(tlp)
    check_output_file(out_path)
    if cdm_dir is not None:
        check_output_dir(cdm_dir, "--cdm-dir")
    token = None
    if publish is not None:
        if token_file is None or collection is None:
            raise InputError("--publish needs --token-file and --collection")
        token = read_token_file(token_file)
    try:
        settings = ScreenSettings(threshold_km=threshold_km, step_s=step_s)
    except ValueError as exc:
        raise InputError(f"--step-s: {exc}") from None
    window_start = _utc(start, "--start")
    cat = read_catalog(catalog)
    for problem in cat.problems:
        err.print(f"kizuna: warning: {problem}", markup=False, soft_wrap=True)
    if not cat.objects:
        raise InputError("no usable element sets in the catalogue", path=str(catalog))
    err.print(
        f"screening {len(cat.objects)} objects"
        + (f" ({len(primary)} primaries)" if primary else " all against all")
        + f" from {format_utc(window_start)} for {days:g} days at {threshold_km:g} km"
    )
    duration_s = days * 86400.0
    started = time.perf_counter()
    client = None
    if scheduler is not None:
        from dask.distributed import Client

        client = Client(scheduler)  # type: ignore[no-untyped-call]
    try:
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=False,
        ) as progress:
            task = progress.add_task("screening", total=duration_s)
            result = screen(
                cat.objects,
                window_start,
                duration_s,
                settings,
                primaries=primary or None,
                workers=workers,
                client=client,
                progress=lambda done, _total: progress.update(task, completed=done),
            )
    finally:
        if client is not None:
            client.close()  # type: ignore[no-untyped-call]
    events = [assess_event(e, hbr_m=hbr_m) for e in result.events]
    with out_path.open("w", encoding="utf-8", newline="") as fh:
        write_events_csv(events, fh)
    elapsed = time.perf_counter() - started
    err.print(f"{len(events)} events in {elapsed:.1f} s; wrote {out_path}")
    by_norad = cat.by_norad()
    created = utc_now()
    cdm_texts: list[str] = []
    if cdm_dir is not None or publish is not None:
        for e in events:
            cdm = event_to_cdm(
                e,
                originator=originator,
                message_id=e.key,
                created=created,
                intl_designators=(
                    by_norad[e.norad_1].international_designator(),
                    by_norad[e.norad_2].international_designator(),
                ),
            )
            cdm_texts.append(write_kvn(cdm) if cdm_format == "kvn" else write_xml(cdm))
    if cdm_dir is not None:
        cdm_dir.mkdir(parents=True, exist_ok=True)
        suffix = ".cdm" if cdm_format == "kvn" else ".xml"
        for e, text in zip(events, cdm_texts, strict=True):
            (cdm_dir / f"{e.key}{suffix}").write_text(text, encoding="utf-8")
        err.print(f"wrote {len(cdm_texts)} CDMs to {cdm_dir}")
    if publish is not None and token is not None and collection is not None:
        from kizuna.hub.client import HubClient
        from kizuna.space.publish import conjunction_object, publish_events

        objects = [
            conjunction_object(e, text, cdm_format=cdm_format, level=level)
            for e, text in zip(events, cdm_texts, strict=True)
        ]
        with HubClient(publish, token) as hub:
            statuses = publish_events(hub, collection, objects)
        ok = sum(int(s.get("success_count", 0)) for s in statuses[1:])
        failed = sum(int(s.get("failure_count", 0)) for s in statuses[1:])
        err.print(f"published {ok} conjunctions to {publish} collection {collection} as {level}")
        if failed:
            raise InputError(f"the hub refused {failed} conjunction objects")
    _print_events(sorted(events, key=lambda e: e.miss_km)[:10], len(events))


def _print_events(closest: Sequence[Event], total: int) -> None:
    if not closest:
        out.print("no close approaches")
        return
    table = Table(title=f"closest of {total} events")
    for col in ("norad_1", "norad_2", "tca_utc", "miss_km", "rel_speed_km_s", "pc", "pc_method"):
        table.add_column(col)
    for e in closest:
        table.add_row(
            str(e.norad_1),
            str(e.norad_2),
            format_utc(e.tca_utc),
            f"{e.miss_km:.3f}",
            f"{e.rel_speed_km_s:.3f}",
            f"{e.pc:.3e}",
            e.pc_method,
        )
    out.print(table)


@space_app.command("pc")
def pc_cmd(
    cdm_file: Path = typer.Argument(..., help="A CDM (KVN or XML)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    hbr_m: float | None = typer.Option(
        None, "--hbr-m", help="Hard-body radius (m); default: the CDM's, else 10."
    ),
    samples: int = typer.Option(100_000, "--samples", help="Monte Carlo samples, where Monte Carlo is used."),
    seed: int = typer.Option(0, "--seed", help="Monte Carlo seed."),
) -> None:
    """Probability of collision for a CDM, and the method used."""
    cdm = read_cdm(cdm_file)
    result = assess_cdm(cdm, hbr_m=hbr_m, mc_samples=samples, seed=seed)
    radius = hbr_m if hbr_m is not None else cdm.hbr_m if cdm.hbr_m is not None else DEFAULT_HBR_M
    doc = {
        "pc": result.pc,
        "method": result.method,
        "miss_km": cdm.miss_distance_m / 1000.0,
        "tca_utc": format_utc(cdm.tca),
        "hbr_m": radius,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "pc_2d": result.pc_2d,
        "samples": result.samples,
        "reason": result.reason,
        "cdm_collision_probability": cdm.collision_probability,
        "notes": cdm.notes,
    }
    if as_json:
        print(json.dumps(doc))
        return
    for note in cdm.notes:
        err.print(f"kizuna: note: {note}", markup=False, soft_wrap=True)
    line = f"Pc {result.pc:.6e} ({result.method})"
    if result.ci_low is not None and result.ci_high is not None:
        line += f", 95% interval {result.ci_low:.3e} .. {result.ci_high:.3e} from {result.samples} samples"
    out.print(line)
    out.print(f"TCA {doc['tca_utc']}, miss {doc['miss_km']:.6f} km, hard-body radius {radius:g} m")
    if result.reason:
        out.print(f"why: {result.reason}" + (f"; 2D Pc would be {result.pc_2d:.6e}" if result.pc_2d else ""))


@space_app.command("plot")
def plot_cmd(
    event: str = typer.Argument(
        ..., help="A CDM file, or EVENTS.csv[:ROW|:KEY|:NORAD1-NORAD2] (default: the closest event)."
    ),
    out_png: Path = typer.Option(..., "--out", help="PNG file to write."),
    hbr_m: float | None = typer.Option(None, "--hbr-m", help="Hard-body radius (m)."),
) -> None:
    """Draw the encounter plane (covariance ellipse, hard-body circle, miss vector) and range over time."""
    from kizuna.space.plot import plot_encounter

    check_output_file(out_png)
    path, _, selector = event.partition(":") if not Path(event).exists() else (event, "", "")
    p = Path(path)
    if not p.exists():
        raise InputError("no such CDM or events file", path=path)
    if p.suffix.lower() == ".csv":
        events = read_events_csv(p)
        if not events:
            raise InputError("no events in the file", path=path)
        chosen = find_event(events, selector) if selector else min(events, key=lambda e: e.miss_km)
        radius = hbr_m if hbr_m is not None else chosen.hbr_m or DEFAULT_HBR_M
        g = event_geometry(chosen)
        names = f"{chosen.name_1 or chosen.norad_1} / {chosen.name_2 or chosen.norad_2}"
        title = f"{names}, TCA {format_utc(chosen.tca_utc)}"
        pc_text = f"Pc {chosen.pc:.3e} ({chosen.pc_method})" if chosen.pc is not None else ""
    else:
        cdm = read_cdm(p)
        radius = hbr_m if hbr_m is not None else cdm.hbr_m if cdm.hbr_m is not None else DEFAULT_HBR_M
        g = cdm_geometry(cdm)
        result = assess_cdm(cdm, hbr_m=radius, mc_samples=20_000)
        o1, o2 = cdm.objects
        names = f"{o1.object_name or o1.object_designator} / {o2.object_name or o2.object_designator}"
        title = f"{names}, TCA {format_utc(cdm.tca)}"
        pc_text = f"Pc {result.pc:.3e} ({result.method})"
    plot_encounter(g, radius, title, out_png, pc_text=pc_text)
    err.print(f"wrote {out_png}")


@space_app.command("synth")
def synth_cmd(
    count: int = typer.Argument(..., help="Number of objects."),
    out_path: Path = typer.Option(..., "--out", help="3LE file to write."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same catalogue)."),
    epoch: str | None = typer.Option(None, "--epoch", help="Catalogue epoch, UTC (default: now)."),
) -> None:
    """Write a realistic synthetic catalogue (constellations, SSO, debris, GEO, the rest) as 3LE."""
    from kizuna.space.synthetic import synthetic_catalog

    if count < 1:
        raise InputError("COUNT must be at least 1")
    check_output_file(out_path)
    objs = synthetic_catalog(count, epoch=_utc(epoch, "--epoch"), seed=seed)
    with out_path.open("w", encoding="utf-8") as fh:
        write_tle(objs, fh)
    err.print(f"wrote {len(objs)} objects to {out_path}")


def register(root: typer.Typer) -> None:
    """Add ``kizuna space ...`` to the root app."""
    root.add_typer(space_app, name="space")
