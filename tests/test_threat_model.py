"""docs/threat-model.md: every table row names tests that exist, or says it is an accepted risk."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "threat-model.md"
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
BOUNDARIES = ("Browser - web UI", "Client - TAXII API", "Hub - peer", "Hub - database", "Ingest sources")


def _tables(text: str) -> dict[str, list[list[str]]]:
    """Rows (cells) of each table, by the section heading above it."""
    out: dict[str, list[list[str]]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.startswith("|") and not re.fullmatch(r"\|[\s\-|]+\|", line):
            out.setdefault(section, []).append([c.strip() for c in line.strip("|").split("|")])
    return out


def _defined(path: str, name: str) -> bool:
    file = ROOT / path
    return (
        file.is_file() and re.search(rf"^(async )?def {name}\(", file.read_text(), re.MULTILINE) is not None
    )


def check(text: str) -> list[str]:
    problems = []
    tables = _tables(text)
    for boundary in BOUNDARIES:
        rows = tables.get(boundary, [])
        if not rows or [c.lower() for c in rows[0]] != ["threat", "stride", "mitigation", "test"]:
            problems.append(f"{boundary}: no STRIDE table")
        elif len(rows) < 2 or any(not re.fullmatch(r"[STRIDE](, [STRIDE])*", r[1]) for r in rows[1:]):
            problems.append(f"{boundary}: empty table, or a row without STRIDE letters")
    for section, rows in tables.items():
        header = [c.lower() for c in rows[0]]
        if "test" not in header:
            continue
        col = header.index("test")
        for row in rows[1:]:
            refs = TEST_REF.findall(row[col])
            if not refs and "accepted risk" not in " ".join(row).lower():
                problems.append(f"{section}: {row[0]!r} names no test and is not an accepted risk")
            for path, name in refs:
                if not _defined(path, name):
                    problems.append(f"{section}: {row[0]!r} names {path}::{name}, which does not exist")
    return problems


def test_every_row_names_an_existing_test_or_is_an_accepted_risk() -> None:
    assert check(DOC.read_text()) == []


def test_the_check_sees_a_missing_test() -> None:
    text = DOC.read_text().replace("test_big_integers_are_never_rounded", "test_that_was_never_written", 1)
    assert any("test_that_was_never_written" in p for p in check(text))
    bare = (
        DOC.read_text()
        .replace("| accepted risk: uvicorn's timeouts only;", "| uvicorn's timeouts only;", 1)
        .replace("(`--behind-proxy`) | accepted risk |", "(`--behind-proxy`) | |", 1)
    )
    assert any("names no test" in p for p in check(bare))


def test_the_threat_model_covers_assets_actors_and_every_boundary() -> None:
    text = DOC.read_text()
    for heading in ("## Assets", "## Actors", "## Trust boundaries", *(f"## {b}" for b in BOUNDARIES)):
        assert heading in text
    for actor in (
        "outsider",
        "partner organisation",
        "CNI operator",
        "peer hub",
        "administrator",
        "poisoned feed",
        "supply chain",
    ):
        assert actor in text
    assert "disclosure_rank" in text
