"""``kizuna space ...``: screen a catalogue, compute Pc from a CDM, plot an event, make a test catalogue.

The command forms are part of the interface (docs/space.md):

    kizuna space screen CATALOG [--primary NORAD]... [--start UTC] [--days 7] [--threshold-km 5]
        [--out events.csv] [--cdm-dir DIR] [--publish HUB_URL --token-file F --collection ID --tlp LEVEL]
    kizuna space pc CDMFILE [--json]
    kizuna space plot EVENT --out PNG
    kizuna space synth COUNT --out FILE [--seed N] [--epoch UTC]
"""

from __future__ import annotations

import fnmatch
import heapq
import json
import os
import shutil
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from kizuna.clikit import err, out, read_token_file
from kizuna.errors import InputError
from kizuna.space.assessment import (
    DEFAULT_HBR_M,
    assess_cdm,
    cdm_geometry,
    event_geometry,
    event_to_cdm,
)
from kizuna.space.catalog import CatalogObject, read_catalog, write_tle
from kizuna.space.cdm import read_cdm, write_kvn, write_xml
from kizuna.space.events import Event, find_event, iter_events_csv, read_events_csv, write_events_csv
from kizuna.space.screening import ScreenResult, ScreenSettings, screen, stale_element_sets
from kizuna.space.timeutil import format_utc, parse_utc
from kizuna.space.volumes import Volume
from kizuna.stix.ids import utc_now
from kizuna.stix.markings import LEVEL_CHOICES, TLP, parse_level

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


# ---- output files: checked before any work, written beside their target, renamed at the end ---------


def check_output(path: Path, *, force: bool, option: str = "--out") -> None:
    """One clear InputError (file named) unless ``path`` can be written: its folder exists and is
    writable, it is not a folder, and it does not exist yet (or ``force``)."""
    if path.is_dir():
        raise InputError(f"{option} is a folder, not a file", path=str(path))
    if path.exists() and not force:
        raise InputError("already exists; add --force to overwrite it", path=str(path))
    parent = path.parent
    if not parent.is_dir():
        raise InputError(f"cannot write {option}: the folder {parent} does not exist", path=str(path))
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot write {option}: the folder {parent} is not writable", path=str(path))


def partial_path(path: Path) -> Path:
    """Where ``path`` is written until it is complete (same folder, so the final rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


def check_output_dir(path: Path, *, force: bool, option: str) -> None:
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} is a file, not a folder", path=str(path))
    if path.is_dir() and any(path.iterdir()) and not force:
        raise InputError(f"{option} is not empty; add --force to write into it", path=str(path))
    parent = path.parent
    if not parent.is_dir():
        raise InputError(f"cannot write {option}: the folder {parent} does not exist", path=str(path))
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot write {option}: the folder {parent} is not writable", path=str(path))


def _warn(text: str) -> None:
    err.print(f"kizuna: warning: {text}", markup=False, soft_wrap=True)


def _note(text: str) -> None:
    err.print(f"kizuna: note: {text}", markup=False, soft_wrap=True)


#: Catalogue problems printed one per line before the rest are counted.
MAX_PROBLEMS_SHOWN = 20
#: Objects listed by name in the stale, failure and co-location warnings.
MAX_LISTED = 10


def select_by_name(objects: Sequence[CatalogObject], pattern: str) -> list[CatalogObject]:
    """Objects whose catalogue name matches the shell-style ``pattern`` (case-insensitive)."""
    pat = pattern.upper()
    return [o for o in objects if fnmatch.fnmatchcase(o.name.upper(), pat)]


class _Summary:
    """Closest approaches and highest Pc, SOCRATES-style: the ``top`` of each, held in two small heaps."""

    def __init__(self, top: int) -> None:
        self.top = top
        self.count = 0
        self._closest: list[tuple[float, int, Event]] = []
        self._riskiest: list[tuple[float, int, Event]] = []

    def add(self, events: Sequence[Event]) -> None:
        for e in events:
            self.count += 1
            if self.top <= 0:
                continue
            for heap, score in ((self._closest, -e.miss_km), (self._riskiest, e.pc or 0.0)):
                item = (score, self.count, e)
                if len(heap) < self.top:
                    heapq.heappush(heap, item)
                elif item > heap[0]:
                    heapq.heapreplace(heap, item)

    def closest(self) -> list[Event]:
        return [e for _s, _n, e in sorted(self._closest, key=lambda x: (-x[0], x[1]))]

    def riskiest(self) -> list[Event]:
        return [e for _s, _n, e in sorted(self._riskiest, key=lambda x: (-x[0], x[1]))]


class _EventWriter:
    """events.csv (and CDMs) written as chunks of events arrive, into partial files renamed at the end."""

    def __init__(
        self,
        out_path: Path,
        cdm_dir: Path | None,
        cdm_format: str,
        originator: str,
        by_norad: dict[int, CatalogObject],
        summary: _Summary,
    ) -> None:
        self.out_path = out_path
        self.tmp = partial_path(out_path)
        self.cdm_dir = cdm_dir
        self.cdm_tmp = partial_path(cdm_dir) if cdm_dir is not None else None
        self.cdm_format = cdm_format
        self.originator = originator
        self.by_norad = by_norad
        self.summary = summary
        self.created = utc_now()
        self.cdms = 0
        if self.cdm_tmp is not None:
            self.cdm_tmp.mkdir()
        try:
            self.fh = self.tmp.open("w", encoding="utf-8", newline="")
            write_events_csv([], self.fh)
        except OSError as exc:
            if self.cdm_tmp is not None:
                shutil.rmtree(self.cdm_tmp, ignore_errors=True)
            raise InputError(f"cannot write: {exc.strerror}", path=str(out_path)) from None

    def cdm_text(self, e: Event) -> str:
        cdm = event_to_cdm(
            e,
            originator=self.originator,
            message_id=e.key,
            created=self.created,
            intl_designators=(
                self.by_norad[e.norad_1].international_designator(),
                self.by_norad[e.norad_2].international_designator(),
            ),
        )
        return write_kvn(cdm) if self.cdm_format == "kvn" else write_xml(cdm)

    def __call__(self, events: Sequence[Event]) -> None:
        write_events_csv(events, self.fh, header=False)
        self.fh.flush()
        self.summary.add(events)
        if self.cdm_tmp is not None:
            suffix = ".cdm" if self.cdm_format == "kvn" else ".xml"
            for e in events:
                (self.cdm_tmp / f"{e.key}{suffix}").write_text(self.cdm_text(e), encoding="utf-8")
                self.cdms += 1

    def commit(self) -> None:
        self.fh.close()
        os.replace(self.tmp, self.out_path)
        if self.cdm_tmp is not None and self.cdm_dir is not None:
            if not self.cdm_dir.exists():
                os.replace(self.cdm_tmp, self.cdm_dir)
            else:
                for f in sorted(self.cdm_tmp.iterdir()):
                    os.replace(f, self.cdm_dir / f.name)
                self.cdm_tmp.rmdir()

    def abort(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)
        if self.cdm_tmp is not None and self.cdm_tmp.exists():
            shutil.rmtree(self.cdm_tmp, ignore_errors=True)


def _parse_volume(text: str | None) -> tuple[Volume | None, bool]:
    if text is None:
        return None, False
    if text.strip().lower() == "cara":
        return None, True
    return Volume.parse(text), False


@space_app.command("screen")
def screen_cmd(
    catalog: Path = typer.Argument(..., help="TLE, 3LE or OMM (KVN, XML, JSON, CSV) catalogue file."),
    primary: list[int] = typer.Option(
        [], "--primary", help="Screen only this NORAD id against the catalogue (repeatable)."
    ),
    owner: list[str] = typer.Option(
        [],
        "--owner",
        help="Screen a fleet against the catalogue: objects whose name matches this pattern, e.g. 'ONEWEB-*' "
        "(repeatable; each pattern is a group).",
    ),
    group: list[str] = typer.Option(
        [], "--group", help="Name a group by pattern without making it primary (for --exclude-same-group)."
    ),
    exclude_same_group: bool = typer.Option(
        False, "--exclude-same-group", help="Skip pairs within one --owner/--group group (off by default)."
    ),
    start: str | None = typer.Option(None, "--start", help="Window start, UTC (default: now)."),
    days: float = typer.Option(7.0, "--days", help="Window length in days."),
    threshold_km: float = typer.Option(5.0, "--threshold-km", help="Screening sphere radius (km)."),
    volume: str | None = typer.Option(
        None,
        "--volume",
        help="Ellipsoid R,I,C semi-axes in km in the primary's frame, or 'cara' (per regime).",
    ),
    out_path: Path = typer.Option(Path("events.csv"), "--out", help="Events CSV to write."),
    force: bool = typer.Option(
        False, "--force", help="Overwrite --out (and write into a non-empty --cdm-dir)."
    ),
    top: int = typer.Option(10, "--top", help="Closest approaches and highest Pc to list at the end."),
    stale_days: float = typer.Option(
        7.0, "--stale-days", help="Warn about element sets this many days or more from the window."
    ),
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
    if stale_days <= 0 or top < 0:
        raise InputError("--stale-days must be positive and --top at least 0")
    if cdm_format not in {"kvn", "xml"}:
        raise InputError(f"--cdm-format must be kvn or xml, not {cdm_format!r}")
    if exclude_same_group and not (owner or group):
        raise InputError("--exclude-same-group needs groups: give --owner or --group patterns")
    fixed_volume, regime_volumes = _parse_volume(volume)
    level = parse_level(tlp)
    token = None
    if publish is not None:
        if token_file is None or collection is None:
            raise InputError("--publish needs --token-file and --collection")
        token = read_token_file(token_file)
    try:
        settings = ScreenSettings(
            threshold_km=threshold_km,
            volume=fixed_volume,
            regime_volumes=regime_volumes,
            step_s=step_s,
            exclude_same_group=exclude_same_group,
            hbr_m=hbr_m,
        )
    except ValueError as exc:
        raise InputError(f"--step-s: {exc}") from None
    window_start = _utc(start, "--start")
    check_output(out_path, force=force)
    if cdm_dir is not None:
        check_output_dir(cdm_dir, force=force, option="--cdm-dir")
    client = _dask_client(scheduler) if scheduler is not None else None
    try:
        _screen_and_write(
            catalog, primary, owner, group, window_start, days, settings, out_path, top, stale_days, cdm_dir,
            cdm_format, originator, workers, client, publish, token, collection, level,
        )  # fmt: skip
    finally:
        if client is not None:
            client.close()


def _screen_and_write(
    catalog: Path, primary: list[int], owner: list[str], group: list[str], window_start: datetime,
    days: float, settings: ScreenSettings, out_path: Path, top: int, stale_days: float, cdm_dir: Path | None,
    cdm_format: str, originator: str, workers: int | None, client: Any, publish: str | None,
    token: str | None, collection: str | None, level: TLP,
) -> None:  # fmt: skip
    fixed_volume, regime_volumes, threshold_km = (
        settings.volume,
        settings.regime_volumes,
        settings.threshold_km,
    )
    cat = read_catalog(catalog)
    for problem in cat.problems[:MAX_PROBLEMS_SHOWN]:
        _warn(str(problem))
    if len(cat.problems) > MAX_PROBLEMS_SHOWN:
        _warn(f"{catalog}: {len(cat.problems) - MAX_PROBLEMS_SHOWN} more problems not shown")
    if not cat.objects:
        raise InputError("no usable element sets in the catalogue", path=str(catalog))
    primaries = set(primary)
    groups: dict[int, str] = {}
    for pattern, is_primary in [(p, True) for p in owner] + [(g, False) for g in group]:
        members = select_by_name(cat.objects, pattern)
        if not members:
            raise InputError(f"{'--owner' if is_primary else '--group'} {pattern!r} matches no object name")
        for o in members:
            groups.setdefault(o.norad_id, pattern)
            if is_primary:
                primaries.add(o.norad_id)
    duration_s = days * 86400.0
    _warn_stale(cat.objects, window_start, duration_s, stale_days)
    what = f" ({len(primaries)} primaries)" if primaries else " all against all"
    shape = (
        f"in {fixed_volume}"
        if fixed_volume is not None
        else "in CARA's per-regime volumes"
        if regime_volumes
        else f"at {threshold_km:g} km"
    )
    err.print(
        f"screening {len(cat.objects)} objects{what} from {format_utc(window_start)} "
        f"for {days:g} days {shape}",
        soft_wrap=True,
    )
    started = time.perf_counter()
    summary = _Summary(top)
    writer = _EventWriter(out_path, cdm_dir, cdm_format, originator, cat.by_norad(), summary)
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
                primaries=primaries or None,
                groups=groups,
                workers=workers,
                client=client,
                progress=lambda done, _total: progress.update(task, completed=done),
                on_events=writer,
            )
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    elapsed = time.perf_counter() - started
    _report_result(result)
    err.print(f"{summary.count} events in {elapsed:.1f} s; wrote {out_path}", soft_wrap=True)
    if cdm_dir is not None:
        err.print(f"wrote {writer.cdms} CDMs to {cdm_dir}", soft_wrap=True)
    if publish is not None and token is not None and collection is not None:
        _publish(out_path, writer, publish, token, collection, cdm_format, level)
    _print_events(summary, top)


def _dask_client(address: str) -> Any:
    from dask.distributed import Client

    try:
        return Client(address, timeout=5)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise InputError(f"--scheduler {address}: cannot reach the dask scheduler ({exc})") from None


def _warn_stale(objects: Sequence[CatalogObject], start: datetime, duration_s: float, days: float) -> None:
    before, after = stale_element_sets(objects, start, duration_s, days)
    for group, where in ((before, "before the window start"), (after, "after the window end")):
        if not group:
            continue
        worst = sorted(group, key=lambda o: o.epoch)[: MAX_LISTED // 2]
        listed = ", ".join(f"{o.norad_id} {o.name} ({o.epoch.date().isoformat()})" for o in worst)
        _warn(
            f"{len(group)} element sets have epochs more than {days:g} days {where}; their predictions may "
            f"be kilometres off (e.g. {listed})"
        )


def _report_result(result: ScreenResult) -> None:
    if result.colocated:
        count = sum(len(c) for c in result.colocated)
        _note(
            f"{count} objects share {len(result.colocated)} element sets (docked or co-located, e.g. "
            + "; ".join(str(c[0]) + f" and {len(c) - 1} more" for c in result.colocated[:MAX_LISTED])
            + "): they are not screened against each other"
        )
    if result.failures:
        listed = "; ".join(
            f"{f.norad_id} {f.name} "
            + ("at the window start" if f.t_s <= 0 else f"from +{f.t_s / 3600:.1f} h")
            + f": {f.reason}"
            for f in result.failures[:MAX_LISTED]
        )
        more = len(result.failures) - MAX_LISTED
        _warn(
            f"{len(result.failures)} objects could not be propagated through the whole window and are "
            f"screened only while SGP4 can place them: {listed}" + (f"; and {more} more" if more > 0 else "")
        )


def _publish(
    events_csv: Path, writer: _EventWriter, url: str, token: str, collection: str, cdm_format: str, level: TLP
) -> None:
    from kizuna.hub.client import HubClient
    from kizuna.space.publish import conjunction_object, publish_events

    ok = failed = 0
    batch: list[dict[str, Any]] = []
    with HubClient(url, token) as hub:

        def flush() -> None:
            nonlocal ok, failed
            if not batch:
                return
            statuses = publish_events(hub, collection, batch)
            ok += sum(int(s.get("success_count", 0)) for s in statuses[1:])
            failed += sum(int(s.get("failure_count", 0)) for s in statuses[1:])
            batch.clear()

        for e in iter_events_csv(events_csv):
            batch.append(conjunction_object(e, writer.cdm_text(e), cdm_format=cdm_format, level=level))
            if len(batch) >= 2000:
                flush()
        flush()
    err.print(f"published {ok} conjunctions to {url} collection {collection} as {level}", soft_wrap=True)
    if failed:
        raise InputError(f"the hub refused {failed} conjunction objects")


def _print_events(summary: _Summary, top: int) -> None:
    if summary.count == 0:
        out.print("no close approaches")
        return
    if top == 0:
        return
    for title, events in (
        (f"closest {min(top, summary.count)} of {summary.count} events", summary.closest()),
        (f"highest Pc, {min(top, summary.count)} of {summary.count} events", summary.riskiest()),
    ):
        table = Table(title=title)
        for col in ("norad_1", "norad_2", "tca_utc", "miss_km", "rel_speed_km_s", "pc"):
            table.add_column(col)
        for e in events:
            table.add_row(
                str(e.norad_1),
                str(e.norad_2),
                format_utc(e.tca_utc),
                f"{e.miss_km:.3f}",
                f"{e.rel_speed_km_s:.3f}",
                "" if e.pc is None else f"{e.pc:.3e}",
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
    force: bool = typer.Option(False, "--force", help="Overwrite --out."),
) -> None:
    """Draw the encounter plane (covariance ellipse, hard-body circle, miss vector) and range over time."""
    from kizuna.space.plot import plot_encounter

    check_output(out_png, force=force)

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
    tmp = partial_path(out_png)
    try:
        plot_encounter(
            g, radius, title, tmp, pc_text=pc_text, image_format=out_png.suffix.lstrip(".") or "png"
        )
        os.replace(tmp, out_png)
    finally:
        tmp.unlink(missing_ok=True)
    err.print(f"wrote {out_png}", soft_wrap=True)


@space_app.command("synth")
def synth_cmd(
    count: int = typer.Argument(..., help="Number of objects."),
    out_path: Path = typer.Option(..., "--out", help="3LE file to write."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same catalogue)."),
    epoch: str | None = typer.Option(None, "--epoch", help="Catalogue epoch, UTC (default: now)."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out."),
) -> None:
    """Write a realistic synthetic catalogue (constellations, SSO, debris, GEO, the rest) as 3LE."""
    from kizuna.space.synthetic import synthetic_catalog

    if count < 1:
        raise InputError("COUNT must be at least 1")
    check_output(out_path, force=force)
    objs = synthetic_catalog(count, epoch=_utc(epoch, "--epoch"), seed=seed)
    tmp = partial_path(out_path)
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            write_tle(objs, fh)
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    err.print(f"wrote {len(objs)} objects to {out_path}", soft_wrap=True)


def register(root: typer.Typer) -> None:
    """Add ``kizuna space ...`` to the root app."""
    root.add_typer(space_app, name="space")
