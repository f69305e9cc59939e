"""World Bank Worldwide Governance Indicators (estimates, 2015-2023) and the two scalings kizuna needs.

* :meth:`Governance.gpr_instability` - the GeoPolRisk ``g_i``: political stability and absence of
  violence (``pv``, range about -2.5..2.5) mapped linearly onto 0 (most stable) .. 1 (least stable),
  ``g = (2.5 - pv) / 5`` clipped to [0, 1] (Koyamparambath et al. 2024; geopolrisk-py documents the PV
  indicator normalised to 0-1).
* :meth:`Governance.eu_scaled` - the EU CRM governance score, 0 (best) .. 10 (worst). The EC's own scaled
  table is not published with the inputs; kizuna uses the mean of the six WGI dimensions over the chosen
  years, ``10 * (2.5 - mean) / 5`` clipped to [0, 10] (an assumption stated in every eu-crm output).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kizuna.errors import InputError
from kizuna.minerals.tidy import LoadReport, Rejected

INDICATORS = ("va", "pv", "ge", "rq", "rl", "cc")
_HEADER = ["iso3", "country", "year", "indicator", "estimate"]


@dataclass(slots=True)
class Governance:
    """WGI estimates keyed by (iso3, year, indicator)."""

    estimates: dict[tuple[str, int, str], float]

    def years(self) -> list[int]:
        return sorted({y for (_, y, _) in self.estimates})

    def estimate(self, iso3: str, year: int, indicator: str) -> float | None:
        return self.estimates.get((iso3, year, indicator))

    def latest_estimate(self, iso3: str, year: int, indicator: str) -> tuple[float, int] | None:
        """The estimate for ``year`` or, failing that, the latest earlier year (value, year used)."""
        for y in range(year, year - 10, -1):
            v = self.estimates.get((iso3, y, indicator))
            if v is not None:
                return v, y
        return None

    def gpr_instability(self, iso3: str, year: int) -> float | None:
        """GeoPolRisk ``g`` in [0, 1] from PV of ``year`` (None when the country has no PV that year)."""
        pv = self.estimates.get((iso3, year, "pv"))
        if pv is None:
            return None
        return min(1.0, max(0.0, (2.5 - pv) / 5.0))

    def eu_scaled(self, iso3: str, years: Iterable[int]) -> float | None:
        """EU CRM governance score 0..10 (10 = worst) from the six dimensions averaged over ``years``."""
        vals = [
            v for y in years for ind in INDICATORS if (v := self.estimates.get((iso3, y, ind))) is not None
        ]
        if not vals:
            return None
        mean = sum(vals) / len(vals)
        return min(10.0, max(0.0, 10.0 * (2.5 - mean) / 5.0))


def load_wgi(path: Path, *, role: str = "wgi") -> tuple[Governance, LoadReport]:
    report = LoadReport()
    est: dict[tuple[str, int, str], float] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.lstrip("\ufeff") for h in header] != _HEADER:
            raise InputError(f"unexpected header {header!r}; expected {_HEADER!r}", path=str(path), line=1)
        prev = reader.line_num
        for rec in reader:
            line = prev + 1
            prev = reader.line_num
            if not rec:
                continue
            report.rows_read += 1
            try:
                iso3, _name, year, ind, value = rec
                key = (iso3.strip(), int(year), ind.strip())
                est[key] = float(value)
            except ValueError as exc:
                report.rejected.append(Rejected(role, line, f"malformed WGI row: {exc}", ",".join(rec)))
                continue
            report.rows_kept += 1
    return Governance(est), report
