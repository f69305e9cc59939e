"""``kizuna ingest ...`` and ``kizuna export misp``: MISP events and feeds, CSV and STIX into a hub.

Checks outside the project rely on these forms (docs/ingest.md). Each command writes into a local hub
(``--db PATH`` or ``KIZUNA_DB``, through the intake) or into a running hub (``--hub URL --token-file FILE``,
through its TAXII API). It ends with one summary line, ``read N, stored new N, new versions N, duplicates N,
rejected N``, and exits 0 when nothing was rejected, 3 when records or units were rejected (the rest
stored), 2 when the input could not be read at all (nothing stored).

This module is a composition root: it decides which store a run writes to.
"""

from __future__ import annotations

import gc
import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer

from kizuna.clikit import err, output_file
from kizuna.errors import InputError, KizunaError, NotFound, PermissionDenied
from kizuna.ingest.convproc import (
    RUN_GC_THRESHOLDS,
    Converter,
    FeedJob,
    Job,
    feed_units,
    job_units,
    wanted,
    wanted_for_feed,
)
from kizuna.ingest.convproc import read_json as read_json
from kizuna.ingest.runner import (
    DrySink,
    HubSink,
    Ingest,
    LocalDrySink,
    LocalSink,
    Report,
    Sink,
    attack_index,
    json_report,
)
from kizuna.ingest.units import Unit
from kizuna.stix.markings import LEVEL_CHOICES, TLP, parse_level

if TYPE_CHECKING:
    from kizuna.ingest.feed import Choice

ingest_app = typer.Typer(
    help="Bring MISP events and feeds, CSV files and STIX 2.0/2.1 bundles into a hub.", no_args_is_help=True
)
export_app = typer.Typer(help="Export from a hub to other formats.", no_args_is_help=True)

# RUN_GC_THRESHOLDS (kizuna.ingest.convproc): the collector's thresholds during a run; the caller's after.


@ingest_app.callback()
def _ingest_run(ctx: typer.Context) -> None:
    before = gc.get_threshold()
    gc.set_threshold(*RUN_GC_THRESHOLDS)
    ctx.call_on_close(lambda: gc.set_threshold(*before))


_LEVELS = "|".join(LEVEL_CHOICES)
DbOpt = typer.Option(None, "--db", envvar="KIZUNA_DB", help="Local hub database (or $KIZUNA_DB).")
HubOpt = typer.Option(None, "--hub", help="A running hub's TAXII API root URL (instead of --db).")
TokenOpt = typer.Option(None, "--token-file", help="File holding the token for --hub.")
CollectionOpt = typer.Option(..., "--collection", help="Collection id (or alias, local mode).")
OrgOpt = typer.Option(None, "--org", help="The ingesting organisation (local mode).")
TlpOpt = typer.Option(
    None, "--default-tlp", help=f"TLP for what has none: {_LEVELS} (else the collection's)."
)
DryOpt = typer.Option(
    False, "--dry-run", help="Convert and validate, store nothing, print what would be stored."
)
SkipOpt = typer.Option(False, "--skip-invalid", help="Store a unit's valid records, list each refused one.")
ReportOpt = typer.Option(None, "--report", help="Write counts and every problem as JSON to this file.")
ForceOpt = typer.Option(False, "--force", help="Replace an existing --report file.")
PipelineOpt = typer.Option(
    None,
    "--pipeline/--no-pipeline",
    help="Convert in a second process ahead of the writer (local hub; default: on two cores or more for"
    " inputs of 4 MB or more, feed pulls of 50 events or more).",
)
#: The converter process's check helpers (kizuna.hub.checkpool); a benchmark's knob, not a user's.
HelpersOpt = typer.Option(0, "--check-helpers", min=0, max=4, hidden=True)


def _check_report(report_path: Path | None, force: bool) -> None:
    """Refuse, before any work, a --report file that exists (without --force) or cannot be written."""
    if report_path is not None:
        output_file(report_path, force=force, what="--report file")


AcceptOpt = typer.Option(
    False,
    "--accept-distribution",
    help="Store MISP events shared with no community (org only, sharing group).",
)


@dataclass
class Target:
    sink: Sink
    shared: bool  # organisations other than the ingesting one may read the collection
    collection_default: TLP
    attack: dict[str, str]
    store: Any = None  # the local store, when there is one
    org: Any = None
    cursors: Callable[[str], dict[str, str]] | None = None


def _default_tlp(text: str | None) -> TLP | None:
    if text is None:
        return None
    try:
        return parse_level(text)
    except InputError as exc:
        raise InputError(f"--default-tlp: {exc.reason}") from None


@contextmanager
def _target(
    db: str | None, hub: str | None, token_file: Path | None, collection: str, org: str | None, dry_run: bool
) -> Iterator[Target]:
    """Where a run writes: a local hub, a running one, or (``--dry-run`` without either) nowhere."""
    if db is not None and hub is not None:
        raise InputError("give --db or --hub, not both")
    if hub is not None:
        yield from _hub_target(hub, token_file, collection, dry_run)
        return
    if db is None:
        if dry_run:
            yield Target(DrySink(), True, TLP.AMBER, {})
            return
        raise InputError("give --db PATH (or KIZUNA_DB) for a local hub, or --hub URL --token-file FILE")
    yield from _local_target(db, collection, org, dry_run)


def _local_target(db: str, collection: str, org_name: str | None, dry_run: bool) -> Iterator[Target]:
    from kizuna.hub import intake, policy
    from kizuna.hub.checkpool import CheckPool
    from kizuna.hub.models import Query
    from kizuna.hub.store.backends import open_store

    if org_name is None:
        raise InputError("--org: name the ingesting organisation (local mode)")
    # large units are checked on two cores (a helper process, started on first use), as a hub server does
    checker = CheckPool(1 if (os.cpu_count() or 1) >= 2 else 0)
    with open_store(db) as store, closing(checker):
        c = store.get_collection(collection)
        if c is None:
            raise NotFound(f"--collection: no collection {collection!r} in {db}")
        org = store.get_org(org_name)
        if not policy.may_write(store.grant(c, org)):
            raise PermissionDenied(f"{org_name} may not write collection {collection}")
        shared = any(
            o.name != org.name and policy.may_read_collection(store.grant(c, o)) for o in store.list_orgs()
        )
        patterns: list[dict[str, Any]] = []
        for rc, grant in store.collections_for(org):
            if not policy.may_read_collection(grant):
                continue
            after = None
            while True:
                page = store.query(rc, org, Query(types=("attack-pattern",), limit=1000, after=after))
                patterns.extend(orjson.loads(r.raw) for r in page.rows)
                if not page.more or page.cursor is None:
                    break
                after = page.cursor
        sink: Sink = (
            LocalDrySink(store, c, intake.sender_for(store, org), clock=store._clock)
            if dry_run
            else LocalSink(store, c, intake.sender_for(store, org), clock=store._clock, checker=checker)
        )
        yield Target(sink, shared, c.default_tlp, attack_index(patterns), store, org, store.ingested_units)


def _hub_target(hub: str, token_file: Path | None, collection: str, dry_run: bool) -> Iterator[Target]:
    from kizuna.clikit import read_token_file
    from kizuna.hub.client import HubClient

    if token_file is None:
        raise InputError("--hub needs --token-file")
    with HubClient(hub, read_token_file(token_file)) as client:
        info = next((c for c in client.collections() if c.get("id") == collection), None)
        if info is None:
            raise NotFound(f"--collection: the hub lists no collection {collection!r} for this token")
        patterns = (
            list(client.iter_objects(collection, match={"type": "attack-pattern"}))
            if info.get("can_read")
            else []
        )
        sink: Sink = DrySink() if dry_run else HubSink(client, collection)
        # the hub's API does not say who else may read; assume a shared collection (the safe reading)
        yield Target(sink, True, TLP.AMBER, attack_index(patterns))


def _finish(report: Report, report_path: Path | None, *, readable: int, sources: int) -> None:
    if report_path is not None:
        try:
            report_path.write_bytes(json_report(report))
        except OSError as exc:
            raise InputError(f"cannot write the report: {exc.strerror}", path=str(report_path)) from None
    for p in report.problems[:20]:
        err.print(f"{p.source}: {p.locator}: {p.reason}", markup=False, soft_wrap=True)
    if len(report.problems) > 20:
        err.print(f"... and {len(report.problems) - 20} more problems (see --report)", markup=False)
    err.print(report.summary(), markup=False)
    total = report.total
    if sources and not readable:
        raise typer.Exit(2)
    if total.rejected or total.units_refused:
        raise typer.Exit(3)


def _run_audit(target: Target, report: Report, command: str) -> None:
    total = report.total
    dry = isinstance(target.sink, DrySink | LocalDrySink)
    if target.store is None or dry or not (total.stored or total.new_versions):
        return  # a run that stored nothing leaves no trace (each stored unit has its own record anyway)
    from kizuna.hub import policy

    target.store.append_audit(
        policy.org_origin(target.org), "ingest.run", {"command": command, **report.total.as_json()}
    )


def _progress(what: str) -> Any:
    """A progress bar on stderr for long runs (only on a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _misp_options(target: Target, default_tlp: TLP | None, accept: bool) -> Any:
    from kizuna.ingest.misp import Options

    return Options(
        shared_collection=target.shared,
        accept_distribution=accept,
        default_tlp=default_tlp,
        collection_default=target.collection_default,
        attack=target.attack,
    )


def _files(
    files: Sequence[Path],
    target: Target,
    report: Report,
    units: Callable[[Path], Iterator[Unit]],
    ingest: Ingest,
) -> int:
    """Store every unit of every file; returns how many files could be read."""
    readable = 0
    for f in files:
        done = 0
        try:
            for unit in units(f):
                ingest.store(unit)
                done += 1
            readable += 1
        except KizunaError as exc:
            if len(files) == 1 and not done:
                raise  # nothing of the input could be read: one line, exit status 2
            from kizuna.ingest.units import Problem

            readable += 1 if done else 0
            report.tally(str(f)).units_refused += 1
            report.problems.append(Problem(str(f), "", "", str(exc)))
    return readable


def _start_converter(
    stack: ExitStack,
    files: Sequence[Path],
    db: str | None,
    hub: str | None,
    dry_run: bool,
    choice: bool | None,
) -> Converter | None:
    """The converter process (kizuna.ingest.convproc) when this run converts in one; started now, so that
    its start-up overlaps the writer's (opening the hub, reading what conversion needs of it)."""
    local = db is not None and hub is None
    if not wanted(files, local=local, dry_run=dry_run, choice=choice):
        return None
    conv = Converter()
    stack.callback(conv.close)
    return conv


def _converted(
    job: Job, conv: Converter | None, done: Callable[[str], Any] | None = None
) -> Callable[[Path], Iterator[Unit]]:
    """Each file's units: from the converter process, or converted here (the plain path)."""
    if conv is None:
        # read_json looked up here at each call (tests watch it)
        return lambda f: job_units(job, f, read=lambda p: read_json(p), done=done)
    conv.start(job)
    counter = itertools.count()
    return lambda f: conv.units(next(counter))


@ingest_app.command("misp")
def ingest_misp(
    files: list[Path] = typer.Argument(..., help="MISP core-format JSON files."),
    db: str | None = DbOpt,
    hub: str | None = HubOpt,
    token_file: Path | None = TokenOpt,
    collection: str = CollectionOpt,
    org: str | None = OrgOpt,
    default_tlp: str | None = TlpOpt,
    dry_run: bool = DryOpt,
    skip_invalid: bool = SkipOpt,
    report_path: Path | None = ReportOpt,
    force: bool = ForceOpt,
    accept_distribution: bool = AcceptOpt,
    pipeline: bool | None = PipelineOpt,
    check_helpers: int = HelpersOpt,
) -> None:
    """MISP events: {"Event": ...}, a bare event, a list of events, or {"response": [...]}."""
    _check_report(report_path, force)
    report = Report()
    with ExitStack() as stack:
        conv = _start_converter(stack, files, db, hub, dry_run, pipeline)
        target = stack.enter_context(_target(db, hub, token_file, collection, org, dry_run))
        opts = _misp_options(target, _default_tlp(default_tlp), accept_distribution)
        job = Job(
            "misp",
            tuple(map(str, files)),
            misp=opts,
            send_objects=skip_invalid,
            check_helpers=check_helpers,
        )
        with _progress("events") as progress:
            task = progress.add_task("misp", total=None)
            ingest = Ingest(
                target.sink, report, skip_invalid=skip_invalid, on_unit=lambda u: progress.advance(task)
            )
            readable = _files(files, target, report, _converted(job, conv), ingest)
        _run_audit(target, report, "misp")
    _finish(report, report_path, readable=readable, sources=len(files))


@ingest_app.command("stix")
def ingest_stix(
    files: list[Path] = typer.Argument(..., help="STIX 2.1 or 2.0 bundles, or TAXII envelopes."),
    db: str | None = DbOpt,
    hub: str | None = HubOpt,
    token_file: Path | None = TokenOpt,
    collection: str = CollectionOpt,
    org: str | None = OrgOpt,
    default_tlp: str | None = TlpOpt,
    dry_run: bool = DryOpt,
    skip_invalid: bool = SkipOpt,
    report_path: Path | None = ReportOpt,
    force: bool = ForceOpt,
    pipeline: bool | None = PipelineOpt,
    check_helpers: int = HelpersOpt,
) -> None:
    """STIX bundles and envelopes (2.0 upgraded to 2.1); each file is one unit."""
    _check_report(report_path, force)
    level = _default_tlp(default_tlp)
    report = Report()
    job = Job(
        "stix", tuple(map(str, files)), level=level, send_objects=skip_invalid, check_helpers=check_helpers
    )
    with ExitStack() as stack:
        conv = _start_converter(stack, files, db, hub, dry_run, pipeline)
        target = stack.enter_context(_target(db, hub, token_file, collection, org, dry_run))
        converted = _converted(job, conv)

        def units(f: Path) -> Iterator[Unit]:
            for unit in converted(f):
                report.warnings.extend(unit.warnings)  # a bundle's warnings are the file's
                unit.warnings.clear()
                yield unit

        ingest = Ingest(target.sink, report, skip_invalid=skip_invalid)
        readable = _files(files, target, report, units, ingest)
        _run_audit(target, report, "stix")
    _finish(report, report_path, readable=readable, sources=len(files))


@ingest_app.command("csv")
def ingest_csv(
    files: list[Path] = typer.Argument(..., help="CSV files."),
    mapping_path: Path = typer.Option(..., "--mapping", help="MAPPING.toml declaring columns and types."),
    db: str | None = DbOpt,
    hub: str | None = HubOpt,
    token_file: Path | None = TokenOpt,
    collection: str = CollectionOpt,
    org: str | None = OrgOpt,
    default_tlp: str | None = TlpOpt,
    dry_run: bool = DryOpt,
    skip_invalid: bool = SkipOpt,
    report_path: Path | None = ReportOpt,
    force: bool = ForceOpt,
    batch_rows: int = typer.Option(0, "--batch-rows", min=0, help="Commit every N rows (a rerun resumes)."),
    pipeline: bool | None = PipelineOpt,
    check_helpers: int = HelpersOpt,
) -> None:
    """CSV rows as indicators, by a declared mapping; a unit is the file, or each batch of rows."""
    _check_report(report_path, force)
    from kizuna.ingest.csvfile import load_mapping

    m = load_mapping(mapping_path)
    level = _default_tlp(default_tlp)
    report = Report()
    with ExitStack() as stack:
        conv = _start_converter(stack, files, db, hub, dry_run, pipeline)
        target = stack.enter_context(_target(db, hub, token_file, collection, org, dry_run))
        cursors = target.cursors if (target.cursors and batch_rows) else None
        done: dict[str, frozenset[str]] = {}
        if conv is not None and cursors is not None:  # the batches earlier runs committed, read up front
            for f in files:
                source = str(f.resolve())
                done[source] = frozenset(cursors(source))
        job = Job(
            "csv",
            tuple(map(str, files)),
            level=level,
            mapping=m,
            producer=org or "kizuna",
            batch_rows=batch_rows,
            done=done,
            send_objects=skip_invalid,
            check_helpers=check_helpers,
        )
        with _progress("rows") as progress:
            task = progress.add_task("csv", total=None)
            ingest = Ingest(
                target.sink,
                report,
                skip_invalid=skip_invalid,
                on_unit=lambda u: progress.advance(task, len(u.records)),
            )
            readable = _files(files, target, report, _converted(job, conv, cursors), ingest)
        _run_audit(target, report, "csv")
    _finish(report, report_path, readable=readable, sources=len(files))


@ingest_app.command("misp-feed")
def ingest_misp_feed(
    source: str = typer.Argument(..., help="Feed directory or http(s):// URL (manifest.json, <uuid>.json)."),
    db: str | None = DbOpt,
    hub: str | None = HubOpt,
    token_file: Path | None = TokenOpt,
    collection: str = CollectionOpt,
    org: str | None = OrgOpt,
    default_tlp: str | None = TlpOpt,
    dry_run: bool = DryOpt,
    skip_invalid: bool = SkipOpt,
    report_path: Path | None = ReportOpt,
    force: bool = ForceOpt,
    accept_distribution: bool = AcceptOpt,
    since: str | None = typer.Option(None, "--since", help="Only events changed since DATE (YYYY-MM-DD)."),
    tag: list[str] = typer.Option([], "--tag", help="Only events with this tag (repeatable)."),
    max_event_mb: float = typer.Option(
        256.0, "--max-event-mb", min=0.001, help="Largest event file to fetch."
    ),
    pipeline: bool | None = PipelineOpt,
    check_helpers: int = HelpersOpt,
) -> None:
    """A MISP feed, incrementally: new events and events newer than the hub's cursor for them."""
    _check_report(report_path, force)
    from kizuna.ingest.feed import FETCH_WORKERS, Feed, plan
    from kizuna.ingest.pipeline import ahead
    from kizuna.ingest.units import Problem

    since_dt = None
    if since is not None:
        try:
            since_dt = datetime.strptime(since, "%Y-%m-%d")
        except ValueError:
            raise InputError(f"--since: {since!r} is not YYYY-MM-DD") from None
    report = Report()
    counts = {"new": 0, "updated": 0, "unchanged": 0, "refused": 0}
    with ExitStack() as stack:
        max_bytes = int(max_event_mb * 1024 * 1024)
        feed = stack.enter_context(Feed(source, max_event_bytes=max_bytes))
        target = stack.enter_context(_target(db, hub, token_file, collection, org, dry_run))
        opts = _misp_options(target, _default_tlp(default_tlp), accept_distribution)
        manifest = feed.manifest()
        cursors = target.cursors(feed.source) if target.cursors else {}
        chosen = plan(manifest, cursors, since=since_dt, tags=tuple(tag))
        counts["unchanged"] = chosen.unchanged
        hashes = feed.hashes()
        progress = stack.enter_context(_progress("events"))
        task = progress.add_task("feed", total=len(chosen.chosen))
        ingest = Ingest(target.sink, report, skip_invalid=skip_invalid)
        local = db is not None and hub is None
        prepared: Iterator[tuple[Choice, list[Unit], str | None]]
        if wanted_for_feed(len(chosen.chosen), local=local, dry_run=dry_run, choice=pipeline):
            conv = Converter()
            stack.callback(conv.close)
            fj = FeedJob(feed.source, max_bytes, tuple(chosen.chosen), hashes, FETCH_WORKERS)
            conv.start(
                Job(
                    "misp-feed",
                    (),
                    misp=opts,
                    feed=fj,
                    send_objects=skip_invalid,
                    check_helpers=check_helpers,
                )
            )
            prepared = conv.events()
        else:
            units_ahead = feed_units(feed, chosen.chosen, opts, hashes, workers=FETCH_WORKERS)
            prepared = stack.enter_context(closing(ahead(units_ahead, _AHEAD_UNITS)))
        for choice, units, error in prepared:
            if error is not None:
                counts["refused"] += 1
                report.tally(feed.source).units_refused += 1
                report.problems.append(Problem(feed.source, f"{choice.uuid}.json", choice.uuid, error))
            for unit in units:
                stored = ingest.store(unit)
                counts[choice.state if stored else "refused"] += 1
            progress.advance(task)
        report.extra["feed"] = {**counts, "filtered": chosen.filtered}
        _run_audit(target, report, "misp-feed")
    err.print(
        f"events: {counts['new']} new, {counts['updated']} updated, {counts['unchanged']} unchanged,"
        f" {counts['refused']} refused",
        markup=False,
    )
    _finish(report, report_path, readable=1, sources=1)


#: Converted feed events that may wait for the writer (each a unit of one event).
_AHEAD_UNITS = 4


@export_app.command("misp")
def export_misp(
    db: str = typer.Option(..., "--db", envvar="KIZUNA_DB", help="Local hub database (or $KIZUNA_DB)."),
    collection: str = CollectionOpt,
    report_id: str | None = typer.Option(None, "--report-id", help="Only this report or grouping."),
    out: Path = typer.Option(..., "--out", help="MISP JSON file to write."),
    org: str | None = typer.Option(
        None, "--org", help="Read as this organisation (default: the sole writer)."
    ),
) -> None:
    """STIX back to MISP JSON for the mapped types ({"Event": ...}, or {"response": [...]} for several)."""
    from kizuna.hub import policy
    from kizuna.hub.models import Query, VersionFilter
    from kizuna.hub.store.backends import open_store
    from kizuna.ingest.export import export_events

    with open_store(db) as store:
        c = store.get_collection(collection)
        if c is None:
            raise NotFound(f"--collection: no collection {collection!r} in {db}")
        if org is None:
            writers = [o for o in store.list_orgs() if policy.may_write(store.grant(c, o))]
            if len(writers) != 1:
                raise InputError(
                    "--org: name the organisation to export as (the collection has several writers)"
                )
            reader = writers[0]
        else:
            reader = store.get_org(org)
        objects: list[dict[str, Any]] = []
        after = None
        while True:
            page = store.query(c, reader, Query(limit=1000, after=after, versions=VersionFilter(last=True)))
            objects.extend(orjson.loads(r.raw) for r in page.rows)
            if not page.more or page.cursor is None:
                break
            after = page.cursor
    events = export_events(objects, report_id)
    if report_id is not None and not events:
        raise NotFound(f"--report-id: no report or grouping {report_id} that {reader.name} may read")
    doc: object = events[0] if len(events) == 1 else {"response": events}
    try:
        out.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", path=str(out)) from None
    err.print(f"wrote {len(events)} event(s) to {out}", markup=False)


def register(root: typer.Typer) -> None:
    root.add_typer(ingest_app, name="ingest")
    root.add_typer(export_app, name="export")
