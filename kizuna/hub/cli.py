"""``kizuna hub ...`` and ``kizuna demo``: set up a hub, serve it, verify its audit log.

Scripts outside the project rely on these exact forms (see docs/quickstart.md). ``--db`` may also come from
the environment variable ``KIZUNA_DB``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import typer

from kizuna.clikit import err, out, say
from kizuna.errors import InputError, KizunaError, NotFound, StoreError
from kizuna.hub import collector, names, policy
from kizuna.hub.models import Org, Peer
from kizuna.hub.paging import Cursor
from kizuna.hub.store.backends import AnyStore, create_store, migrate_store, open_store
from kizuna.stix.ids import format_us
from kizuna.stix.markings import LEVEL_CHOICES, TLP, parse_level

if TYPE_CHECKING:
    from rich.progress import TaskID

    from kizuna.hub.federation.sync import FlowResult, PeerResult

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

DbOption = typer.Option(
    ...,
    "--db",
    envvar="KIZUNA_DB",
    help="Hub database: a SQLite file or a postgresql:// DSN (or $KIZUNA_DB, or --db-file FILE: a 0600 file"
    " of one line; a DSN with a password is accepted only from these two).",
)
_LEVELS = "|".join(LEVEL_CHOICES)


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def _level(text: str, option: str) -> TLP:
    try:
        return parse_level(text)
    except InputError as exc:
        raise InputError(f"{option}: {exc}") from None


def _open(db: str) -> AnyStore:
    return open_store(db)


#: How long a ``--workers`` worker waits for an unreachable database before it gives up (s).
WORKER_OPEN_WAIT_S = 120.0


def _open_patiently(db: str) -> AnyStore:
    """A worker (re)started while the database is unreachable (restarting, failing over) waits for it
    rather than exiting at once: the supervisor would count each exit and give up on a short outage. The
    supervisor opened the hub before it started any worker, so a lasting error (no hub, wrong schema) was
    reported there."""
    deadline = time.monotonic() + WORKER_OPEN_WAIT_S
    while True:
        try:
            return _open(db)
        except StoreError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)


@hub_app.command("init")
def hub_init(
    db: str = DbOption,
    title: str = typer.Option("kizuna hub", "--title", help="The hub's title, shown in TAXII discovery."),
) -> None:
    """Create a new hub database (refuses to overwrite an existing file)."""
    store, message = create_store(db, title=title)
    store.close()
    say(message)


@hub_app.command("migrate")
def hub_migrate(db: str = DbOption) -> None:
    """Bring a hub database made by an older kizuna up to this version's schema (back it up first)."""
    name, applied = migrate_store(db)
    if not applied:
        err.print(f"{name} is up to date")
    for version, description in applied:
        err.print(f"{name}: applied migration {version}: {description}")


@org_app.command("add")
def org_add(
    name: str = typer.Argument(..., help="Organisation name (used as the HTTP Basic user)."),
    db: str = DbOption,
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
    """Add an organisation (its name: see 'Names' in docs/quickstart.md)."""
    level = _level(ceiling, "--ceiling")
    with _open(db) as store:
        org = store.add_org(
            name,
            ceiling=level,
            country=_country(country),
            sectors=[s for s in sector if s.strip()],
            peer_hub=peer_hub,
            admin=admin,
        )
    say(f"added organisation {org.name} (ceiling {org.ceiling}, identity {org.identity_id})")


@org_app.command("update")
def org_update(
    name: str = typer.Argument(..., help="The organisation to change."),
    db: str = DbOption,
    ceiling: str | None = typer.Option(None, "--ceiling", help=f"New ceiling: {_LEVELS}."),
    country: str | None = typer.Option(None, "--country", help="New ISO 3166-1 alpha-2 code."),
    sector: list[str] = typer.Option([], "--sector", help="New CNI sectors (repeatable; replaces them all)."),
    peer_hub: bool | None = typer.Option(
        None, "--peer-hub/--no-peer-hub", help="Whether it is another hub's account."
    ),
    admin: bool | None = typer.Option(
        None,
        "--admin/--no-admin",
        help="Make it an administrator (deletes any object it can read; audit log in the web UI) or not.",
    ),
) -> None:
    """Change an organisation's ceiling, country, sectors, peer-hub or administrator flag (audited)."""
    if ceiling is None and country is None and not sector and peer_hub is None and admin is None:
        raise InputError(
            "nothing to change: give --ceiling, --country, --sector, --peer-hub/--no-peer-hub"
            " or --admin/--no-admin"
        )
    level = None if ceiling is None else _level(ceiling, "--ceiling")
    with _open(db) as store:
        before = store.get_org(name)
        org = store.update_org(
            name,
            ceiling=level,
            country=_country(country),
            sectors=[s for s in sector if s.strip()] or None,
            peer_hub=peer_hub,
            admin=admin,
        )
    changes = [
        f"{what} {a or '-'} -> {b or '-'}"
        for what, a, b in (
            ("ceiling", before.ceiling.label, org.ceiling.label),
            ("country", before.country, org.country),
            ("sectors", ",".join(before.sectors), ",".join(org.sectors)),
            ("peer hub", "yes" if before.peer_hub else "no", "yes" if org.peer_hub else "no"),
            ("administrator", "yes" if before.admin else "no", "yes" if org.admin else "no"),
        )
        if a != b
    ]
    say(f"updated organisation {org.name}: {'; '.join(changes) or 'no change'}")


@org_app.command("remove")
def org_remove(
    name: str = typer.Argument(..., help="The organisation to remove."),
    db: str = DbOption,
    force: bool = typer.Option(
        False, "--force", help="Remove it even though objects it produced stay here without a producer."
    ),
) -> None:
    """Remove an organisation: its tokens, grants and RED-recipient entries go with it (audited).

    Refused while a peer record of the same name exists, and, without --force, while it produced objects
    held here."""
    with _open(db) as store:
        counts = store.remove_org(name, force=force)
    left = counts["objects_left_without_producer"]
    say(
        f"removed organisation {name} ({counts['tokens']} token(s), {counts['grants']} grant(s),"
        f" {counts['recipients']} RED-recipient entries"
        + (f"; {left} object version(s) kept without a producer)" if left else ")")
    )


@org_app.command("list")
def org_list(
    db: str = DbOption,
    as_json: bool = typer.Option(False, "--json", help="A JSON list (identity ids included)."),
) -> None:
    """List organisations."""
    with _open(db) as store:
        orgs = store.list_orgs()
    if as_json:
        _print_json([_org_json(o) for o in orgs])
        return
    from rich.table import Table

    table = Table("name", "country", "sectors", "ceiling", "peer hub")
    table.columns[0].no_wrap = True
    for o in orgs:
        table.add_row(
            o.name, o.country or "", ", ".join(o.sectors), o.ceiling.label, "yes" if o.peer_hub else ""
        )
    out.print(table)


def _org_json(o: Org) -> dict[str, object]:
    return {
        "name": o.name,
        "country": o.country,
        "sectors": list(o.sectors),
        "ceiling": o.ceiling.label,
        "peer_hub": o.peer_hub,
        "identity_id": o.identity_id,
    }


def _print_json(value: object) -> None:
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def _country(text: str | None) -> str | None:
    try:
        return names.country(text)
    except InputError as exc:
        raise InputError(f"--country: {exc}") from None


@token_app.command("create")
def token_create(
    db: str = DbOption,
    org: str = typer.Option(..., "--org", help="The organisation the token acts for."),
    name: str = typer.Option("", "--name", help="What the token is for (shown by 'token list')."),
    expires_days: int | None = typer.Option(
        None, "--expires-days", min=1, max=3650, help="The token stops working after N days."
    ),
    token_file: Path | None = typer.Option(
        None, "--out", help="Write the token to this new file (mode 0600) instead of printing it."
    ),
) -> None:
    """Create an API token ``kzn_<key-id>_<secret>``; shown once (only its secret's hash is stored)."""
    from kizuna.clikit import write_secret_file
    from kizuna.hub.auth import hash_token, new_token
    from kizuna.stix.ids import to_us, utc_now

    if len(name) > 100 or any(ord(c) < 0x20 for c in name):
        raise InputError("--name: at most 100 printable characters")
    token = new_token()
    expires_us = None if expires_days is None else to_us(utc_now()) + expires_days * 86_400_000_000
    with _open(db) as store:
        store.get_org(org)
        if token_file is not None:
            write_secret_file(token_file, token)
        try:
            info = store.add_token(org, hash_token(token), name=name, expires_us=expires_us)
        except BaseException:
            if token_file is not None:
                token_file.unlink(missing_ok=True)
            raise
    if token_file is None:
        print(token)
    expiry = "" if expires_us is None else f", expires {format_us(expires_us)[:10]}"
    where = "" if token_file is None else f" in {token_file}"
    err.print(f"created token {info.key_id} for {org}{expiry}{where}", markup=False, soft_wrap=True)


@token_app.command("revoke")
def token_revoke(
    key_id: str | None = typer.Argument(None, help="The key id of the token (see 'token list')."),
    db: str = DbOption,
    org: str | None = typer.Option(None, "--org", help="Instead: revoke every token of this organisation."),
) -> None:
    """Revoke one token by its key id (or, with --org, every token of an organisation)."""
    if (key_id is None) == (org is None):
        raise InputError("give a token's key id, or --org ORG to revoke all of an organisation's tokens")
    with _open(db) as store:
        if key_id is not None:
            info = store.revoke_token(key_id)
            err.print(f"revoked token {info.key_id} of {info.org_name}", markup=False, soft_wrap=True)
            return
        assert org is not None
        n = store.revoke_tokens(org)
    err.print(f"revoked {n} token(s) of {org}", markup=False, soft_wrap=True)


@token_app.command("list")
def token_list(db: str = DbOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """List tokens: key id, organisation, name, created, last used, expiry (never a secret or hash)."""
    with _open(db) as store:
        tokens = store.list_tokens()
    rows = [
        {
            "key_id": t.key_id,
            "org": t.org_name,
            "name": t.name,
            "created": t.created,
            "last_used": t.last_used,
            "expires": None if t.expires_us is None else format_us(t.expires_us),
            "format": "legacy" if t.legacy else "kzn_<key-id>_<secret>",
        }
        for t in tokens
    ]
    if as_json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    widths = (16, 12, 10, 10, 16, 10)
    heads = ("key id", "org", "name", "created", "last used", "expires")
    lines = [_row(heads, widths)]
    for r in rows:
        last = str(r["last_used"] or "-")[:16].replace("T", " ")
        lines.append(
            _row(
                (
                    str(r["key_id"]),
                    str(r["org"]),
                    str(r["name"] or "-"),
                    str(r["created"])[:10],
                    last,
                    str(r["expires"] or "never")[:10],
                ),
                widths,
            )
        )
    print("\n".join(lines))


def _row(cells: tuple[str, ...], widths: tuple[int, ...]) -> str:
    """One line of a plain table (each cell cut to its width with '~'), at most 80 columns."""
    cut = [c if len(c) <= w else c[: w - 1] + "~" for c, w in zip(cells, widths, strict=True)]
    return " ".join(c.ljust(w) for c, w in zip(cut, widths, strict=True)).rstrip()


@collection_app.command("add")
def collection_add(
    db: str = DbOption,
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
    db: str = DbOption,
    read: str | None = typer.Option(None, "--read", help="Organisations that may now read: ORG,ORG."),
    write: str | None = typer.Option(None, "--write", help="Organisations that may now write: ORG,ORG."),
) -> None:
    """Give organisations (e.g. a new partner hub's account) access to an existing collection."""
    with _open(db) as store:
        c = store.grant_access(collection, readers=_names(read), writers=_names(write))
    say(f"granted on {c.id}: read {_listed(read)}, write {_listed(write)}")


@collection_app.command("revoke")
def collection_revoke(
    collection: str = typer.Argument(..., help="Collection id or alias."),
    db: str = DbOption,
    read: str | None = typer.Option(None, "--read", help="Organisations that may no longer read: ORG,ORG."),
    write: str | None = typer.Option(
        None, "--write", help="Organisations that may no longer write: ORG,ORG."
    ),
) -> None:
    """Take back read and/or write access to a collection (audited; the reverse of 'grant')."""
    with _open(db) as store:
        c = store.revoke_access(collection, readers=_names(read), writers=_names(write))
        partners = [n for n in {*_names(read), *_names(write)} if store.get_org(n).peer_hub]
    say(f"revoked on {c.id}: read {_listed(read)}, write {_listed(write)}")
    for name in sorted(partners):
        say(f"kizuna: note: {name} is another hub's account: its sync with this collection stops working")


@collection_app.command("update")
def collection_update(
    collection: str = typer.Argument(..., help="Collection id or alias."),
    db: str = DbOption,
    title: str | None = typer.Option(None, "--title", help="New title."),
    alias: str | None = typer.Option(None, "--alias", help="New alias (the id never changes)."),
    no_alias: bool = typer.Option(False, "--no-alias", help="Remove the alias."),
    description: str | None = typer.Option(None, "--description", help="New description."),
    default_tlp: str | None = typer.Option(
        None, "--default-tlp", help=f"TLP of unmarked objects stored from now on: {_LEVELS}."
    ),
    force: bool = typer.Option(
        False, "--force", help="Change the alias even though other hubs' accounts may use it in URLs."
    ),
) -> None:
    """Change a collection's title, alias, description or default TLP (audited)."""
    if alias is not None and no_alias:
        raise InputError("give --alias or --no-alias, not both")
    if title is None and alias is None and not no_alias and description is None and default_tlp is None:
        raise InputError(
            "nothing to change: give --title, --alias, --no-alias, --description or --default-tlp"
        )
    level = None if default_tlp is None else _level(default_tlp, "--default-tlp")
    with _open(db) as store:
        c = store.update_collection(
            collection,
            title=title,
            alias=alias,
            clear_alias=no_alias,
            description=description,
            default_tlp=level,
            force=force,
        )
    say(f"updated collection {c.id} (title {c.title!r}, alias {c.alias or '-'}, default {c.default_tlp})")


@collection_app.command("remove")
def collection_remove(
    collection: str = typer.Argument(..., help="Collection id or alias."),
    db: str = DbOption,
    force: bool = typer.Option(False, "--force", help="Remove it with the objects it holds."),
) -> None:
    """Remove a collection and its grants (audited).

    Refused while a peer flow uses it, and, without --force, while it holds objects."""
    with _open(db) as store:
        counts = store.remove_collection(collection, force=force)
    say(
        f"removed collection {collection}"
        f" ({counts['objects']} object version(s), {counts['grants']} grant(s))"
    )


@collection_app.command("list")
def collection_list(
    db: str = DbOption,
    as_json: bool = typer.Option(False, "--json", help="A JSON list (descriptions and grants included)."),
) -> None:
    """List collections with their alias and default TLP."""
    with _open(db) as store:
        collections = [(c, store.grants_on(c)) for c in store.list_collections()]
    if as_json:
        _print_json(
            [
                {
                    "id": c.id,
                    "title": c.title,
                    "alias": c.alias,
                    "description": c.description,
                    "default_tlp": c.default_tlp.label,
                    "read": [n for n, g in grants if policy.may_read_collection(g)],
                    "write": [n for n, g in grants if policy.may_write(g)],
                }
                for c, grants in collections
            ]
        )
        return
    from rich.table import Table

    table = Table("id", "alias", "title", "default TLP")
    table.columns[0].no_wrap = True
    table.columns[1].no_wrap = True
    for c, _grants in collections:
        table.add_row(c.id, c.alias or "", c.title, c.default_tlp.label)
    out.print(table)


def _listed(text: str | None) -> str:
    return ",".join(_names(text)) or "-"


@audit_app.command("list")
def audit_list(
    db: str = DbOption,
    limit: int = typer.Option(20, "--limit", min=1, help="The last N records."),
    action: str | None = typer.Option(None, "--action", help="Only this action, e.g. objects.receive."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line, detail included."),
) -> None:
    """Show the last audit records (who did what, when; refusals and their reasons are in the detail).

    Each record is a line (sequence number, time to the second, actor, action) with its detail below,
    cut to the terminal's width; --json prints every record whole."""
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
    # one line per record and its detail indented below, cut to the width (the whole detail: --json)
    width = max(40, out.width)
    for r in records:
        out.print(f"{r.seq:>6}  {r.at[:19]}Z  {r.actor}  {r.action}", soft_wrap=True)
        detail = r.detail if len(r.detail) <= width - 8 else r.detail[: width - 11] + "..."
        out.print(f"        {detail}", soft_wrap=True)


@audit_app.command("verify")
def audit_verify(db: str = DbOption) -> None:
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
    ctx: typer.Context,
    db: str = DbOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8000, "--port"),
    sync_every: float | None = typer.Option(None, "--sync-every", help="Also sync with peers every SECONDS."),
    follow_peers: bool = typer.Option(
        False,
        "--follow-peers",
        help="Also keep every peer flow current continuously (streams; one follower per hub).",
    ),
    max_streams_per_org: int = typer.Option(
        16, "--max-streams-per-org", min=1, help="Change streams one organisation may hold open at once."
    ),
    follow_lease_s: float = typer.Option(
        30.0,
        "--follow-lease-s",
        min=1.0,
        help="With --follow-peers or --sync-every: seconds after which another process (another worker or"
        " host) takes over from one that died.",
    ),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="TLS certificate chain (PEM)."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="TLS private key (PEM, mode 0600)."),
    behind_proxy: bool = typer.Option(
        False, "--behind-proxy", help="TLS ends at a reverse proxy (needs --trusted-proxy)."
    ),
    trusted_proxy: list[str] = typer.Option(
        [], "--trusted-proxy", help="Address of the proxy whose X-Forwarded-* headers count (repeatable)."
    ),
    log_format: str = typer.Option("text", "--log-format", help="Log lines as json or text."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    metrics: bool = typer.Option(False, "--metrics", help="Serve Prometheus metrics at /metrics."),
    metrics_token_file: Path | None = typer.Option(
        None, "--metrics-token-file", help="With --metrics: the bearer token scrapers send (file, 0600)."
    ),
    auth_failures: int = typer.Option(
        10, "--auth-failures", min=1, help="Failed authentications a source or name may make in 5 minutes."
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=64,
        help="Worker processes sharing one listening socket (scale-out: over PostgreSQL; SQLite works too).",
    ),
    check_processes: int | None = typer.Option(
        None,
        "--check-processes",
        min=0,
        max=64,
        help="Helper processes that validate large envelopes beside the request (default: 1 on a machine"
        " with 2 or more cores and one worker, else 0).",
    ),
    listen_fd: int | None = typer.Option(None, "--listen-fd", hidden=True),
) -> None:
    """Serve TAXII 2.1 (discovery at /taxii2/, API root at /api/) and its change stream, the web UI,
    /healthz and /metrics.

    A non-loopback --host needs --tls-cert and --tls-key, or --behind-proxy with --trusted-proxy.
    """
    from kizuna.clikit import read_token_file

    if sync_every is not None and follow_peers:
        raise InputError("--sync-every and --follow-peers: choose one (following keeps every flow current)")
    options = ServeOptions.check(
        host,
        tls_cert,
        tls_key,
        behind_proxy,
        trusted_proxy,
        log_format,
        log_level,
        metrics,
        metrics_token_file,
    )
    metrics_token = read_token_file(metrics_token_file) if metrics_token_file is not None else None
    store = _open(db) if listen_fd is None else _open_patiently(db)
    if store.count_orgs_with_tokens() == 0:
        store.close()
        raise KizunaError(
            f"{db}: no organisation has a token; create one with 'kizuna hub token create' before serving"
        )
    if workers > 1 and listen_fd is None:
        store.close()
        from kizuna.hub.workers import supervise

        raise typer.Exit(supervise(_worker_args(ctx), db, host, port, workers))
    from kizuna.hub import logs

    logs.configure(log_format, log_level)
    stop = threading.Event()
    background: list[threading.Thread] = []  # waited for (briefly) before the store closes
    if sync_every is not None:
        from kizuna.hub.federation.sync import Syncer

        syncer = Syncer(store, store.keys)
        threading.Thread(
            target=syncer.run_leased,
            args=(sync_every, stop),
            kwargs={
                "on_pass": _report_pass,
                "holder": f"{socket.gethostname()}:{os.getpid()}",
                "ttl_s": follow_lease_s,
            },
            name="kizuna-sync",
            daemon=True,
        ).start()
    if follow_peers:
        from kizuna.hub.federation.follow import Follower, FollowOptions

        follower = Follower(
            store, store.keys, options=FollowOptions(lease_ttl_s=follow_lease_s), report=_report_follow
        )
        following = threading.Thread(target=follower.run, args=(stop,), name="kizuna-follow", daemon=True)
        following.start()
        background.append(following)
    try:
        serve(
            store,
            host=host,
            port=port,
            options=options,
            metrics_token=metrics_token,
            auth_failures=auth_failures,
            max_streams_per_org=max_streams_per_org,
            stop=stop,
            background=background,
            fd=listen_fd,
            check_processes=_check_processes(check_processes, listen_fd),
        )
    finally:
        stop.set()


def _check_processes(given: int | None, listen_fd: int | None) -> int:
    """``--check-processes``, or its default: one helper where a core is free for it (not in the workers of
    ``--workers N``, which already use the cores)."""
    if given is not None:
        return given
    return 1 if listen_fd is None and (os.cpu_count() or 1) >= 2 else 0


def _worker_args(ctx: typer.Context) -> list[str]:
    """This ``hub serve`` command's options as a worker is given them (less --db, which a worker gets in
    its environment, and --workers)."""
    args: list[str] = []
    for param in ctx.command.params:
        if param.param_type_name != "option" or param.name in ("db", "workers", "listen_fd"):
            continue
        value, opt = ctx.params.get(param.name or ""), param.opts[0]
        if getattr(param, "is_flag", False):
            args += [opt] if value else []
        elif param.multiple:
            for v in value or ():
                args += [opt, str(v)]
        elif value is not None:
            args += [opt, str(value)]
    return args


_LOOPBACK = ("127.", "::1", "localhost")


@dataclass(frozen=True)
class ServeOptions:
    """How ``hub serve`` listens: TLS files, or a trusted reverse proxy."""

    tls_cert: Path | None = None
    tls_key: Path | None = None
    trusted_proxies: tuple[str, ...] = ()

    @classmethod
    def check(
        cls,
        host: str,
        tls_cert: Path | None,
        tls_key: Path | None,
        behind_proxy: bool,
        trusted_proxy: list[str],
        log_format: str,
        log_level: str,
        metrics: bool,
        metrics_token_file: Path | None,
    ) -> ServeOptions:
        if log_format not in ("json", "text"):
            raise InputError(f"--log-format: {log_format!r} is not json or text")
        if log_level.lower() not in ("debug", "info", "warning", "error"):
            raise InputError(f"--log-level: {log_level!r} is not debug, info, warning or error")
        if metrics != (metrics_token_file is not None):
            raise InputError("--metrics needs --metrics-token-file (and that option needs --metrics)")
        if (tls_cert is None) != (tls_key is None):
            raise InputError("give both --tls-cert and --tls-key")
        for p in (tls_cert, tls_key):
            if p is not None and not p.is_file():
                raise NotFound(f"{p}: file not found")
        if tls_key is not None and stat.S_IMODE(tls_key.stat().st_mode) & 0o077:
            raise InputError("the TLS key must be readable by its owner only (chmod 600)", path=str(tls_key))
        if behind_proxy != bool(trusted_proxy):
            raise InputError("--behind-proxy needs --trusted-proxy ADDR (the proxy's address), and back")
        loopback = host.startswith(_LOOPBACK) or host == "[::1]"
        if not loopback and tls_cert is None and not behind_proxy:
            raise InputError(
                f"--host {host} is not a loopback address: serve it with --tls-cert and --tls-key, or put it"
                " behind a TLS proxy (--behind-proxy --trusted-proxy ADDR)"
            )
        return cls(tls_cert, tls_key, tuple(trusted_proxy))


def serve(
    store: AnyStore,
    *,
    host: str,
    port: int,
    title: str | None = None,
    options: ServeOptions | None = None,
    metrics_token: str | None = None,
    auth_failures: int = 10,
    max_streams_per_org: int = 16,
    stop: threading.Event | None = None,
    background: Sequence[threading.Thread] = (),
    fd: int | None = None,
    check_processes: int = 0,
) -> None:
    """Serve ``store`` on ``host:port``, or on the inherited listening socket ``fd`` (a worker)."""
    import uvicorn

    from kizuna.hub.app import create_app
    from kizuna.hub.auth import AuthLimits
    from kizuna.hub.settings import HubSettings

    opts = options or ServeOptions()
    tls = opts.tls_cert is not None
    settings = HubSettings(
        title=title or store.title(),
        hsts=tls,
        metrics_token=metrics_token,
        auth_limits=AuthLimits(failures=auth_failures, global_failures=max(1000, 100 * auth_failures)),
        max_streams_per_org=max_streams_per_org,
        check_processes=check_processes,
    )
    app = create_app(settings, store)
    watch = store.watch_changes()  # streams also wake for commits by other processes on this file
    collector.settle()  # start-up state frozen; collections tuned for requests of many objects
    scheme = "https" if tls else "http"
    err.print(
        ("" if fd is None else f"worker {os.getpid()}: ")
        + f"serving TAXII 2.1 at {scheme}://{host}:{port}/taxii2/ (API root {scheme}://{host}:{port}/api/,"
        f" web UI {scheme}://{host}:{port}/ui/)",
        markup=False,
        soft_wrap=True,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        fd=fd,
        log_level="warning",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        ssl_certfile=None if opts.tls_cert is None else str(opts.tls_cert),
        ssl_keyfile=None if opts.tls_key is None else str(opts.tls_key),
        proxy_headers=bool(opts.trusted_proxies),
        forwarded_allow_ips=list(opts.trusted_proxies) or None,
        server_header=False,
    )

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # end the open change streams first, so that the graceful shutdown has nothing to wait for
            if stop is not None:
                stop.set()
            store.changes().close()
            await super().shutdown(sockets)

    # uvicorn shuts down gracefully on SIGTERM and then re-raises the signal; with this handler in place
    # that ends in an exception, so every ``finally`` (closing the store, removing the demo's files) runs.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        Server(config).run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if stop is not None:
            stop.set()
        for thread in background:
            thread.join(timeout=5)  # the follower lets go of its lease before the store closes
        watch.close()
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
    db: str = DbOption,
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
    sighter: str = typer.Option(
        "hub",
        "--sighter",
        help="How sightings of its indicators sent home to it name who saw them: org|hub|anonymous.",
    ),
) -> None:
    """Record a peer hub and what flows each way (its credential is stored encrypted)."""
    from kizuna.clikit import read_token_file
    from kizuna.hub.logs import redact

    level = _level(max_tlp, "--max-tlp")
    try:
        policy.check_agreement_tlp(level)
    except InputError as exc:
        raise InputError(f"--max-tlp: {exc}; use clear, green or amber") from None
    if not re.match(r"^https?://", url):
        raise InputError(f"--url: {redact(url)!r} is not an http(s) URL")
    if re.match(r"^https?://[^/@]*@", url):
        raise InputError("--url must not carry credentials (user:password@); give them with --token-file")
    policy.check_sighter(sighter)
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
            sighter=sighter,
        )
    again = f", its objects go on to {', '.join(_names(reshare))} up to {onward}" if reshare else ""
    err.print(f"added peer {name} ({len(pull)} pull, {len(push)} push, max {level}{again})")


@peer_app.command("list")
def peer_list(
    db: str = DbOption, as_json: bool = typer.Option(False, "--json", help="A JSON list, for scripts.")
) -> None:
    """Show each peer with its agreement, its flows, their cursors and totals, last success and last error.

    One block per peer, each flow below it; lines wrap between words, never inside an id or a URL."""
    with _open(db) as store:
        peers = store.list_peers()
        aliases = {c.id: c.alias for c in store.list_collections()}
    if as_json:
        _print_json([_peer_json(p) for p in peers])
        return
    width = max(40, out.width)
    lines: list[str] = []
    for p in peers:
        lines += _wrapped(f"{p.name}  {p.url}", "", width)
        lines += _wrapped(
            f"max TLP {p.max_tlp.label}; types {', '.join(p.types) or 'all'}; user {p.user or '- (Bearer)'}",
            "  ",
            width,
        )
        lines += _wrapped(f"last success {p.last_success or '-'}", "  ", width)
        lines += _wrapped(f"last error {p.last_error or '-'}", "  ", width)
        for f in p.flows:
            local = f.local_collection + (
                f" ({aliases[f.local_collection]})" if aliases.get(f.local_collection) else ""
            )
            source, target = (
                (f.remote_collection, local) if f.direction == "pull" else (local, f.remote_collection)
            )
            lines += _wrapped(f"{f.direction} from {source}", "  ", width, "       ")
            lines += _wrapped(f"into {target}", "       ", width)
            cursor = "-" if f.cursor is None else _cursor_text(f.cursor)
            lines += _wrapped(
                f"cursor {cursor}; moved {f.transferred}; refused {f.refused}", "       ", width
            )
            lines += _wrapped(f"last success {f.last_success or '-'}", "       ", width)
            lines += _wrapped(f"last error {f.last_error or '-'}", "       ", width)
        if any(f.direction == "pull" for f in p.flows):
            cursor = "-" if p.home.cursor is None else _cursor_text(p.home.cursor)
            lines += _wrapped(f"sightings home (sighter: {p.sighter})", "  ", width)
            lines += _wrapped(
                f"cursor {cursor}; sent {p.home.sent}; held back {p.home.held}", "       ", width
            )
            if p.home.waiting:
                lines += _wrapped(f"waiting {p.home.waiting}", "       ", width)
        if not p.flows:
            lines.append("  no flows (this record holds this hub's side of the agreement only)")
        lines.append("")
    for line in lines[:-1] if lines else ["no peers"]:
        out.print(line, soft_wrap=True)


def _wrapped(text: str, indent: str, width: int, more: str | None = None) -> list[str]:
    """``text`` wrapped to ``width`` between words (ids and URLs are never split)."""
    import textwrap

    return textwrap.wrap(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent + "  " if more is None else more,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent]


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
        "sighter": p.sighter,
        "sightings_home": {
            "cursor": None if p.home.cursor is None else _cursor_text(p.home.cursor),
            "sent": p.home.sent,
            "held_back": p.home.held,
            "waiting": p.home.waiting,
        },
        "flows": [
            {
                "direction": f.direction,
                "remote_collection": f.remote_collection,
                "local_collection": f.local_collection,
                "cursor": None if f.cursor is None else _cursor_text(f.cursor),
                "transferred": f.transferred,
                "refused": f.refused,
                "last_refusals": [{"id": i, "reason": why} for i, why in f.last_refusals],
                "last_success": f.last_success,
                "last_error": f.last_error,
            }
            for f in p.flows
        ],
    }


@peer_app.command("remove")
def peer_remove(name: str = typer.Argument(...), db: str = DbOption) -> None:
    """Forget a peer (its flows and cursors go with it; objects already received stay)."""
    with _open(db) as store:
        store.remove_peer(name)
    err.print(f"removed peer {name}")


def _report_pass(results: list[PeerResult]) -> None:
    for r in results:
        if not r.ok:
            err.print(f"kizuna: sync with {r.peer} failed: {r.summary()}", markup=False, soft_wrap=True)


def _report_follow(peer: str, message: str) -> None:
    prefix = f"kizuna: follow {peer}: " if peer else "kizuna: follow: "
    err.print(prefix + message, markup=False, soft_wrap=True)


@hub_app.command("sync")
def hub_sync(
    db: str = DbOption,
    peer: list[str] = typer.Option([], "--peer", help="Only this peer (repeatable)."),
    once: bool = typer.Option(False, "--once", help="One full pass, then exit (non-zero if a peer failed)."),
    every: float = typer.Option(60.0, "--every", help="Seconds between passes when not --once."),
    follow: bool = typer.Option(
        False,
        "--follow",
        help="Keep every flow current continuously (a kizuna peer's stream; polling others) until stopped.",
    ),
    poll_every: float = typer.Option(
        5.0, "--poll-every", min=0.1, help="With --follow: seconds between polls of a peer without a stream."
    ),
    follow_lease_s: float = typer.Option(
        30.0,
        "--follow-lease-s",
        min=1.0,
        help="With --follow: seconds after which another process takes over from a follower that died.",
    ),
    page_size: int = typer.Option(1000, "--page-size", min=1, max=10_000, help="Objects per request."),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="With --once: also print each peer's flows as JSON on stdout (as peer list --json).",
    ),
) -> None:
    """Sync with peer hubs: pull and push every flow, following next until more is false; send sightings
    of peers' indicators home."""
    if follow and once:
        raise InputError("--follow and --once: choose one")
    collector.settle()  # a pass stores pages of many objects, as a server's writes do
    if follow:
        _follow(db, peer, poll_every, page_size, follow_lease_s)
        return
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
            disable=not err.is_terminal,  # in a pipe or a log: the result lines only, no spinner frames
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
        local_names = {c.id: c.alias or c.id for c in store.list_collections()}
    if as_json:
        _print_json([r.as_json() for r in results])
    for r in results:
        moved = sum(f.transferred for f in r.flows)
        refused = sum(f.refused for f in r.flows)
        home = ""
        if r.home.sent or r.home.held or r.home.waiting:
            home = f"; sightings home: {r.home.sent} sent, {r.home.held} held back"
            home += f", {r.home.waiting}" if r.home.waiting else ""
        if r.ok:
            say(f"{r.peer}: ok ({moved} objects moved, {refused} refused{home})")
        else:
            say(f"kizuna: sync with {r.peer} failed: {r.summary()}")
        for f in r.flows:
            if r.ok or f.error is None:  # a failed flow's error is on its peer's line already
                say("  " + _flow_line(f, local_names.get(f.local_collection, f.local_collection)))
    if any(not r.ok for r in results):
        raise typer.Exit(1)


def _flow_line(f: FlowResult, local: str) -> str:
    """One flow of a sync pass: ``pull jp-uk <- 4f01...: 3 objects, 1 refused (reason: 1)``."""
    arrow = "<-" if f.direction == "pull" else "->"
    remote = f.remote_collection[:8] + "..." if len(f.remote_collection) > 11 else f.remote_collection
    line = f"{f.direction} {local} {arrow} {remote}: {f.transferred} objects, {f.refused} refused"
    if f.reasons:
        line += " (" + "; ".join(f"{why}: {n}" for why, n in f.reasons.most_common(5)) + ")"
    return line


def _follow(db: str, peers: list[str], poll_every: float, page_size: int, lease_s: float) -> None:
    """``hub sync --follow``: follow until SIGINT or SIGTERM."""
    from kizuna.hub.federation.follow import Follower, FollowOptions

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    with _open(db) as store:
        watch = store.watch_changes()  # local writes by the server process wake the push flows
        follower = Follower(
            store,
            store.keys,
            page_size=page_size,
            options=FollowOptions(poll_s=poll_every, lease_ttl_s=lease_s),
            report=_report_follow,
        )
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        err.print(f"following the peers of {db} (Ctrl-C stops)")
        try:
            follower.run(stop, peers)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            watch.close()


def demo(
    port: int = typer.Option(8000, "--port"),
    db: str | None = typer.Option(
        None,
        "--db",
        help="An empty PostgreSQL database (postgresql:// DSN) to build the demo in (default: a temporary"
        " SQLite file). It is left in place on exit.",
    ),
) -> None:
    """A ready demo hub: UK and Japanese agencies, a CNI operator, collections and ATT&CK for ICS."""
    from kizuna.hub.demo import build_demo, next_steps
    from kizuna.hub.store.backends import check_db
    from kizuna.hub.store.postgres import is_dsn

    if db is not None and not is_dsn(check_db(db)):
        raise InputError("--db: the demo takes a postgresql:// DSN (without it, a temporary SQLite file)")
    hub = build_demo(dsn=db)
    base = f"http://127.0.0.1:{port}"
    where = (
        f"temporary database {hub.db_path}, deleted on exit"
        if db is None
        else f"database {hub.db_path}, kept; its key file is deleted on exit"
    )
    lines = [
        f"kizuna demo hub ({where})",
        f"TAXII discovery: {base}/taxii2/",
        f"API root: {base}/api/",
        f"web UI: {base}/ui/ (log in with a token below)",
        *(f"token {name}: {token} (in {hub.token_files[name]})" for name, token in hub.tokens.items()),
        *(f"collection {cid}: {title}" for title, cid in hub.collections.items()),
        "",
        *next_steps(hub, base),
        "",
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
