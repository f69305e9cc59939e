"""Full-text search finds the same documents on PostgreSQL as FTS5 on SQLite: FTS5 is the reference, the
PostgreSQL side runs through the store's own dialect (the index statement and the ``MATCH`` query the
SQLite query code writes) on a real database, over random text in many scripts and queries cut from it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kizuna.hub import index
from kizuna.hub.store.postgres import fulltext, schema
from kizuna.hub.store.postgres.dialect import PgConnection

FTS5 = "CREATE VIRTUAL TABLE search USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')"
#: Characters of many scripts, accents (precomposed and combining), CJK, full-width forms, digits and the
#: punctuation observables are made of.
ALPHABET = (
    "abcXYZ019_-./:@' \"\t"
    "éÉèüÜñçßøÅœŒǅİıĳ"  # Latin with diacritics, ligatures, dotted/dotless i
    "e\u0301a\u0308"  # combining accents
    "МоскваΑθήνα"  # Cyrillic, Greek with tonos
    "日本の水道攻撃標的型がガ한국어"  # CJK, kana with voicing marks, Hangul
    "ＡＢＣ１２３"  # full-width
    "²½Ⅷ①"  # numbers that are not digits
    "\u200b\u00a0"  # zero-width space, no-break space
)
texts = st.text(alphabet=ALPHABET, max_size=40)


def _fts5_terms(text: str) -> list[str]:
    conn = sqlite3.connect(":memory:")
    conn.execute(FTS5.replace("fts5(body,", "fts5(body, content='',"))
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(search, instance)")
    conn.execute("INSERT INTO search (rowid, body) VALUES (1, ?)", (text,))
    terms = [str(r[0]) for r in conn.execute('SELECT term FROM v ORDER BY "offset"')]
    conn.close()
    return terms


@settings(max_examples=500, deadline=None)
@given(texts)
def test_tokens_are_fts5s_tokens(text: str) -> None:
    assert fulltext.tokens(text) == _fts5_terms(text)


def test_literals_quote_and_clip() -> None:
    assert fulltext.tsvector("Café, café CAFE!") == "'cafe':1,2,3"
    assert fulltext.tsquery('"scada"* AND "two words"') == "'scada':* & ('two' <-> 'words')"
    assert fulltext.tsquery('"_"*') == fulltext.NOTHING  # an empty phrase matches nothing, as in FTS5
    long = fulltext.tokens("a" * 5000)
    assert long == ["a" * fulltext.MAX_LEXEME_BYTES]


@pytest.fixture
def both(new_pg_dsn: Callable[[], str]) -> Iterator[tuple[sqlite3.Connection, PgConnection]]:
    """An FTS5 table, and the ``search`` table of a PostgreSQL hub schema behind the store's dialect."""
    with psycopg.connect(new_pg_dsn(), autocommit=True) as pg:
        schema.migrate(pg)
        lite = sqlite3.connect(":memory:")
        lite.execute(FTS5)
        yield lite, PgConnection(pg)
        lite.close()


QUERY = "SELECT rowid FROM search WHERE search MATCH ? ORDER BY rowid"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    docs=st.lists(texts, min_size=1, max_size=6),
    cuts=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 40), st.integers(1, 12)), min_size=1, max_size=4
    ),
    free=st.lists(texts, max_size=2),
)
def test_postgres_finds_what_fts5_finds(
    both: tuple[sqlite3.Connection, PgConnection],
    docs: list[str],
    cuts: list[tuple[int, int, int]],
    free: list[str],
) -> None:
    lite, pg = both
    lite.execute("DELETE FROM search")
    pg.execute("DELETE FROM search")
    rows = [(n, index.fts_text(d)) for n, d in enumerate(docs, start=1)]
    lite.executemany("INSERT INTO search (rowid, body) VALUES (?,?)", rows)
    pg.executemany("INSERT INTO search (rowid, body) VALUES (?,?)", rows)  # as the store's indexing does
    queries = [docs[d % len(docs)][start : start + size] for d, start, size in cuts] + free
    for q in queries:
        expr = index.fts_query(q)
        if expr is None:
            continue
        want = [r[0] for r in lite.execute(QUERY, (expr,))]
        got = [r[0] for r in pg.execute(QUERY, (expr,))]
        assert got == want, (q, expr, fulltext.tsquery(expr))
