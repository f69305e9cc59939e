"""The dialect's bulk writes (``COPY`` for rows that are only added, one array per column for ``INSERT ...
ON CONFLICT``; psycopg's own ``executemany`` for any other statement) store exactly what the plain path
(one row at a time) stores, and an ``IN`` list sent as one array finds what the same list of placeholders
finds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kizuna.hub.store.postgres.dialect import IN_ARRAY_FROM, PgConnection, translate

ROWS = st.lists(
    st.tuples(
        st.integers(-(2**63), 2**63 - 1),
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
        st.one_of(st.none(), st.binary(max_size=20)),
        st.booleans(),
        st.one_of(st.none(), st.integers(-(2**50), 2**50), st.floats(allow_nan=False)),
    ),
    min_size=2,
    max_size=60,
)


def _both_paths(
    conn: PgConnection, insert: str, rows: Sequence[Sequence[object]], select: str
) -> tuple[list[Any], list[Any]]:
    """``rows`` written by ``executemany`` into table ``fast`` and one at a time into ``plain`` (``{t}`` in
    ``insert`` and ``select``), each read back."""
    conn.executemany(insert.format(t="fast"), rows)
    for row in rows:
        conn.execute(insert.format(t="plain"), row)
    return (
        conn.raw.execute(select.format(t="fast")).fetchall(),
        conn.raw.execute(select.format(t="plain")).fetchall(),
    )


def test_rows_of_any_other_statement_go_one_by_one(new_pg_dsn: Callable[[], str]) -> None:
    """A row that is not all placeholders (here a literal) has no bulk form: every row is still written."""
    with psycopg.connect(new_pg_dsn(), autocommit=True) as raw:
        raw.execute("CREATE TABLE t (n BIGINT, s TEXT)")
        PgConnection(raw).executemany("INSERT INTO t (n, s) VALUES (?, 'x')", [(1,), (2,), (3,)])
        assert raw.execute("SELECT n, s FROM t ORDER BY n").fetchall() == [(1, "x"), (2, "x"), (3, "x")]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_fast_multi_row_insert_agrees_with_the_plain_path(
    new_pg_dsn: Callable[[], str], rows: list[tuple[int, str, bytes | None, bool, float | None]]
) -> None:
    with psycopg.connect(new_pg_dsn(), autocommit=True) as raw:
        raw.execute("CREATE TABLE fast (n BIGINT, t TEXT, b BYTEA, f BIGINT, x DOUBLE PRECISION)")
        raw.execute("CREATE TABLE plain (n BIGINT, t TEXT, b BYTEA, f BIGINT, x DOUBLE PRECISION)")
        fast, plain = _both_paths(
            PgConnection(raw),
            "INSERT INTO {t} (n, t, b, f, x) VALUES (?, ?, ?, ?, ?)",
            rows,
            "SELECT n, t, b, f, x FROM {t} ORDER BY ctid",
        )
    assert fast == plain
    assert [r[0] for r in fast] == [r[0] for r in rows]


KEYED_ROWS = st.lists(
    st.tuples(
        st.integers(0, 12),  # few keys: rows of one batch collide with each other and with stored ones
        st.one_of(st.none(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False, allow_infinity=False)),
        st.lists(st.text(alphabet="abcxyz", min_size=1, max_size=4), max_size=3).map(" ".join),
    ),
    min_size=2,
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=KEYED_ROWS, before=KEYED_ROWS)
def test_rows_with_conflicts_agree_with_the_plain_path(
    new_pg_dsn: Callable[[], str],
    rows: list[tuple[int, int | float | None, str]],
    before: list[tuple[int, int | float | None, str]],
) -> None:
    """``INSERT OR IGNORE`` and ``INSERT OR REPLACE`` of many rows (one array per column; numbers of both
    kinds in one column; a ``tsvector`` column given text) leave what one row at a time leaves."""
    with psycopg.connect(new_pg_dsn(), autocommit=True) as raw:
        conn = PgConnection(raw)
        for name in ("fast", "plain"):
            raw.execute(f"CREATE TABLE {name} (k BIGINT PRIMARY KEY, x DOUBLE PRECISION, v TSVECTOR)")
            for row in before:
                conn.execute(f"INSERT OR IGNORE INTO {name} (k, x, v) VALUES (?, ?, ?::tsvector)", row)
        fast, plain = _both_paths(
            conn,
            "INSERT OR IGNORE INTO {t} (k, x, v) VALUES (?, ?, ?::tsvector)",
            rows,
            "SELECT k, x, v::text FROM {t} ORDER BY k",
        )
        assert fast == plain
        assert {r[0] for r in fast} == {r[0] for r in rows + before}
        raw.execute("CREATE TABLE flags (object_added BIGINT PRIMARY KEY, revoked BIGINT)")
        last = {k: int(x or 0) % 2 for k, x, _v in rows}  # one row per key: a batch updates a row once
        conn.executemany(
            "INSERT OR REPLACE INTO flags (object_added, revoked) VALUES (?,?)", sorted(last.items())
        )
        assert dict(raw.execute("SELECT object_added, revoked FROM flags").fetchall()) == last


def test_long_in_lists_go_as_one_array() -> None:
    many, short = ",".join("?" * IN_ARRAY_FROM), ",".join("?" * (IN_ARRAY_FROM - 1))
    assert translate(f"SELECT a FROM t WHERE b IN ({many}) AND c = ? AND d NOT IN ({many})")[0] == (
        "SELECT a FROM t WHERE b = ANY(%s) AND c = %s AND d <> ALL(%s)"
    )
    assert translate(f"SELECT a FROM t WHERE b IN ({short})")[0] == (
        f"SELECT a FROM t WHERE b IN ({short.replace('?', '%s')})"
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stored=st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.text("abc", max_size=3)), max_size=20),
    wanted=st.lists(st.integers(-(2**63), 2**63 - 1), min_size=2, max_size=2 * IN_ARRAY_FROM),
    names=st.lists(st.text("abc", max_size=3), min_size=2, max_size=2 * IN_ARRAY_FROM),
    low=st.integers(-10, 10),
)
def test_an_in_list_finds_what_each_value_finds(
    new_pg_dsn: Callable[[], str],
    stored: list[tuple[int, str]],
    wanted: list[int],
    names: list[str],
    low: int,
) -> None:
    with psycopg.connect(new_pg_dsn(), autocommit=True) as raw:
        raw.execute("CREATE TABLE t (n BIGINT, s TEXT)")
        conn = PgConnection(raw)
        conn.executemany("INSERT INTO t (n, s) VALUES (?, ?)", [*stored, (low, "a"), (low + 1, "b")])
        ids = [*wanted, low, low + 1]
        found = conn.execute(
            f"SELECT n, s FROM t WHERE n >= ? AND n IN ({','.join('?' * len(ids))})"
            f" AND s NOT IN ({','.join('?' * len(names))}) ORDER BY n, s",
            [-(2**63), *ids, *names],
        ).fetchall()
        rows = raw.execute("SELECT n, s FROM t ORDER BY n, s").fetchall()
    assert [tuple(r) for r in found] == [tuple(r) for r in rows if r[0] in ids and r[1] not in names]
