"""All minerals inputs as one object: paths (shipped or the user's), loaded lazily, checked, reported.

>>> data = MineralsData()                       # the shipped files
>>> data = MineralsData(DataPaths(usgs="mcs2027.csv"))   # a newer USGS release, the rest shipped

Every loader's :class:`~kizuna.minerals.tidy.LoadReport` (rows read, kept, rejected with reasons, and the
checksum status of each file) is collected in :attr:`MineralsData.report`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path

from kizuna.minerals import provenance
from kizuna.minerals.baci import BaciCountry, TradeTable, load_country_codes, load_trade
from kizuna.minerals.eucrm import load_supply_shares, load_use_shares
from kizuna.minerals.tidy import LoadReport, Row
from kizuna.minerals.usgs import load_usgs
from kizuna.minerals.wgi import Governance, load_wgi


@dataclass(frozen=True, slots=True)
class DataPaths:
    """Optional replacements for the shipped files (None = shipped)."""

    usgs: str | Path | None = None
    eu_global: str | Path | None = None
    eu_sourcing: str | Path | None = None
    eu_use: str | Path | None = None
    wgi: str | Path | None = None
    baci: str | Path | None = None
    baci_countries: str | Path | None = None


class MineralsData:
    """Lazily loaded inputs. Attribute access loads (and verifies) the file it needs."""

    def __init__(self, paths: DataPaths | None = None) -> None:
        self.paths = paths or DataPaths()
        self.report = LoadReport()

    def _path(self, role: str) -> Path:
        override = getattr(self.paths, role) if role in {f.name for f in fields(DataPaths)} else None
        path = provenance.resolve(role, override)
        self.report.checks.append(provenance.verify(role, path))
        return path

    def _note(self, rep: LoadReport) -> None:
        self.report.rows_read += rep.rows_read
        self.report.rows_kept += rep.rows_kept
        self.report.rejected.extend(rep.rejected)

    @cached_property
    def usgs(self) -> list[Row]:
        rows, rep = load_usgs(self._path("usgs"))
        self._note(rep)
        return rows

    @cached_property
    def eu_global(self) -> list[Row]:
        rows, rep = load_supply_shares(
            self._path("eu_global"), role="eu_global", basis="EU CRM 2023 global supply share"
        )
        self._note(rep)
        return rows

    @cached_property
    def eu_sourcing(self) -> list[Row]:
        rows, rep = load_supply_shares(
            self._path("eu_sourcing"), role="eu_sourcing", basis="EU CRM 2023 EU sourcing share"
        )
        self._note(rep)
        return rows

    @cached_property
    def eu_use(self) -> list[Row]:
        rows, rep = load_use_shares(self._path("eu_use"))
        self._note(rep)
        return rows

    @cached_property
    def governance(self) -> Governance:
        gov, rep = load_wgi(self._path("wgi"))
        self._note(rep)
        return gov

    @cached_property
    def baci_countries(self) -> dict[int, BaciCountry]:
        return load_country_codes(self._path("baci_countries"))

    @cached_property
    def trade(self) -> TradeTable:
        table, rep = load_trade(self._path("baci"), self.baci_countries)
        self._note(rep)
        return table

    def file_notes(self) -> list[str]:
        """One line per file whose checksum differs from the shipped record (empty when all verified)."""
        return [c.message for c in self.report.checks if c.status != "verified"]
