"""Which store a ``--db`` value names: a SQLite file, or a PostgreSQL database given as a DSN
(``postgresql://user@host/db``, or over a Unix socket ``postgresql:///kizuna?host=/run/postgresql``).

Only composition roots (the CLI, the demo, the ingest commands) call these. A DSN that carries a password is
accepted only from the environment (``KIZUNA_DB``) or a 0600 file (``--db-file FILE``), never from the
command line, where ``ps`` shows it to every user of the host. A PostgreSQL hub's key file is named by
``KIZUNA_KEY_FILE``, else it lies in this account's state directory (:func:`default_key_file`); it must stay
outside the database: whoever can write the database alone must not be able to rewrite the audit chain. Its
audit checkpoint file lies beside it (``hub.key`` -> ``hub.audit``).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from kizuna.errors import InputError
from kizuna.hub.store.postgres import PostgresStore, is_dsn
from kizuna.hub.store.postgres.store import checkpoint_path_for
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.ids import Clock, utc_now

AnyStore = SQLiteStore | PostgresStore

KEY_FILE_ENV = "KIZUNA_KEY_FILE"


def _conninfo(dsn: str) -> dict[str, object]:
    """The parts of a DSN (InputError when it is not one)."""
    import psycopg

    try:
        return dict(psycopg.conninfo.conninfo_to_dict(dsn))
    except psycopg.ProgrammingError:
        raise InputError("--db: not a valid PostgreSQL DSN") from None


def _has_password(dsn: str) -> bool:
    return bool(_conninfo(dsn).get("password"))


def check_db(db: str | Path) -> str:
    """The ``--db`` value, refused when it is a DSN with a password that did not come from ``KIZUNA_DB``."""
    text = os.fspath(db)
    if is_dsn(text) and _has_password(text) and os.environ.get("KIZUNA_DB") != text:
        raise InputError(
            "--db: a DSN carrying a password is refused on the command line (ps shows it to every user);"
            " put it in KIZUNA_DB or a 0600 file named by --db-file FILE, or use a password file (~/.pgpass)"
            " or peer authentication"
        )
    return text


DB_FILE_OPTION = "--db-file"


def _read_db_file(name: str) -> str:
    path = Path(name)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{DB_FILE_OPTION} {name}: not a regular file")
        if info.st_mode & 0o077:
            raise InputError(
                f"{DB_FILE_OPTION} {name}: readable by others (mode {stat.S_IMODE(info.st_mode):04o});"
                f" it may hold a password: chmod 600 {name}"
            )
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise InputError(f"{DB_FILE_OPTION} {name}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{DB_FILE_OPTION} {name}: {exc.strerror or exc}") from None
    if len(lines) != 1:
        raise InputError(f"{DB_FILE_OPTION} {name}: expected one line (the database), found {len(lines)}")
    return lines[0]


def take_db_file(args: Sequence[str]) -> list[str]:
    """``args`` without ``--db-file FILE`` (or ``--db-file=FILE``); the database named in FILE (a 0600 file
    of one line: a DSN, which may carry a password, or a SQLite path) becomes ``KIZUNA_DB`` for this process
    and the processes it starts, as if it had come from the environment. Refused beside ``--db``."""
    out: list[str] = []
    found: str | None = None
    rest = list(args)
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--":
            out += rest[i:]
            break
        if arg == DB_FILE_OPTION or arg.startswith(DB_FILE_OPTION + "="):
            if arg == DB_FILE_OPTION:
                if i + 1 >= len(rest):
                    raise InputError(f"{DB_FILE_OPTION}: give the file that names the database")
                value, i = rest[i + 1], i + 2
            else:
                value, i = arg.split("=", 1)[1], i + 1
            if found is not None:
                raise InputError(f"{DB_FILE_OPTION}: given twice")
            found = value
            continue
        out.append(arg)
        i += 1
    if found is None:
        return out
    if any(a == "--db" or a.startswith("--db=") for a in out[: out.index("--") if "--" in out else None]):
        raise InputError(f"give --db or {DB_FILE_OPTION}, not both")
    os.environ["KIZUNA_DB"] = _read_db_file(found)
    return out


def default_key_file(dsn: str) -> Path | None:
    """Where a PostgreSQL hub's key file lies when ``KIZUNA_KEY_FILE`` names none: in this account's state
    directory (``$XDG_STATE_HOME/kizuna``, else ``~/.local/state/kizuna``), one file per database server,
    database and ``options`` (a ``search_path`` names another hub): ``DBNAME-HASH.key``. Every command of
    this account on this host finds there the key that ``kizuna hub init`` made; workers on other hosts
    need ``KIZUNA_KEY_FILE`` and a copy. None when the account has no home directory."""
    info = _conninfo(dsn)
    env = os.environ
    host = str(info.get("host") or info.get("hostaddr") or env.get("PGHOST") or "(default socket)")
    port = str(info.get("port") or env.get("PGPORT") or "5432")
    user = str(info.get("user") or env.get("PGUSER") or "")
    dbname = str(info.get("dbname") or env.get("PGDATABASE") or user or "(default)")
    state = env.get("XDG_STATE_HOME")
    try:
        base = Path(state) if state and os.path.isabs(state) else Path.home() / ".local" / "state"
    except RuntimeError:  # no home directory to be found
        return None
    options = str(info.get("options") or env.get("PGOPTIONS") or "")  # a search_path: another hub
    tag = hashlib.sha256("\0".join((host, port, dbname, options)).encode()).hexdigest()[:12]
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in dbname)[:60] or "db"
    return base / "kizuna" / f"{name}-{tag}.key"


def key_file(db: str, *, creating: bool = False) -> Path:
    """The key file of the PostgreSQL hub ``db``: ``KIZUNA_KEY_FILE``, else :func:`default_key_file`
    (its directory made, mode 0700, when ``creating``)."""
    value = os.environ.get(KEY_FILE_ENV)
    if value:
        return Path(value)
    path = default_key_file(db)
    if path is None:
        raise InputError(
            f"a PostgreSQL hub keeps its key file outside the database and this account has no home"
            f" directory to keep it in: set {KEY_FILE_ENV}=PATH (created by 'kizuna hub init', mode 0600)"
        )
    if creating:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"{path.parent}: cannot make the key file's directory ({exc.strerror});"
                f" set {KEY_FILE_ENV}=PATH"
            ) from None
    elif not path.exists():
        raise InputError(
            f"no key file for this PostgreSQL hub at {path} (where 'kizuna hub init' keeps it when"
            f" {KEY_FILE_ENV} is not set): set {KEY_FILE_ENV}=PATH to the hub's key file"
        )
    return path


def open_store(db: str | Path, *, clock: Clock = utc_now) -> AnyStore:
    text = check_db(db)
    if is_dsn(text):
        return PostgresStore.open(text, key_file=key_file(text), clock=clock)
    return SQLiteStore.open(Path(text), clock=clock)


def create_store(db: str | Path, *, title: str, clock: Clock = utc_now) -> tuple[AnyStore, str]:
    """A new hub, and a sentence saying what was created where."""
    text = check_db(db)
    if is_dsn(text):
        kf = key_file(text, creating=True)
        pg = PostgresStore.create(text, key_file=kf, title=title, clock=clock)
        return pg, (
            f"created hub database {pg.path}, its key file {kf} and its audit checkpoint file"
            f" {checkpoint_path_for(kf)} (mode 0600; keep the key file apart from the database's backups)"
        )
    from kizuna.hub.keys import key_path
    from kizuna.hub.store.sqlite.store import checkpoint_path

    store = SQLiteStore.create(Path(text), title=title, clock=clock)
    return store, (
        f"created hub database {text}, its key file {key_path(text)} and its audit checkpoint file"
        f" {checkpoint_path(text)} (mode 0600; keep the key file with the database, apart from its backups)"
    )


def migrate_store(db: str | Path) -> tuple[str, list[tuple[int, str]]]:
    """Apply pending schema versions; returns how to name the database and (version, description) of each."""
    from kizuna.hub.store.sqlite.schema import MIGRATIONS

    text = check_db(db)
    if is_dsn(text):
        described = {m.version: m.description for m in MIGRATIONS}
        applied = PostgresStore.migrate(text)
        from kizuna.hub.store.postgres.connection import redact

        return redact(text), [(v, described[v]) for v in applied]
    return text, [(m.version, m.description) for m in SQLiteStore.migrate(Path(text))]
