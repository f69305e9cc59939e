"""The dialect's fast multi-row INSERT (``$n`` placeholders numbered by kizuna, so psycopg parses no long
query text) stores exactly what the plain path (psycopg's ``%s`` conversion, one row at a time) stores."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kizuna.hub.store.postgres.dialect import PgConnection, _numbered_rows

ROWS = st.lists(
    st.tuples(
        st.integers(-(2**63), 2**63 - 1),
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
        st.one_of(st.none(), st.binary(max_size=20)),
        st.booleans(),
    ),
    min_size=2,
    max_size=60,
)


def test_numbered_rows() -> None:
    assert _numbered_rows("(%s, %s)", 3) == "($1, $2),($3, $4),($5, $6)"
    assert _numbered_rows("(%s, 'x', (SELECT %s))", 2) == "($1, 'x', (SELECT $2)),($3, 'x', (SELECT $4))"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_fast_multi_row_insert_agrees_with_the_plain_path(
    new_pg_dsn: Callable[[], str], rows: list[tuple[int, str, bytes | None, bool]]
) -> None:
    with psycopg.connect(new_pg_dsn(), autocommit=True) as raw:
        raw.execute("CREATE TABLE fast (n BIGINT, t TEXT, b BYTEA, f BIGINT)")
        raw.execute("CREATE TABLE plain (n BIGINT, t TEXT, b BYTEA, f BIGINT)")
        conn = PgConnection(raw)
        conn.executemany("INSERT INTO fast (n, t, b, f) VALUES (?, ?, ?, ?)", rows)
        for row in rows:
            conn.execute("INSERT INTO plain (n, t, b, f) VALUES (?, ?, ?, ?)", row)
        fast = raw.execute("SELECT n, t, b, f FROM fast ORDER BY ctid").fetchall()
        plain = raw.execute("SELECT n, t, b, f FROM plain ORDER BY ctid").fetchall()
    assert fast == plain
    assert [r[0] for r in fast] == [r[0] for r in rows]
