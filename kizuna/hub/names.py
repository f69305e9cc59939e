"""The syntax of what a hub's operator names: organisations and peers, collection aliases, titles.

Checked where a name enters the hub (every store method that adds or renames something calls these), so
no interface can bring in a name the others cannot handle. Documented in docs/quickstart.md ("Names"):

* **organisation and peer names**: 1-64 characters, ASCII letters, digits, ``.``, ``_`` and ``-``, starting
  with a letter or a digit (``uk-ncsc``, ``jp-hub``, ``NCSC.ops``). A name is the HTTP Basic user (no
  ``:``), appears in audit records as ``org:NAME`` or ``peer:NAME`` and in lists of names (no ``,``), and an
  account and its peer record share it. Case matters.
* **collection aliases**: the same characters, 1-64 of them, and never a UUID: an alias stands in for the
  id in ``/collections/{id}/``, so it must not look like one.
* **titles** (of a hub or a collection) and **sectors**: printable text (Python's ``str.isprintable``:
  letters, marks, numbers, punctuation, symbols and the ordinary space), 1-200 characters (sectors 1-64),
  on one line; spaces at either end are dropped.
* **descriptions**: up to 2,000 characters of printable text; line breaks are allowed.
"""

from __future__ import annotations

import re
import unicodedata

from kizuna.errors import InputError

NAME_MAX = 64
TITLE_MAX = 200
SECTOR_MAX = 64
DESCRIPTION_MAX = 2000

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_COUNTRY = re.compile(r"[A-Za-z]{2}")

NAME_RULE = f"1-{NAME_MAX} characters: letters, digits, '.', '_' or '-', starting with a letter or a digit"


def _name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value) or len(value) > NAME_MAX:
        raise InputError(f"invalid {what} {value!r}: use {NAME_RULE}")
    return value


def org_name(value: str) -> str:
    """An organisation's name (also a peer's: an account and its peer record share the name)."""
    return _name(value, "organisation name")


def peer_name(value: str) -> str:
    return _name(value, "peer name")


def alias(value: str) -> str:
    """A collection alias: a name that can stand in the URL for the collection's id."""
    _name(value, "collection alias")
    if _UUID.fullmatch(value):
        raise InputError(f"invalid collection alias {value!r}: an alias must not look like a collection id")
    return value


def _printable(value: str, what: str, limit: int, *, lines: bool = False) -> str:
    text = value.strip()
    if not text and not lines:
        raise InputError(f"the {what} must not be empty")
    if len(text) > limit:
        raise InputError(f"the {what} is {len(text)} characters long; at most {limit} are allowed")
    for c in text:
        if c.isprintable() or (lines and c == "\n"):
            continue
        kind = "control" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else "unprintable"
        raise InputError(
            f"the {what} contains the {kind} character U+{ord(c):04X}; use printable text"
            + ("" if lines else " on one line")
        )
    return text


def title(value: str) -> str:
    """A hub's or a collection's title, stripped."""
    return _printable(value, "title", TITLE_MAX)


def sector(value: str) -> str:
    """A CNI sector, stripped and lower-cased (``energy``, ``water``)."""
    return _printable(value, "sector", SECTOR_MAX).lower()


def description(value: str) -> str:
    return _printable(value, "description", DESCRIPTION_MAX, lines=True)


def country(value: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code, upper-cased (the code itself is not looked up)."""
    if value is None:
        return None
    if not _COUNTRY.fullmatch(value):
        raise InputError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. GB, JP)")
    return value.upper()
