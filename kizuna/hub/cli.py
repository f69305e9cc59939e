"""``kizuna hub ...`` and ``kizuna demo``: set up a hub, serve it, verify its audit log.

Scripts outside the project rely on these exact forms (see docs/quickstart.md). ``--db`` may also come from
the environment variable ``KIZUNA_DB``.
"""

from __future__ import annotations

import gc
import re
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import typer

from kizuna.clikit import err, out
from kizuna.errors import InputError, KizunaError
from kizuna.hub import policy
from kizuna.hub.models import Peer
from kizuna.hub.paging import Cursor
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.ids import format_us
from kizuna.stix.markings import LEVEL_CHOICES, TLP, parse_level

if TYPE_CHECKING:
    from rich.progress import TaskID

    from kizuna.hub.federation.sync import PeerResult

hub_app = typer.Typer(
    help="Run a hub: database, organisations, tokens, collections, the TAXII 2.1 server, the audit log.",
    no_args_is_help=True,
)
org_app = typer.Typer(
    help="Organisations (national agencies, CNI operators, partner hubs).", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens (shown once, stored only as a hash).", no_args_is_help=True)
collection_app = typer.Typer(help="Collections and who may read or write them.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
peer_app = typer.Typer(
    help="Peer hubs this hub federates with, and what flows each way.", no_args_is_help=True
)
hub_app.add_typer(org_app, name="org")
hub_app.add_typer(token_app, name="token")
hub_app.add_typer(collection_app, name="collection")
hub_app.add_typer(audit_app, name="audit")
hub_app.add_typer(peer_app, name="peer")

DbOption = typer.Option(..., "--db", envvar="KIZUNA_DB", help="Hub database file (or $KIZUNA_DB).")
_LEVELS = "|".join(LEVEL_CHOICES)


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def _level(text: str, option: str) -> TLP:
    try:
        return parse_level(text)
    except InputError as exc:
        raise InputError(f"{option}: {exc}") from None


def _open(db: Path) -> SQLiteStore:
    return SQLiteStore.open(db)


@hub_app.command("init")
def hub_init(
    db: Path = DbOption,
    title: str = typer.Option("kizuna hub", "--title", help="The hub's title, shown in TAXII discovery."),
) -> None:
    """Create a new hub database (refuses to overwrite an existing file)."""
    from kizuna.hub.keys import key_path
    from kizuna.hub.store.sqlite.store import checkpoint_path

    SQLiteStore.create(db, title=title).close()
    err.print(
        f"created hub database {db}, its key file {key_path(db)} and its audit checkpoint file"
        f" {checkpoint_path(db)} (mode 0600; keep the key file with the database, apart from its backups)"
    )


@hub_app.command("migrate")
def hub_migrate(db: Path = DbOption) -> None:
    """Bring a hub database made by an older kizuna up to this version's schema (back it up first)."""
    applied = SQLiteStore.migrate(db)
    if not applied:
        err.print(f"{db} is up to date")
    for m in applied:
        err.print(f"{db}: applied migration {m.version}: {m.description}")


@org_app.command("add")
def org_add(
    name: str = typer.Argument(..., help="Organisation name (used as the HTTP Basic user)."),
    db: Path = DbOption,
    country: str | None = typer.Option(None, "--country", help="ISO 3166-1 alpha-2 code, e.g. GB, JP."),
    sector: list[str] = typer.Option([], "--sector", help="CNI sector (repeatable): energy, water, ..."),
    ceiling: str = typer.Option("green", "--ceiling", help=f"Highest TLP it may receive: {_LEVELS}."),
    peer_hub: bool = typer.Option(
        False, "--peer-hub", help="The account of another hub (never gets RED or AMBER+STRICT)."
    ),
    admin: bool = typer.Option(
        False, "--admin", help="An administrator: may delete any object it can read (least privilege: off)."
    ),
) -> None:
    """Add an organisation."""
    if country is not None and not re.fullmatch(r"[A-Za-z]{2}", country):
        raise InputError(f"--country: {country!r} is not an ISO 3166-1 alpha-2 code (e.g. GB, JP)")
    with _open(db) as store:
        org = store.add_org(
            name,
            ceiling=_level(ceiling, "--ceiling"),
            country=None if country is None else country.upper(),
            sectors=[s.strip().lower() for s in sector if s.strip()],
            peer_hub=peer_hub,
            admin=admin,
        )
    err.print(f"added organisation {org.name} (ceiling {org.ceiling}, identity {org.identity_id})")


@org_app.command("update")
def org_update(
    name: str = typer.Argument(..., help="The organisation to change."),
    db: Path = DbOption,
    admin: bool = typer.Option(
        ...,
        "--admin/--no-admin",
        help="Make it an administrator (deletes any object it can read; audit log in the web UI) or not.",
    ),
) -> None:
    """Change an organisation's administrator flag (audited)."""
    with _open(db) as store:
        org = store.set_admin(name, admin)
    err.print(f"updated organisation {org.name}: administrator {'yes' if org.admin else 'no'}")


@org_app.command("list")
def org_list(db: Path = DbOption) -> None:
    """List organisations."""
    from rich.table import Table

    with _open(db) as store:
        table = Table("name", "country", "sectors", "ceiling", "peer hub", "identity")
        for o in store.list_orgs():
            table.add_row(
                o.name,
                o.country or "",
                ", ".join(o.sectors),
                o.ceiling.label,
                "yes" if o.peer_hub else "",
                o.identity_id or "",
            )
    out.print(table)


@token_app.command("create")
def token_create(
    db: Path = DbOption,
    org: str = typer.Option(..., "--org", help="The organisation the token acts for."),
) -> None:
    """Create an API token; prints it once (only its hash is stored)."""
    from kizuna.hub.auth import hash_token, new_token

    token = new_token()
    with _open(db) as store:
        store.add_token(org, hash_token(token))
    print(token)


@token_app.command("revoke")
def token_revoke(
    db: Path = DbOption,
    org: str = typer.Option(..., "--org", help="The organisation whose tokens stop working now."),
) -> None:
    """Revoke every token of an organisation (issue a new one with 'token create')."""
    with _open(db) as store:
        n = store.revoke_tokens(org)
    err.print(f"revoked {n} token(s) of {org}")


@collection_app.command("add")
def collection_add(
    db: Path = DbOption,
    title: str = typer.Option(..., "--title"),
    alias: str | None = typer.Option(None, "--alias"),
    description: str = typer.Option("", "--description"),
    read: str | None = typer.Option(None, "--read", help="Organisations that may read: ORG,ORG."),
    write: str | None = typer.Option(None, "--write", help="Organisations that may write: ORG,ORG."),
    default_tlp: str = typer.Option("amber", "--default-tlp", help=f"TLP of unmarked objects: {_LEVELS}."),
) -> None:
    """Add a collection; prints its id."""
    with _open(db) as store:
        c = store.add_collection(
            title,
            alias=alias,
            description=description,
            default_tlp=_level(default_tlp, "--default-tlp"),
            readers=_names(read),
            writers=_names(write),
        )
    print(c.id)


@collection_app.command("grant")
def collection_grant(
    collection: str = typer.Argument(..., help="Collection id or alias."),
    db: Path = DbOption,
    read: str | None = typer.Option(None, "--read", help="Organisations that may now read: ORG,ORG."),
    write: str | None = typer.Option(None, "--write", help="Organisations that may now write: ORG,ORG."),
) -> None:
    """Give organisations (e.g. a new partner hub's account) access to an existing collection."""
    with _open(db) as store:
        c = store.grant_access(collection, readers=_names(read), writers=_names(write))
    err.print(f"granted on {c.id}: read {_names(read) or '-'}, write {_names(write) or '-'}")


@collection_app.command("list")
def collection_list(db: Path = DbOption) -> None:
    """List collections with their default TLP."""
    from rich.table import Table

    with _open(db) as store:
        table = Table("id", "title", "alias", "default TLP")
        for c in store.list_collections():
            table.add_row(c.id, c.title, c.alias or "", c.default_tlp.label)
    out.print(table)


@audit_app.command("list")
def audit_list(
    db: Path = DbOption,
    limit: int = typer.Option(20, "--limit", min=1, help="The last N records."),
    action: str | None = typer.Option(None, "--action", help="Only this action, e.g. objects.receive."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line, detail included."),
) -> None:
    """Show the last audit records (who did what, when; refusals and their reasons are in the detail)."""
    with _open(db) as store:
        records = [r for r in store.audit_records() if action is None or r.action == action][-limit:]
    if as_json:
        for r in records:
            print(
                orjson.dumps(
                    {
                        "seq": r.seq,
                        "at": r.at,
                        "actor": r.actor,
                        "action": r.action,
                        "detail": orjson.loads(r.detail),
                    }
                ).decode()
            )
        return
    from rich.table import Table

    table = Table("seq", "at", "actor", "action", "detail")
    for r in records:
        table.add_row(
            str(r.seq), r.at, r.actor, r.action, r.detail if len(r.detail) < 120 else r.detail[:117] + "..."
        )
    out.print(table)


@audit_app.command("verify")
def audit_verify(db: Path = DbOption) -> None:
    """Check the audit log's hash chain and head; exit 1 naming the damage (modified, deleted, truncated)."""
    with _open(db) as store:
        report = store.verify_audit()
    if not report.ok:
        where = "" if report.first_bad_seq is None else f" at record {report.first_bad_seq}"
        err.print(
            f"kizuna: audit chain {report.damage}{where}: {report.reason}", markup=False, soft_wrap=True
        )
        raise typer.Exit(1)
    out.print(f"audit chain intact: {report.records} records")


@hub_app.command("serve")
def hub_serve(
    db: Path = DbOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8000, "--port"),
    sync_every: float | None = typer.Option(None, "--sync-every", help="Also sync with peers every SECONDS."),
) -> None:
    """Serve TAXII 2.1 (discovery at /taxii2/, API root at /api/)."""
    store = _open(db)
    if store.count_orgs_with_tokens() == 0:
        store.close()
        raise KizunaError(
            f"{db}: no organisation has a token; create one with 'kizuna hub token create' before serving"
        )
    stop = threading.Event()
    if sync_every is not None:
        from kizuna.hub.federation.sync import Syncer

        syncer = Syncer(store, store.keys)
        threading.Thread(
            target=syncer.run_forever,
            args=(sync_every, stop),
            kwargs={"on_pass": _report_pass},
            name="kizuna-sync",
            daemon=True,
        ).start()
    try:
        serve(store, host=host, port=port)
    finally:
        stop.set()


def serve(store: SQLiteStore, *, host: str, port: int, title: str | None = None) -> None:
    import uvicorn

    from kizuna.hub.app import create_app
    from kizuna.hub.settings import HubSettings

    app = create_app(HubSettings(title=title or store.title()), store)
    gc.collect()
    gc.freeze()  # what exists at start-up lives for the whole run: keep it out of every collection
    err.print(
        f"serving TAXII 2.1 at http://{host}:{port}/taxii2/ (API root http://{host}:{port}/api/,"
        f" web UI http://{host}:{port}/ui/)"
    )
    # uvicorn shuts down gracefully on SIGTERM and then re-raises the signal; with this handler in place
    # that ends in an exception, so every ``finally`` (closing the store, removing the demo's files) runs.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        signal.signal(signal.SIGTERM, previous)
        store.close()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


# -- federation -----------------------------------------------------------------------------------------
def _pairs(values: list[str], option: str) -> list[tuple[str, str]]:
    pairs = []
    for v in values:
        a, sep, b = v.partition(":")
        if not sep or not a or not b:
            raise InputError(f"{option}: {v!r} must be SOURCE_COLLECTION_ID:TARGET_COLLECTION_ID")
        pairs.append((a, b))
    return pairs


@peer_app.command("add")
def peer_add(
    name: str = typer.Argument(
        ..., help="The peer's name here (use the same name for its --peer-hub account)."
    ),
    db: Path = DbOption,
    url: str = typer.Option(..., "--url", help="The peer's TAXII 2.1 API root URL."),
    token_file: Path = typer.Option(..., "--token-file", help="File holding the credential for the peer."),
    user: str | None = typer.Option(None, "--user", help="Send the credential as HTTP Basic with this user."),
    pull: list[str] = typer.Option(
        [], "--pull", help="REMOTE_COLLECTION_ID:LOCAL_COLLECTION_ID (repeatable)."
    ),
    push: list[str] = typer.Option(
        [], "--push", help="LOCAL_COLLECTION_ID:REMOTE_COLLECTION_ID (repeatable)."
    ),
    max_tlp: str = typer.Option("green", "--max-tlp", help="Highest TLP that flows: clear|green|amber."),
    types: str | None = typer.Option(None, "--types", help="Only these STIX types flow: TYPE,TYPE."),
    reshare: str | None = typer.Option(
        None,
        "--reshare",
        help="Objects received from this peer may go on to these other peers: PEER,PEER (off by default).",
    ),
    reshare_max_tlp: str = typer.Option(
        "green",
        "--reshare-max-tlp",
        help="Highest TLP at which this peer's objects go on: clear|green|amber.",
    ),
) -> None:
    """Record a peer hub and what flows each way (its credential is stored encrypted)."""
    from kizuna.clikit import read_token_file

    level = _level(max_tlp, "--max-tlp")
    try:
        policy.check_agreement_tlp(level)
    except InputError as exc:
        raise InputError(f"--max-tlp: {exc}; use clear, green or amber") from None
    if not re.match(r"^https?://", url):
        raise InputError(f"--url: {url!r} is not an http(s) URL")
    secret = read_token_file(token_file)
    onward = _level(reshare_max_tlp, "--reshare-max-tlp")
    with _open(db) as store:
        store.add_peer(
            name,
            url=url,
            user=user,
            secret=store.keys.seal(secret),
            max_tlp=level,
            types=_names(types),
            pulls=_pairs(pull, "--pull"),
            pushes=_pairs(push, "--push"),
            reshare=_names(reshare),
            reshare_max_tlp=onward,
        )
    again = f", its objects go on to {', '.join(_names(reshare))} up to {onward}" if reshare else ""
    err.print(f"added peer {name} ({len(pull)} pull, {len(push)} push, max {level}{again})")


@peer_app.command("list")
def peer_list(db: Path = DbOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show each peer with its flows, cursors, last success and last error."""
    with _open(db) as store:
        peers = store.list_peers()
    if as_json:
        print(orjson.dumps([_peer_json(p) for p in peers], option=orjson.OPT_INDENT_2).decode())
        return
    from rich.table import Table

    table = Table(
        "peer", "url", "max TLP", "types", "flow", "cursor", "moved", "refused", "last success", "last error"
    )
    for p in peers:
        for i, f in enumerate(p.flows or (None,)):
            first = i == 0
            table.add_row(
                p.name if first else "",
                p.url if first else "",
                p.max_tlp.label if first else "",
                ",".join(p.types) if first else "",
                ""
                if f is None
                else f"{f.direction} {f.remote_collection if f.direction == 'pull' else f.local_collection}"
                f" -> {f.local_collection if f.direction == 'pull' else f.remote_collection}",
                "" if f is None or f.cursor is None else _cursor_text(f.cursor),
                "" if f is None else str(f.transferred),
                "" if f is None else str(f.refused),
                (f.last_success if f else p.last_success) or "",
                (f.last_error if f else p.last_error) or "",
            )
    out.print(table)


def _cursor_text(cursor: Cursor) -> str:
    """A flow's cursor as users read it: the ``date_added`` reached (``~``: part of that instant only)."""
    return format_us(cursor.date_added_us) + ("" if cursor.complete else "~")


def _peer_json(p: Peer) -> dict[str, object]:
    return {
        "name": p.name,
        "url": p.url,
        "user": p.user,
        "max_tlp": p.max_tlp.label,
        "types": list(p.types),
        "last_success": p.last_success,
        "last_error": p.last_error,
        "flows": [
            {
                "direction": f.direction,
                "remote_collection": f.remote_collection,
                "local_collection": f.local_collection,
                "cursor": None if f.cursor is None else _cursor_text(f.cursor),
                "transferred": f.transferred,
                "refused": f.refused,
                "last_success": f.last_success,
                "last_error": f.last_error,
            }
            for f in p.flows
        ],
    }


@peer_app.command("remove")
def peer_remove(name: str = typer.Argument(...), db: Path = DbOption) -> None:
    """Forget a peer (its flows and cursors go with it; objects already received stay)."""
    with _open(db) as store:
        store.remove_peer(name)
    err.print(f"removed peer {name}")


def _report_pass(results: list[PeerResult]) -> None:
    for r in results:
        if not r.ok:
            err.print(f"kizuna: sync with {r.peer} failed: {r.summary()}", markup=False, soft_wrap=True)


@hub_app.command("sync")
def hub_sync(
    db: Path = DbOption,
    peer: list[str] = typer.Option([], "--peer", help="Only this peer (repeatable)."),
    once: bool = typer.Option(False, "--once", help="One full pass, then exit (non-zero if a peer failed)."),
    every: float = typer.Option(60.0, "--every", help="Seconds between passes when not --once."),
    page_size: int = typer.Option(1000, "--page-size", min=1, max=10_000, help="Objects per request."),
) -> None:
    """Sync with peer hubs: pull and push every flow, following next until more is false."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from kizuna.hub.federation.sync import Syncer

    with (
        _open(db) as store,
        Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed:,.0f} objects"),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        ) as progress,
    ):
        tasks: dict[tuple[str, str], TaskID] = {}
        lock = threading.Lock()

        def on_progress(peer_name: str, direction: str, n: int) -> None:
            with lock:
                key = (peer_name, direction)
                if key not in tasks:
                    tasks[key] = progress.add_task(f"{direction} {peer_name}", total=None)
                progress.advance(tasks[key], n)

        syncer = Syncer(store, store.keys, on_progress=on_progress, page_size=page_size)
        if not once:
            stop = threading.Event()
            try:
                syncer.run_forever(every, stop, peer, on_pass=_report_pass)
            except KeyboardInterrupt:
                stop.set()
            return
        results = syncer.run_once(peer)
    failed = [r for r in results if not r.ok]
    for r in results:
        moved = sum(f.transferred for f in r.flows)
        refused = sum(f.refused for f in r.flows)
        if r.ok:
            err.print(f"{r.peer}: ok ({moved} objects moved, {refused} refused)")
    for r in failed:
        err.print(f"kizuna: sync with {r.peer} failed: {r.summary()}", markup=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


def demo(port: int = typer.Option(8000, "--port")) -> None:
    """A ready demo hub: UK and Japanese agencies, a CNI operator, collections and ATT&CK for ICS."""
    from kizuna.hub.demo import build_demo

    hub = build_demo()
    base = f"http://127.0.0.1:{port}"
    lines = [
        f"kizuna demo hub (temporary database {hub.db_path}, deleted on exit)",
        f"TAXII discovery: {base}/taxii2/",
        f"API root: {base}/api/",
        f"web UI: {base}/ui/ (log in with a token below)",
        *(f"token {name}: {token}" for name, token in hub.tokens.items()),
        *(f"collection {cid}: {title}" for title, cid in hub.collections.items()),
        f"try: curl -H 'Authorization: Bearer {hub.tokens['uk-ncsc']}' {base}/api/collections/",
        "Ctrl-C stops the demo.",
    ]
    print("\n".join(lines), flush=True)
    try:
        serve(hub.store, host="127.0.0.1", port=port)
    finally:
        hub.cleanup()


def register(root: typer.Typer) -> None:
    root.add_typer(hub_app, name="hub")
    root.command("demo")(demo)
