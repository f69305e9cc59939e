"""``kizuna match``: match hub indicators against logs, report sightings, export for Zeek and Suricata.

``kizuna match [OPTIONS] LOGFILE...`` runs the matcher (it is ``kizuna match run``);
``kizuna match export --format zeek-intel|suricata-dataset`` writes engine files. Any first argument
that is not a sub-command name goes to ``run`` (see :class:`_MatchGroup`).
"""

from __future__ import annotations

import gc
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from typer.core import TyperGroup

from kizuna.clikit import err, out, output_dir, read_token_file
from kizuna.detect import cache as indicator_cache
from kizuna.detect.cache import Compiled
from kizuna.detect.exports import EXPORT_FORMATS, write_suricata_datasets, write_zeek_intel
from kizuna.detect.indicators import (
    Indicator,
    Selection,
    build_matcher,
    bundle_objects,
    load_bundle,
    prepare_indicators,
    read_bundle,
    refused_indicators,
    select_prepared,
)
from kizuna.detect.matcher import Event, Hit, Matcher
from kizuna.detect.pattern import parse_stix_timestamp
from kizuna.detect.pipeline import Decoder, Workers, collect, default_workers, in_background, plan_file
from kizuna.detect.readers import FORMATS, ReadStats, read_events
from kizuna.detect.sightings import build_sightings, identity_for
from kizuna.detect.warninglists import default_warninglists
from kizuna.errors import InputError
from kizuna.stix.ids import format_timestamp, utc_now


class _MatchGroup(TyperGroup):
    """``match`` is a group (``export``) whose default command is ``run``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


match_app = typer.Typer(
    cls=_MatchGroup,
    help=(
        "Match shared indicators against logs (kizuna match [OPTIONS] LOGFILE...), report sightings, "
        "export indicators for Zeek and Suricata."
    ),
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    """Add ``kizuna match`` to the root app."""
    root.add_typer(match_app, name="match")


# -- indicator sources ------------------------------------------------------------------------------------
@dataclass
class _Loaded:
    """The indicators to match, how many a bundle held that the hub's validator refused, and the matcher
    (compiled when asked for)."""

    selection: Selection
    refused: int
    matcher: Matcher | None = None


def _objects(
    hub: str | None, token_file: Path | None, collection: str | None, bundles: list[Path],
    data: list[bytes] | None = None,
) -> tuple[list[dict[str, Any]], list[tuple[Path, int, int]]]:  # fmt: skip
    """Objects of the bundles (``data``: their bytes, when read already) then the hub collection, and
    where each bundle's objects are in the list."""
    if not bundles and (hub is None or collection is None):
        raise InputError("give --bundle FILE, or --hub URL with --token-file and --collection")
    objects: list[dict[str, Any]] = []
    spans: list[tuple[Path, int, int]] = []
    for i, b in enumerate(bundles):
        start = len(objects)
        objects.extend(load_bundle(b) if data is None else bundle_objects(data[i], str(b)))
        spans.append((b, start, len(objects)))
    if hub is not None and collection is not None:
        if token_file is None:
            raise InputError("--hub needs --token-file")
        from kizuna.hub.client import HubClient

        with HubClient(hub, read_token_file(token_file)) as client:
            objects.extend(client.iter_objects(collection, match={"type": "indicator"}))
    return objects, spans


def _refused(objects: list[dict[str, Any]], spans: list[tuple[Path, int, int]]) -> list[tuple[int, str]]:
    """(position, message) of each bundle indicator the hub's validator refuses."""
    out = []
    for path, start, end in spans:
        for position, reason in refused_indicators(objects[start:end]):
            out.append((start + position, f"{path}: refused {reason}"))
    return out


def _now(text: str | None) -> datetime:
    if text is None:
        return utc_now()
    try:
        return parse_stix_timestamp(text)
    except ValueError:
        raise InputError(f"--now: not a STIX timestamp (like 2026-01-31T00:00:00Z): {text!r}") from None


def _prepare(
    hub: str | None,
    token_file: Path | None,
    collection: str | None,
    bundles: list[Path],
    data: list[bytes] | None,
    parallel: bool,
) -> Compiled:
    """Indicators from bundles and the hub, prepared for selection; bundle indicators checked by the
    hub's validator (in a helper process while they are prepared here, when ``parallel``)."""
    objects, spans = _objects(hub, token_file, collection, bundles, data)
    lists = default_warninglists()
    refused = in_background(_refused, objects, spans, fork=parallel and bool(spans))
    prepared = prepare_indicators(objects, warninglists=lists)
    bad = refused()
    if bad:
        drop = {position for position, _message in bad}
        kept = [o for i, o in enumerate(objects) if i not in drop]
        prepared = prepare_indicators(kept, warninglists=lists)
    return Compiled(prepared, [message for _position, message in bad])


def _load(
    hub: str | None,
    token_file: Path | None,
    collection: str | None,
    bundles: list[Path],
    now: str | None,
    no_warninglists: bool,
    *,
    parallel: bool = False,
    compile: bool = False,
    cache: bool = False,
) -> _Loaded:
    """Indicators from bundles and the hub, selected at ``now`` (and compiled when ``compile``).
    With ``cache`` and bundles only, the prepared indicators and the matcher come from the
    compiled-indicator cache (:mod:`kizuna.detect.cache`) when it holds these bundles, and go into it."""
    when = _now(now)
    key = None
    entry = None
    data = None
    if cache and bundles and hub is None:
        data = [read_bundle(b) for b in bundles]
        key = indicator_cache.cache_key(data)
        entry = indicator_cache.load(key)
    fresh = entry is None
    if entry is None:
        entry = _prepare(hub, token_file, collection, bundles, data, parallel)
    del data
    for message in entry.refused:
        err.print(f"kizuna: {message}", markup=False, soft_wrap=True)
    warnings: list[str] = []
    sel = select_prepared(
        entry.prepared, now=when, include_listed=no_warninglists, on_warning=warnings.append
    )
    for message in warnings:
        err.print(f"kizuna: warning: {message}", markup=False, soft_wrap=True)
    matcher = None
    if compile:
        ids = tuple(i.id for i in sel.active)
        matcher = entry.matcher_for(ids)
        if matcher is None:
            matcher = build_matcher(sel.active)
            entry.matcher, entry.active_ids = matcher, ids
            fresh = True
    if key is not None and fresh:
        indicator_cache.store(key, entry)
    return _Loaded(sel, len(entry.refused), matcher)


@contextmanager
def _compiling() -> Iterator[None]:
    """No cyclic garbage collection while indicators load and compile (they make no garbage, and the
    collector would walk every object many times); afterwards the whole heap is frozen, so neither
    collections nor forked workers touch it."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _summary_of_selection(sel: Selection, refused: int = 0) -> None:
    parts = [f"{len(sel.active)} indicators to match"]
    if sel.flagged:
        lists = Counter(i.listed_on for i in sel.flagged)
        named = ", ".join(f"{name}: {n}" for name, n in lists.most_common())
        parts.append(
            f"{len(sel.flagged)} on warning lists not alerted ({named}; --no-warninglists to include)"
        )
    for reason, n in sel.skipped.most_common():
        parts.append(f"{n} ignored: {reason}")
    if refused:
        parts.append(f"{refused} refused by STIX validation (exit status 3)")
    err.print("kizuna: " + "; ".join(parts), markup=False, soft_wrap=True)


_HUB_HELP = "API root URL of the hub holding the indicators."
_TOKEN_HELP = "File holding your hub API token."
_COLLECTION_HELP = "Collection id to read indicators from (and to post sightings to)."


# -- run ----------------------------------------------------------------------------------------------------
def _plain_events(
    files: list[Path], fmt: str, stats: ReadStats, warn: Callable[[str], None], progress: _Progress
) -> Iterator[Event]:
    """The plain reference: one process, every record mapped to observables by the general reader."""
    for path in files:
        for n, event in enumerate(read_events(path, fmt, stats=stats, on_warning=warn)):
            if n % 2048 == 0:
                progress(stats.bytes_read)
            yield event
        progress(stats.bytes_read)


def _describe(event: Event) -> str:
    parts = []
    for obj in event.objects.values():
        t = obj.get("type")
        if "value" in obj:
            parts.append(f"{t}:{obj['value']}")
        elif t == "file":
            hashes = obj.get("hashes") or {}
            parts.append(f"file:{obj.get('name') or next(iter(hashes.values()), '')}")
    return " ".join(parts)


def _hit_record(hit: Hit, ind: Indicator) -> dict[str, Any]:
    first = hit.events[0]
    return {
        "indicator_id": ind.id,
        "indicator_name": ind.name,
        "pattern": ind.pattern,
        "source": first.source,
        "line": first.line,
        "time": format_timestamp(first.time, precision="microsecond"),
        "observables": _describe(first),
        "events": [{"source": e.source, "line": e.line} for e in hit.events],
    }


@match_app.command("run")
def match_run(
    logfiles: list[Path] = typer.Argument(..., metavar="LOGFILE...", help="Log files to match."),
    hub: str | None = typer.Option(None, "--hub", help="API root URL of the hub holding the indicators."),
    token_file: Path | None = typer.Option(None, "--token-file", help="File holding your hub API token."),
    collection: str | None = typer.Option(
        None, "--collection", help="Collection id to read indicators from."
    ),
    bundle: list[Path] = typer.Option(
        [], "--bundle", help="STIX bundle file of indicators (offline use; may repeat)."
    ),
    fmt: str = typer.Option("auto", "--format", help=f"Log format: {'|'.join(FORMATS)}."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per match on stdout."),
    report: bool = typer.Option(
        False, "--report", help="Post one Sighting per matched indicator to the hub."
    ),
    report_to: str | None = typer.Option(
        None, "--report-to", help="Collection to post sightings to (default: --collection)."
    ),
    org: str = typer.Option("kizuna match", "--org", help="Your organisation's name (where sighted)."),
    no_warninglists: bool = typer.Option(
        False, "--no-warninglists", help="Also alert on indicators whose values are on warning lists."
    ),
    now: str | None = typer.Option(None, "--now", help="Evaluate valid_until at this time (default: now)."),
    workers: int | None = typer.Option(
        None, "--workers", help="Processes that read, decode and match the logs (default: all cores)."
    ),
    reader: str = typer.Option(
        "fast", "--reader", help="fast (default) or plain: the reference reader, in one process."
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    follow: bool = typer.Option(
        False,
        "--follow",
        help="Follow the growing logs (- for stdin) and the collection's indicators; post sightings "
        "every --flush-s. Needs --hub, --token-file, --collection and --state.",
    ),
    flush_s: float = typer.Option(
        5.0, "--flush-s", help="--follow: seconds of hits aggregated into one sighting per indicator."
    ),
    state: Path | None = typer.Option(
        None, "--state", help="--follow: file keeping log positions and unsent sightings (mode 0600)."
    ),
    from_end: bool = typer.Option(
        False, "--from-end", help="--follow: start logs not in the state file at their end, not start."
    ),
    no_cache: bool = typer.Option(
        False,
        "--no-cache",
        help="Validate and compile the --bundle indicators afresh, without the compiled-indicator cache "
        "($XDG_CACHE_HOME/kizuna/match).",
    ),
) -> None:
    """Match indicators against LOGFILE... (ECS JSON, Zeek, Suricata EVE, STIX observed-data)."""
    if fmt not in FORMATS:
        raise InputError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if follow:
        if workers is not None or reader != "fast":
            # the follower decodes in its own process (it runs a stream thread, so it cannot fork workers)
            raise InputError("--workers and --reader are options of a one-shot match, not of --follow")
        _follow(
            [str(f) for f in logfiles], hub, token_file, collection, report_to, bundle, fmt, org,
            no_warninglists, as_json, flush_s, state, from_end,
        )  # fmt: skip
        return
    given = {"--state": state is not None, "--from-end": from_end, "--flush-s": flush_s != 5.0}
    for name, used in given.items():
        if used:
            raise InputError(f"{name} is an option of --follow")
    if reader not in ("fast", "plain"):
        raise InputError(f"--reader: expected fast or plain, got {reader!r}")
    if workers is not None and workers < 1:
        raise InputError(f"--workers: expected a number of processes >= 1, got {workers}")
    if report and (hub is None or token_file is None or (collection or report_to) is None):
        raise InputError("--report needs --hub, --token-file and --collection (or --report-to)")
    for f in logfiles:
        if not f.is_file():
            raise InputError("log file not found", path=str(f))
    processes = 1 if reader == "plain" else workers or default_workers()
    with _compiling():
        loaded = _load(
            hub, token_file, collection, bundle, now, no_warninglists,
            parallel=processes > 1, compile=True, cache=not no_cache,
        )  # fmt: skip
        sel = loaded.selection
        _summary_of_selection(sel, loaded.refused)
        indicators = {i.id: i for i in sel.active}
        matcher = loaded.matcher
        assert matcher is not None
    stats = ReadStats()
    hits: list[Hit] = []
    table_rows: list[dict[str, Any]] = []

    def emit(hit: Hit) -> None:
        hits.append(hit)
        record = _hit_record(hit, indicators[hit.key])
        if as_json:
            out.file.write(orjson.dumps(record).decode() + "\n")
            out.file.flush()
        else:
            table_rows.append(record)

    # the workers fork before the progress bar starts its thread
    with Workers(Decoder(matcher), processes) as pool, _progress_bar(logfiles, not no_progress) as progress:

        def warn(message: str) -> None:
            progress.console.print(f"kizuna: warning: {message}", markup=False, soft_wrap=True)

        if reader == "plain":
            for event in _plain_events(logfiles, fmt, stats, warn, progress):
                for hit in matcher.feed(event):
                    emit(hit)
        else:
            chunks = [chunk for path in logfiles for chunk in plan_file(path, fmt)]
            for hit in collect(chunks, pool.map(chunks), matcher, stats, warn, progress):
                emit(hit)
        for hit in matcher.finish():
            emit(hit)
    if not as_json:
        _print_table(table_rows)
    matched = len({h.key for h in hits})
    err.print(
        f"kizuna: {stats.records} records in {len(logfiles)} file(s): {stats.events} events, "
        f"{stats.malformed} malformed records skipped; {len(hits)} matches of {matched} indicators",
        markup=False,
        soft_wrap=True,
    )
    for key, reason in matcher.undecided.items():
        err.print(f"kizuna: warning: {key}: undecided, {reason}", markup=False, soft_wrap=True)
    for key, n in matcher.dropped_events.items():
        err.print(f"kizuna: warning: {key}: {n} events beyond the per-pattern limit were not kept")
    if report:
        target = report_to or collection
        assert hub is not None and token_file is not None and target is not None
        if hits:
            _report(hits, indicators, hub, token_file, target, org, logfiles)
        else:
            err.print("kizuna: no matches, so no sightings to report")
    if loaded.refused:
        raise typer.Exit(code=3)


def _follow(
    files: list[str],
    hub: str | None,
    token_file: Path | None,
    collection: str | None,
    report_to: str | None,
    bundles: list[Path],
    fmt: str,
    org: str,
    no_warninglists: bool,
    as_json: bool,
    flush_s: float,
    state: Path | None,
    from_end: bool,
) -> None:
    """``kizuna match --follow``: see :mod:`kizuna.detect.follow`."""
    import signal
    import threading

    from kizuna.detect.follow import Follower, FollowOptions
    from kizuna.detect.live import LiveIndicators

    if hub is None or token_file is None or collection is None:
        raise InputError("--follow needs --hub, --token-file and --collection (the indicators it follows)")
    if bundles:
        raise InputError("--follow takes its indicators from --collection, not --bundle")
    if state is None:
        raise InputError("--follow needs --state FILE (where log positions and unsent sightings are kept)")
    if not flush_s > 0 or flush_s > 86_400:
        raise InputError(f"--flush-s: expected seconds between 0 and 86400, got {flush_s}")
    if files.count("-") > 1:
        raise InputError("- (standard input) may be given once")
    if len(set(files)) != len(files):
        raise InputError("a log file is given twice")
    if state.exists() and not state.is_file():
        raise InputError("not a file", path=str(state))
    if not state.parent.is_dir():
        raise InputError("folder not found", path=str(state.parent))
    token = read_token_file(token_file)
    live = LiveIndicators(default_warninglists(), include_listed=no_warninglists)

    def report(message: str) -> None:
        err.print(f"kizuna: {message}", markup=False, soft_wrap=True)

    def on_hit(hit: Hit, indicator_id: str) -> None:
        first = hit.events[0]
        record = {"indicator_id": indicator_id, "source": first.source, "line": first.line,
                  "time": format_timestamp(first.time, precision="microsecond"),
                  "observables": _describe(first)}  # fmt: skip
        out.file.write(orjson.dumps(record).decode() + "\n")
        out.file.flush()

    options = FollowOptions(
        hub=hub,
        token=token,
        collection=collection,
        report_to=report_to or collection,
        org=org,
        files=files,
        state_path=state,
        fmt=fmt,
        flush_s=flush_s,
        from_end=from_end,
        include_listed=no_warninglists,
        exit_at_eof=files == ["-"],
    )
    follower = Follower(options, live, report=report, on_hit=on_hit if as_json else None)
    stop = threading.Event()

    def finish(_signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, finish) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        follower.run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    report(
        f"stopped: {follower.records} records, {follower.hits} matches; "
        f"{follower.posted_windows} window(s) of sightings posted, {len(follower.state.unsent)} waiting"
    )


class _Progress:
    """Bytes read so far -> the progress bar (a no-op without one); ``console`` for lines printed."""

    def __init__(self, bar: Progress | None, task: Any) -> None:
        self.bar, self.task = bar, task
        self.console = bar.console if bar is not None else err

    def __call__(self, bytes_read: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=bytes_read)


@contextmanager
def _progress_bar(files: list[Path], wanted: bool) -> Iterator[_Progress]:
    """A progress bar over the logs' bytes when ``wanted`` and stderr is a terminal."""
    if not (wanted and err.is_terminal):
        yield _Progress(None, None)
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task = bar.add_task("matching", total=sum(f.stat().st_size for f in files if f.is_file()))
    bar.start()
    try:
        yield _Progress(bar, task)
    finally:
        bar.stop()


def _print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        out.print("no matches")
        return
    table = Table(show_header=True, header_style="bold")
    for col in ("indicator", "name", "where", "time", "observables"):
        table.add_column(col, overflow="fold")
    for r in rows:
        where = f"{r['source']}:{r['line']}"
        if len(r["events"]) > 1:
            where += f" (+{len(r['events']) - 1} more)"
        table.add_row(r["indicator_id"], r["indicator_name"], where, r["time"], r["observables"])
    # piped output: a wide console, so ids and paths are not folded across lines
    console = out if out.is_terminal else Console(file=out.file, width=250, highlight=False)
    console.print(table)


def _report(
    hits: list[Hit],
    indicators: dict[str, Indicator],
    hub: str,
    token_file: Path,
    collection: str,
    org: str,
    logfiles: list[Path],
) -> None:
    from kizuna.hub.client import HubClient

    identity = identity_for(org)
    names = ", ".join(f.name for f in logfiles[:5]) + (" ..." if len(logfiles) > 5 else "")

    def description(ind: Indicator, ind_hits: list[Hit]) -> str:
        return f"kizuna match: {len(ind_hits)} match(es) of {ind.name or ind.id} in {names}"

    objects = [
        identity,
        *build_sightings(hits, indicators, identity, id_factory=uuid.uuid4, description=description),
    ]
    with HubClient(hub, read_token_file(token_file)) as client:
        status = client.add_objects(collection, objects)
    count = sum(1 for o in objects if o["type"] == "sighting")
    err.print(
        f"kizuna: reported {count} sighting(s) to collection {collection}: "
        f"{status.get('success_count', '?')} objects accepted, {status.get('failure_count', 0)} refused",
        markup=False,
        soft_wrap=True,
    )
    for failure in status.get("failures") or []:
        err.print(f"kizuna: warning: hub refused {failure.get('id')}: {failure.get('message')}", markup=False)


# -- export -------------------------------------------------------------------------------------------------
@match_app.command("export")
def match_export(
    fmt: str = typer.Option(..., "--format", help=f"{'|'.join(EXPORT_FORMATS)}"),
    out_dir: Path = typer.Option(..., "--out", help="Directory to write the files into."),
    hub: str | None = typer.Option(None, "--hub", help="API root URL of the hub holding the indicators."),
    token_file: Path | None = typer.Option(None, "--token-file", help="File holding your hub API token."),
    collection: str | None = typer.Option(
        None, "--collection", help="Collection id to read indicators from."
    ),
    bundle: list[Path] = typer.Option([], "--bundle", help="STIX bundle file of indicators (may repeat)."),
    no_warninglists: bool = typer.Option(
        False, "--no-warninglists", help="Also export indicators whose values are on warning lists."
    ),
    now: str | None = typer.Option(None, "--now", help="Evaluate valid_until at this time (default: now)."),
    watch: bool = typer.Option(
        False,
        "--watch",
        help="Keep the files current from the collection's change stream until stopped (Ctrl-C, SIGTERM); "
        "each rewrite atomic. Needs --hub, --token-file and --collection.",
    ),
    min_interval_s: float = typer.Option(
        5.0, "--min-interval-s", help="--watch: at most one rewrite per this many seconds."
    ),
    resync_s: float = typer.Option(
        300.0,
        "--resync-s",
        help="--watch: list the whole collection again every this many seconds (deletions send no event).",
    ),
) -> None:
    """Write the indicators Zeek (Intel framework) or Suricata (datasets + rules) can match at line rate."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"--format: expected one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    if watch:
        _watch(
            fmt, out_dir, hub, token_file, collection, bundle, no_warninglists, now, min_interval_s, resync_s
        )
        return
    for name, used in {"--min-interval-s": min_interval_s != 5.0, "--resync-s": resync_s != 300.0}.items():
        if used:
            raise InputError(f"{name} is an option of --watch")
    output_dir(out_dir, what="--out folder")  # an existing folder, or a new one in a writable folder
    with _compiling():
        loaded = _load(hub, token_file, collection, bundle, now, no_warninglists)
    sel = loaded.selection
    _summary_of_selection(sel, loaded.refused)
    rep = (
        write_zeek_intel(sel.active, out_dir)
        if fmt == "zeek-intel"
        else write_suricata_datasets(sel.active, out_dir)
    )
    for path in rep.files:
        out.print(str(path), markup=False)
    skipped = "; ".join(f"{n} {reason}" for reason, n in rep.skipped.most_common())
    err.print(
        f"kizuna: exported {rep.exported} indicators as {rep.lines} entries"
        + (f"; not exportable: {skipped}" if skipped else ""),
        markup=False,
        soft_wrap=True,
    )
    if loaded.refused:
        raise typer.Exit(code=3)


def _watch(
    fmt: str,
    out_dir: Path,
    hub: str | None,
    token_file: Path | None,
    collection: str | None,
    bundles: list[Path],
    no_warninglists: bool,
    now: str | None,
    min_interval_s: float,
    resync_s: float,
) -> None:
    """``kizuna match export --watch``: see :mod:`kizuna.detect.watch`."""
    import signal
    import threading

    from kizuna.detect.watch import ExportSet, ExportWatcher, WatchOptions

    if hub is None or token_file is None or collection is None:
        raise InputError("--watch needs --hub, --token-file and --collection (the indicators it follows)")
    if bundles:
        raise InputError("--watch takes its indicators from --collection, not --bundle")
    if now is not None:
        raise InputError("--watch judges valid_until as time passes; --now is for a one-shot export")
    if not 0 < min_interval_s <= 86_400:
        raise InputError(f"--min-interval-s: expected seconds between 0 and 86400, got {min_interval_s}")
    if not 0 < resync_s <= 86_400:
        raise InputError(f"--resync-s: expected seconds between 0 and 86400, got {resync_s}")
    output_dir(out_dir, what="--out folder")
    token = read_token_file(token_file)

    def report(message: str) -> None:
        err.print(f"kizuna: {message}", markup=False, soft_wrap=True)

    options = WatchOptions(
        hub=hub,
        token=token,
        collection=collection,
        fmt=fmt,
        out_dir=out_dir,
        min_interval_s=min_interval_s,
        resync_s=resync_s,
        include_listed=no_warninglists,
    )
    watcher = ExportWatcher(
        options, ExportSet(default_warninglists(), include_listed=no_warninglists), report=report
    )
    stop = threading.Event()

    def finish(_signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, finish) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        watcher.run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    report(f"stopped: {watcher.rewrites} rewrite(s); the files stay as last written")
