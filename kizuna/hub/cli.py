"""``kizuna hub ...`` and ``kizuna demo``: set up a hub, serve it, verify its audit log.

Scripts outside the project rely on these exact forms (see docs/quickstart.md). ``--db`` may also come from
the environment variable ``KIZUNA_DB``.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer

from kizuna.clikit import err, out
from kizuna.errors import InputError, KizunaError
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.markings import LEVEL_CHOICES, TLP, parse_level

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
hub_app.add_typer(org_app, name="org")
hub_app.add_typer(token_app, name="token")
hub_app.add_typer(collection_app, name="collection")
hub_app.add_typer(audit_app, name="audit")

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
    SQLiteStore.create(db, title=title).close()
    err.print(f"created hub database {db}")


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
        )
    err.print(f"added organisation {org.name} (ceiling {org.ceiling}, identity {org.identity_id})")


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


@collection_app.command("list")
def collection_list(db: Path = DbOption) -> None:
    """List collections with their default TLP."""
    from rich.table import Table

    with _open(db) as store:
        table = Table("id", "title", "alias", "default TLP")
        for c in store.list_collections():
            table.add_row(c.id, c.title, c.alias or "", c.default_tlp.label)
    out.print(table)


@audit_app.command("verify")
def audit_verify(db: Path = DbOption) -> None:
    """Check the audit log's hash chain; exit 1 and name the first bad record if it is broken."""
    from kizuna.hub.audit import verify_chain

    with _open(db) as store:
        report = verify_chain(store.audit_records())
    if not report.ok:
        err.print(
            f"kizuna: audit chain broken at record {report.first_bad_seq}: {report.reason}", markup=False
        )
        raise typer.Exit(1)
    out.print(f"audit chain intact: {report.records} records")


@hub_app.command("serve")
def hub_serve(
    db: Path = DbOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8000, "--port"),
) -> None:
    """Serve TAXII 2.1 (discovery at /taxii2/, API root at /api/)."""
    store = _open(db)
    if store.count_orgs_with_tokens() == 0:
        store.close()
        raise KizunaError(
            f"{db}: no organisation has a token; create one with 'kizuna hub token create' before serving"
        )
    serve(store, host=host, port=port)


def serve(store: SQLiteStore, *, host: str, port: int, title: str | None = None) -> None:
    import uvicorn

    from kizuna.hub.taxii.app import HubSettings, create_app

    app = create_app(HubSettings(title=title or store.title()), store)
    err.print(f"serving TAXII 2.1 at http://{host}:{port}/taxii2/ (API root http://{host}:{port}/api/)")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        store.close()


def demo(port: int = typer.Option(8000, "--port")) -> None:
    """A ready demo hub: UK and Japanese agencies, a CNI operator, collections and ATT&CK for ICS."""
    from kizuna.hub.demo import build_demo

    hub = build_demo()
    base = f"http://127.0.0.1:{port}"
    lines = [
        f"kizuna demo hub (temporary database {hub.db_path}, deleted on exit)",
        f"TAXII discovery: {base}/taxii2/",
        f"API root: {base}/api/",
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
