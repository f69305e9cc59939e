"""Full-text search on PostgreSQL that finds exactly what SQLite's FTS5 finds.

The SQLite store indexes text with FTS5's ``unicode61`` tokenizer (``remove_diacritics 2``): a token is a
run of letters, numbers and private-use characters, each folded to lower case without its Latin
diacritics, and every other character separates tokens. PostgreSQL's own parser and dictionaries split and
fold text differently, and by the cluster's locale (in a ``C`` cluster no letter outside ASCII is a letter:
"Café" and Japanese text would not be found at all). So PostgreSQL is given the tokens themselves: each
text is cut into FTS5's tokens here, in Python, and stored as a ``tsvector`` literal (lexeme and position,
no parser, no dictionary); each query is written as a ``tsquery`` literal over the same tokens. The two
backends then match the same documents for every query the store writes (``kizuna.hub.index.fts_query``):
``"term"*`` a prefix, ``"two words"`` a phrase (adjacent positions), ``AND`` all of them.

How each character tokenizes is asked of SQLite itself, once per character this process meets (an
in-memory FTS5 table): the answer is FTS5's by construction, and the tokenizer works per character (its
class and its folding), so a table of characters reproduces it. Limits PostgreSQL imposes, applied to both
sides alike so that a query still finds its documents: a lexeme keeps at most :data:`MAX_LEXEME_BYTES`
bytes, positions above :data:`MAX_POSITION` count as that position, and a lexeme keeps its first
:data:`MAX_POSITIONS` positions (a phrase beyond 16,383 tokens into a text may match where FTS5 would not).
"""

from __future__ import annotations

import re
import sqlite3
import threading

__all__ = ["MAX_LEXEME_BYTES", "MAX_POSITION", "MAX_POSITIONS", "tokens", "tsquery", "tsvector"]

#: PostgreSQL's limits on a ``tsvector``: lexeme length (bytes), position value, positions per lexeme.
MAX_LEXEME_BYTES = 2046
MAX_POSITION = 16_383
MAX_POSITIONS = 256
#: What :func:`tsquery` returns for a query that cannot match anything (FTS5: an empty phrase matches none):
#: the empty ``tsquery``, which matches no document.
NOTHING = ""

_TOKENIZER = "unicode61 remove_diacritics 2"
_SEP = " "


class _Folding:
    """``str.translate`` table of the characters met so far: a separator becomes a space, a token
    character its folded form ("" for a diacritic FTS5 drops)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.table: dict[int, str] = {}
        self._learn({chr(c) for c in range(128)})

    def _learn(self, chars: set[str]) -> None:
        conn = sqlite3.connect(":memory:")
        try:
            conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(body, content='', tokenize = '{_TOKENIZER}')")
            conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
            probes = sorted(c for c in chars if not 0xD800 <= ord(c) <= 0xDFFF)  # a lone surrogate: a space
            # between two ASCII letters: one token "x?y" when the character belongs to a token (its folded
            # form between them), two tokens "x" and "y" when it separates them
            conn.executemany(
                "INSERT INTO t (rowid, body) VALUES (?, ?)", [(i, f"x{c}y") for i, c in enumerate(probes)]
            )
            found: dict[int, list[str]] = {}
            for doc, term in conn.execute('SELECT doc, term FROM v ORDER BY doc, "offset"'):
                found.setdefault(int(doc), []).append(str(term))
        finally:
            conn.close()
        table = dict(self.table)
        table.update({ord(c): _SEP for c in chars})
        for i, c in enumerate(probes):
            terms = found.get(i, [])
            if len(terms) == 1 and terms[0].startswith("x") and terms[0].endswith("y"):
                table[ord(c)] = terms[0][1:-1]
        table[ord(_SEP)] = _SEP
        self.table = table  # replaced whole: readers on other threads see the old or the new table

    def fold(self, text: str) -> str:
        table = self.table
        if not text.isascii():
            unknown = {c for c in set(text) if ord(c) not in table}
            if unknown:
                with self._lock:
                    unknown = {c for c in unknown if ord(c) not in self.table}
                    if unknown:
                        self._learn(unknown)
                table = self.table
        return text.translate(table)


_FOLDING: _Folding | None = None
_FOLDING_LOCK = threading.Lock()


def _folding() -> _Folding:
    global _FOLDING
    if _FOLDING is None:
        with _FOLDING_LOCK:
            if _FOLDING is None:
                _FOLDING = _Folding()
    return _FOLDING


def _clip(token: str) -> str:
    if len(token) * 4 <= MAX_LEXEME_BYTES:  # at most 4 bytes a character: short enough as it is
        return token
    data = token.encode()
    if len(data) <= MAX_LEXEME_BYTES:
        return token
    return data[:MAX_LEXEME_BYTES].decode(errors="ignore")


def tokens(text: str) -> list[str]:
    """The tokens FTS5 (``unicode61 remove_diacritics 2``) makes of ``text``, in order."""
    return [_clip(t) for t in _folding().fold(text).split()]


def _quote(lexeme: str) -> str:
    if "'" not in lexeme and "\\" not in lexeme:
        return "'" + lexeme + "'"
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector(text: str) -> str:
    """The ``tsvector`` literal of ``text``: each token with its positions (from 1)."""
    positions: dict[str, list[int]] = {}
    words = tokens(text)
    for n, token in enumerate(words, start=1):
        held = positions.get(token)
        if held is None:
            positions[token] = [n]
        elif len(held) < MAX_POSITIONS:
            held.append(n)
    if len(words) <= MAX_POSITION:
        return " ".join(_quote(t) + ":" + ",".join(map(str, ps)) for t, ps in positions.items())
    return " ".join(  # positions above the largest count as it (once)
        _quote(t) + ":" + ",".join(str(p) for p in dict.fromkeys(min(p, MAX_POSITION) for p in ps))
        for t, ps in positions.items()
    )


_TERM = re.compile(r'"((?:[^"]|"")*)"(\*?)')


def tsquery(expr: str) -> str:
    """An FTS5 expression as :func:`kizuna.hub.index.fts_query` writes it (``"term"*`` prefixes and
    ``"two words"`` phrases joined by ``AND``) as a ``tsquery`` literal over the same tokens. A term with no
    token matches nothing, as in FTS5."""
    parts: list[str] = []
    for m in _TERM.finditer(expr):
        words = tokens(m.group(1).replace('""', '"'))
        if not words:
            return NOTHING
        quoted = [_quote(w) for w in words]
        if m.group(2):
            quoted[-1] += ":*"
        parts.append(quoted[0] if len(quoted) == 1 else "(" + " <-> ".join(quoted) + ")")
    return " & ".join(parts) or NOTHING
