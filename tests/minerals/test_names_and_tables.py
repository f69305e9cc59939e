"""Minerals day to day (issue 19): an unknown mineral is named with the closest known names, in every
command that takes one; the restriction table never splits an id, at 80 or 120 columns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kizuna.cli import main
from kizuna.minerals.restrictions import SEEDED


@pytest.mark.parametrize(
    "args",
    [
        ["profile", "lithum"],
        ["exposure", "--mineral", "lithum"],
        ["diversify", "lithum"],
        ["eu-crm", "--material", "lithum"],
        ["profile", "lithum", "--json"],
    ],
)
def test_an_unknown_mineral_is_named_with_close_names(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["minerals", *args]) == 2
    err = capsys.readouterr().err
    assert err.endswith("'lithum'; did you mean lithium?\n") and err.count("\n") == 1, err
    assert "unknown" in err and "HS92" not in err


def test_a_scenario_naming_an_unknown_mineral_says_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "s.toml"
    f.write_text(
        '[[restriction]]\ncountry = "CHN"\nmineral = "galium"\nmeasure = "m"\neffective = 2024-01-01\n'
        'source = "s"\nhs = [811292]\n'
    )
    assert main(["minerals", "scenario", str(f)]) == 2
    assert capsys.readouterr().err == (
        f"kizuna: error: {f}: restriction CHN-galium: unknown mineral 'galium';"
        " did you mean gallium, gadolinium?\n"
    )


def test_nothing_close_points_to_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["minerals", "diversify", "unobtainium"]) == 2
    err = capsys.readouterr().err
    assert "unknown mineral 'unobtainium'; no known name is close" in err and "profile all" in err


def test_known_names_and_aliases_still_work(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("Rare earths", "ree", "graphite", "Cobalt", "niobium"):
        assert main(["minerals", "profile", name, "--json"]) == 0, capsys.readouterr().err
    capsys.readouterr()


@pytest.mark.parametrize("columns", [80, 120])
def test_restrictions_never_split_an_id(columns: int) -> None:
    env = {**os.environ, "COLUMNS": str(columns)}
    proc = subprocess.run(
        [sys.executable, "-m", "kizuna", "minerals", "restrictions"],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    lines = proc.stdout.splitlines()
    assert all(len(line) <= columns for line in lines), max(lines, key=len)
    for r in SEEDED:  # each id whole, at the start of its block, with its dates
        head = next(line for line in lines if line.startswith(r.id + "  "))
        assert r.country_iso3 in head
        assert r.effective.isoformat() in proc.stdout
        assert r.source.split()[0] in proc.stdout
