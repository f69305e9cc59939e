"""Names, aliases and titles have one documented syntax (kizuna/hub/names.py, docs/quickstart.md "Names"),
checked where they enter the hub: every store method that adds or renames, whatever the interface."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.cli import main
from kizuna.errors import InputError
from kizuna.hub import names
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.markings import TLP
from tests.hub.conftest import BACKENDS

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.printable + "éü日本\x00\u200b", max_size=70))
def test_a_name_is_accepted_exactly_when_it_follows_the_syntax(text: str) -> None:
    ok = NAME.fullmatch(text) is not None
    for check in (names.org_name, names.peer_name):
        if ok:
            assert check(text) == text
        else:
            with pytest.raises(InputError):
                check(text)


@settings(max_examples=200, deadline=None)
@given(st.uuids())
def test_an_alias_never_looks_like_a_collection_id(u: object) -> None:
    for text in (str(u), str(u).upper()):
        with pytest.raises(InputError, match="must not look like a collection id"):
            names.alias(text)
    assert names.alias(f"x-{u}") == f"x-{u}"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=220))
def test_a_title_is_printable_text_on_one_line(text: str) -> None:
    stripped = text.strip()
    bad = not stripped or len(stripped) > 200 or not stripped.isprintable()
    if bad:
        with pytest.raises(InputError):
            names.title(text)
    else:
        assert names.title(text) == stripped


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path):
    """A fresh hub on each backend: the names are checked above the store, whatever holds them."""
    if request.param == "postgres":
        from kizuna.hub.store.postgres import PostgresStore

        s = PostgresStore.create(request.getfixturevalue("new_pg_dsn")(), key_file=tmp_path / "hub.key")
    else:
        s = SQLiteStore.create(tmp_path / "hub.db", durable=False)
    s.add_org("uk-ncsc", ceiling=TLP.RED)
    yield s
    s.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.add_org("bad name!", ceiling=TLP.GREEN),
        lambda s: s.add_org("a:b", ceiling=TLP.GREEN),
        lambda s: s.add_org("x" * 65, ceiling=TLP.GREEN),
        lambda s: s.add_org("ok", ceiling=TLP.GREEN, country="GBR"),
        lambda s: s.add_org("ok", ceiling=TLP.GREEN, sectors=["water\nenergy"]),
        lambda s: s.add_collection("two\nlines"),
        lambda s: s.add_collection("   "),
        lambda s: s.add_collection("fine", alias="has space"),
        lambda s: s.add_collection("fine", alias="4f0169af-1b2c-4d3e-8f90-a1b2c3d4e5f6"),
        lambda s: s.add_collection("fine", description="bell\x07"),
        lambda s: s.update_collection("cni", title="tab\there"),
        lambda s: s.update_collection("cni", alias="a/b"),
        lambda s: s.update_org("uk-ncsc", country="United Kingdom"),
        lambda s: s.add_peer("no good", url="http://x/", user=None, secret=b"s", max_tlp=TLP.GREEN),
    ],
)
def test_every_entry_refuses_a_bad_name_and_changes_nothing(store: Any, call) -> None:  # either backend
    store.add_collection("CNI", alias="cni")
    before = store.table_counts()
    audit = list(store.audit_records())
    with pytest.raises(InputError):
        call(store)
    assert store.table_counts() == before and list(store.audit_records()) == audit


def test_the_cli_says_what_a_name_may_be(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "hub.db")
    assert main(["hub", "init", "--db", db]) == 0
    capsys.readouterr()
    assert main(["hub", "org", "add", "bad name!", "--db", db]) == 2
    err = capsys.readouterr().err
    assert err == (
        "kizuna: error: invalid organisation name 'bad name!': use 1-64 characters: letters, digits, '.', '_'"
        " or '-', starting with a letter or a digit\n"
    )
    assert main(["hub", "init", "--db", str(tmp_path / "b.db"), "--title", "a\nb"]) == 2
    assert not (tmp_path / "b.db").exists()
