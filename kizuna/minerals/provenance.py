"""Where each shipped data file came from, and a check that a file is the one recorded.

The record is ``kizuna/data/minerals/PROVENANCE.md`` (rows copied from ``shared/data/PROVENANCE.md``); its
table gives, per file, the source, the licence and the sha256 of the file as shipped. :func:`verify`
hashes a file and compares it with that record.

A user may point the loader at a newer release of a file (a newer USGS MCS, a newer BACI extract). Such a
file will not match the shipped record; that is not an error, but it must never pass unnoticed: the
check returns a :class:`FileCheck` with ``status="differs"`` which every loader copies into its
:class:`~kizuna.minerals.tidy.LoadReport` and every command prints (and ``--json`` includes). Only a
*shipped* file (one read from the package data folder) that fails its checksum is an error, because it
means the installation is corrupt.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from kizuna.errors import InputError, NotFound

#: Names of the shipped data files, keyed by the role the loaders give them.
FILES: dict[str, str] = {
    "usgs": "usgs_mcs2026_commodities_data.csv",
    "eu_global": "eu_crm_2023_global_supply_shares.csv",
    "eu_sourcing": "eu_crm_2023_eu_supply_shares.csv",
    "eu_use": "eu_crm_2023_material_use_shares.csv",
    "eu_groupings": "eu_crm_2023_screened_material_groupings.csv",
    "wgi": "wgi_2023.csv",
    "baci": "baci_minerals_2015_2024.csv",
    "baci_countries": "baci_country_codes.csv",
    "baci_products": "baci_product_codes_hs92.csv",
}

_ROW_RE = re.compile(r"^\|\s*`minerals/(?P<name>[^`]+)`\s*\|(?P<rest>.*)\|\s*$")
_SHA_RE = re.compile(r"`([0-9a-f]{64})`")


@dataclass(frozen=True, slots=True)
class Record:
    """One row of the provenance table."""

    name: str
    source: str
    licence: str
    sha256: str


@dataclass(frozen=True, slots=True)
class FileCheck:
    """Result of checking one file against the provenance record."""

    role: str
    path: str
    status: Literal["verified", "differs"]
    sha256: str
    expected_sha256: str

    @property
    def message(self) -> str:
        if self.status == "verified":
            return f"{self.path}: sha256 matches the shipped provenance record"
        return (
            f"{self.path}: sha256 {self.sha256[:12]}... differs from the shipped record "
            f"{self.expected_sha256[:12]}... (a different release of {FILES[self.role]}; "
            "its provenance is the user's to record)"
        )


def data_dir() -> Path:
    """The package's shipped data folder (``kizuna/data/minerals``)."""
    return Path(str(resources.files("kizuna") / "data" / "minerals"))


def parse_provenance(text: str, *, path: str = "PROVENANCE.md") -> dict[str, Record]:
    """The provenance table as ``{file name: Record}``; InputError for a row without a sha256."""
    records: dict[str, Record] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _ROW_RE.match(line)
        if m is None:
            continue
        cells = [c.strip() for c in m.group("rest").split("|")]
        # cells: source, licence, sha256, transformation (the source cell may not contain '|')
        if len(cells) < 4:
            raise InputError("provenance row has too few columns", path=path, line=lineno)
        sha = _SHA_RE.search(cells[2])
        if sha is None:
            raise InputError("provenance row has no sha256", path=path, line=lineno)
        records[m.group("name")] = Record(m.group("name"), cells[0], cells[1], sha.group(1))
    return records


@cache
def shipped_records() -> dict[str, Record]:
    """The records of the shipped ``PROVENANCE.md``."""
    path = data_dir() / "PROVENANCE.md"
    return parse_provenance(path.read_text(encoding="utf-8"), path=str(path))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve(role: str, override: str | Path | None = None) -> Path:
    """The path to read for ``role``: the user's file if given, else the shipped one."""
    if role not in FILES:
        raise InputError(f"unknown data file role {role!r}; expected one of {', '.join(FILES)}")
    path = Path(override) if override is not None else data_dir() / FILES[role]
    if not path.is_file():
        raise NotFound(f"{path}: data file not found")
    return path


def verify(role: str, path: Path) -> FileCheck:
    """Check ``path`` against the shipped record for ``role``.

    A shipped file that does not match raises InputError (a corrupt installation). A user-supplied file
    that does not match is reported as ``differs``.
    """
    record = shipped_records()[FILES[role]]
    digest = sha256_of(path)
    if digest == record.sha256:
        return FileCheck(role, str(path), "verified", digest, record.sha256)
    if path.resolve() == (data_dir() / FILES[role]).resolve():
        raise InputError(
            f"shipped data file fails its checksum (sha256 {digest}, recorded {record.sha256}); "
            "reinstall kizuna",
            path=str(path),
        )
    return FileCheck(role, str(path), "differs", digest, record.sha256)
