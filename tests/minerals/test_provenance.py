"""The shipped data files match their provenance record; a newer release is reported, not refused."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from kizuna.errors import InputError
from kizuna.minerals import provenance
from kizuna.minerals.dataset import DataPaths, MineralsData
from kizuna.minerals.profile import profile


@pytest.mark.parametrize("role", sorted(provenance.FILES))
def test_shipped_file_verifies(role: str) -> None:
    path = provenance.resolve(role)
    assert provenance.verify(role, path).status == "verified"


def test_every_shipped_file_is_recorded_with_its_checksum() -> None:
    """Each row of the provenance record (copied from the project's shared data record) gives the sha256 of
    the file exactly as shipped, and every shipped data file has a row."""
    text = (provenance.data_dir() / "PROVENANCE.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `minerals/([^`]+)` \|.*\| `([0-9a-f]{64})` \|", text, re.M)
    assert len(rows) == 10
    for name, sha256 in rows:
        assert hashlib.sha256((provenance.data_dir() / name).read_bytes()).hexdigest() == sha256, name
    assert {name for name, _ in rows} >= set(provenance.FILES.values())
    assert (provenance.data_dir() / "LICENSE-CC-BY-4.0.txt").is_file()


def test_newer_release_is_reported_as_differing(tmp_path: Path) -> None:
    newer = tmp_path / "mcs2027.csv"
    raw = provenance.resolve("usgs").read_bytes()
    # a "newer release": same layout, China's 2025 rare-earth output revised
    newer.write_bytes(
        raw.replace(
            b'Rare Earths,China,Production,Mine production,metric tons,2025,"270,000"',
            b'Rare Earths,China,Production,Mine production,metric tons,2025,"300,000"',
        )
    )
    assert newer.read_bytes() != raw
    data = MineralsData(DataPaths(usgs=newer))
    p = profile(data, "rare_earths")
    assert p.headline("mining").values["CHN"] == 300000.0  # type: ignore[union-attr]
    check = next(c for c in data.report.checks if c.role == "usgs")
    assert check.status == "differs"
    assert any("differs from the shipped record" in n for n in p.notes)


def test_corrupt_shipped_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "minerals"
    shutil.copytree(provenance.data_dir(), fake)
    (fake / "wgi_2023.csv").write_text("iso3,country,year,indicator,estimate\n")
    monkeypatch.setattr(provenance, "data_dir", lambda: fake)
    with pytest.raises(InputError, match="fails its checksum"):
        provenance.verify("wgi", fake / "wgi_2023.csv")


def test_provenance_table_without_sha_names_the_line() -> None:
    text = (
        "# x\n\n| file | source | licence | sha256 | transformation |\n|---|---|---|---|---|\n"
        "| `minerals/a.csv` | somewhere | CC0 | not-a-hash | none |\n"
    )
    with pytest.raises(InputError) as exc:
        provenance.parse_provenance(text, path="P.md")
    assert exc.value.line == 5 and exc.value.path == "P.md"


def test_missing_user_file_is_not_found(tmp_path: Path) -> None:
    from kizuna.errors import NotFound

    with pytest.raises(NotFound):
        provenance.resolve("usgs", tmp_path / "nope.csv")
