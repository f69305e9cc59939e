"""EU Critical Raw Materials 2023 inputs, and the EC 2017 methodology's SR and EI computed from them.

Formulas (European Commission, *Methodology for establishing the EU list of critical raw materials*,
2017, sections 3-4)::

    HHI_WGI,t = sum_i  S_i^2 * WGI_i * t_i                 (S_i share as a fraction, WGI_i scaled 0-10)
    SR = [HHI_WGI,t(GS) * IR/2 + HHI_WGI,t(EU sourcing) * (1 - IR/2)] * (1 - EoL_RIR) * SI_SR
    EI = sum_s (A_s * Q_s) / max_s' Q_s' * 10 * SI_EI         (A_s end-use share, Q_s NACE value added)

The shipped inputs lack IR, EoL-RIR, SI_SR, SI_EI and the EC's scaled WGI table (see PROVENANCE.md), so
each is an explicit :class:`Assumptions` value, and every result carries the list of assumptions that were
applied to it. SR is computed per stage (extraction, processing) and the material's SR is the higher of
the two (the 2017 methodology assesses the bottleneck stage).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from kizuna.errors import InputError
from kizuna.minerals.countries import iso3_of_name
from kizuna.minerals.tidy import MINING, REFINING, LoadReport, Rejected, Row, parse_percent, slug
from kizuna.minerals.wgi import Governance

_STAGE = {"E": MINING, "P": REFINING}
#: Territories without WGI estimates take their sovereign's governance score (stated when used).
WGI_SOVEREIGN = {"GUF": "FRA", "GRL": "DNK", "NCL": "FRA", "PYF": "FRA"}
EU_REGION = "EUU"  # pseudo code for the EU as a whole (World Bank convention)


def _read(path: Path, header: list[str]) -> tuple[list[tuple[int, list[str]]], LoadReport]:
    report = LoadReport()
    out: list[tuple[int, list[str]]] = []
    try:
        fh = path.open(encoding="utf-8", newline="")
        with fh:
            reader = csv.reader(fh)
            got = next(reader, None)
            if got is None or [h.lstrip("\ufeff").strip() for h in got] != header:
                raise InputError(f"unexpected header {got!r}; expected {header!r}", path=str(path), line=1)
            prev = reader.line_num
            for rec in reader:
                line = prev + 1
                prev = reader.line_num
                if not rec or all(not c.strip() for c in rec):
                    continue
                report.rows_read += 1
                out.append((line, rec))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", path=str(path)) from None
    return out, report


def load_supply_shares(path: Path, *, role: str, basis: str) -> tuple[list[Row], LoadReport]:
    """Global or EU-sourcing supply shares: one ``percent`` row and one ``t`` row per input line."""
    recs, report = _read(path, ["Material", "Stage", "Country", "Share", "t"])
    rows: list[Row] = []
    for line, rec in recs:
        raw = ",".join(rec)
        if len(rec) != 5:
            report.rejected.append(Rejected(role, line, f"{len(rec)} columns, expected 5", raw))
            continue
        material, stage, country, share, t = (c.strip() for c in rec)
        if stage not in _STAGE:
            report.rejected.append(Rejected(role, line, f"stage {stage!r} is not E or P", raw))
            continue
        iso3 = iso3_of_name(country)
        if iso3 is None:
            report.rejected.append(Rejected(role, line, f"country {country!r} has no ISO3 mapping", raw))
            continue
        pv = parse_percent(share)
        try:
            t_value = float(t)
        except ValueError:
            report.rejected.append(Rejected(role, line, f"trade variable t {t!r} is not a number", raw))
            continue
        m, st = slug(material), _STAGE[stage]
        rows.append(Row(m, st, iso3, 2023, pv.value, "percent", basis, pv.flag, role, line))
        rows.append(Row(m, st, iso3, 2023, t_value, "index", f"{basis}: trade variable t", "", role, line))
        report.rows_kept += 1
    return rows, report


def load_use_shares(path: Path, *, role: str = "eu_use") -> tuple[list[Row], LoadReport]:
    """End-use shares with their NACE sector and its value added (two tidy rows per line, region EUU)."""
    recs, report = _read(path, ["Material", "Application", "Share", "NACE sector", "VA in million €"])
    rows: list[Row] = []
    for line, rec in recs:
        raw = ",".join(rec)
        if len(rec) != 5:
            report.rejected.append(Rejected(role, line, f"{len(rec)} columns, expected 5", raw))
            continue
        material, application, share, nace, va = (" ".join(c.split()) for c in rec)
        pv = parse_percent(share)
        va_meur: float | None = None
        va_flag = ""
        if va == "" and nace == "":
            va_flag = "blank"  # an application with no NACE sector ("Other"): contributes nothing to EI
        else:
            try:
                va_meur = float(va.replace(",", ""))
            except ValueError:
                report.rejected.append(Rejected(role, line, f"value added {va!r} is not a number", raw))
                continue
        m = slug(material)
        basis = f"{application} | {nace}"
        rows.append(Row(m, "end_use", EU_REGION, 2023, pv.value, "percent", basis, pv.flag, role, line))
        rows.append(Row(m, "value_added", EU_REGION, 2023, va_meur, "million EUR", nace, va_flag, role, line))
        report.rows_kept += 1
    return rows, report


@dataclass(frozen=True, slots=True)
class Assumptions:
    """Inputs the shipped EU data lack; every result states the ones it used."""

    import_reliance: float = 1.0
    eol_rir: float = 0.0
    si_sr: float = 1.0
    si_ei: float = 1.0
    wgi_years: tuple[int, ...] = (2016, 2017, 2018, 2019, 2020)

    def statements(self) -> list[str]:
        years = f"{self.wgi_years[0]}-{self.wgi_years[-1]}" if self.wgi_years else "none"
        return [
            f"IR (import reliance) not in the inputs: assumed {self.import_reliance:g} for every material "
            "and stage (1 = fully import reliant, the upper bound of SR's weight on global supply)",
            f"EoL-RIR (end-of-life recycling input rate) not in the inputs: assumed {self.eol_rir:g} "
            "(no recycling credit, so SR is an upper bound)",
            f"SI_SR (substitution index for supply risk) not in the inputs: assumed {self.si_sr:g} "
            "(no substitute)",
            f"SI_EI (substitution index for economic importance) not in the inputs: assumed {self.si_ei:g}",
            f"WGI scaled 0-10 (10 = worst) as 10*(2.5 - mean of the six WGI dimensions)/5, averaged over "
            f"{years}; the EC's own scaled table is not in the inputs",
            "EI scaled to 0-10 by dividing by the largest NACE value added in the use-share file",
            "EU sourcing shares below 1 % are not in the inputs (the file lists shares >= 1 %)",
        ]


@dataclass(slots=True)
class StageRisk:
    stage: str
    hhi_wgi_t_global: float
    hhi_wgi_t_eu: float
    sr: float
    eu_sourcing_available: bool


@dataclass(slots=True)
class CrmResult:
    material: str
    sr: float | None
    sr_stage: str | None
    ei: float | None
    stages: list[StageRisk] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "material": self.material,
            "sr": None if self.sr is None else round(self.sr, 4),
            "sr_stage": self.sr_stage,
            "ei": None if self.ei is None else round(self.ei, 4),
            "stages": [
                {
                    "stage": s.stage,
                    "hhi_wgi_t_global": round(s.hhi_wgi_t_global, 4),
                    "hhi_wgi_t_eu_sourcing": round(s.hhi_wgi_t_eu, 4),
                    "sr": round(s.sr, 4),
                    "eu_sourcing_available": s.eu_sourcing_available,
                }
                for s in self.stages
            ],
            "notes": self.notes,
        }


def hhi_wgi_t(entries: list[tuple[float, float, float]]) -> float:
    """``sum S^2 * WGI * t`` over (share as a fraction, scaled WGI 0-10, t) triples (plain reference)."""
    return math.fsum(s * s * w * t for s, w, t in entries)


def _governed_entries(
    rows: list[Row], gov: Governance, a: Assumptions, notes: list[str]
) -> list[tuple[float, float, float]]:
    """(share fraction, WGI scaled, t) per country from the paired share / t rows of one stage."""
    shares: dict[str, float] = {}
    ts: dict[str, float] = {}
    for r in rows:
        if r.value is None:
            continue
        if r.unit == "percent":
            shares[r.country_iso3] = shares.get(r.country_iso3, 0.0) + r.value / 100.0
        elif r.unit == "index":
            ts[r.country_iso3] = r.value
    out: list[tuple[float, float, float]] = []
    for iso3, s in shares.items():
        w = gov.eu_scaled(iso3, a.wgi_years)
        if w is None and iso3 in WGI_SOVEREIGN:
            w = gov.eu_scaled(WGI_SOVEREIGN[iso3], a.wgi_years)
            notes.append(f"{iso3} has no WGI; used {WGI_SOVEREIGN[iso3]}'s")
        if w is None:
            w = 5.0
            notes.append(f"{iso3} has no WGI in {a.wgi_years[0]}-{a.wgi_years[-1]}; assumed the midpoint 5.0")
        out.append((s, w, ts.get(iso3, 1.0)))
    return out


def compute_crm(
    global_rows: list[Row],
    eu_rows: list[Row],
    use_rows: list[Row],
    gov: Governance,
    assumptions: Assumptions | None = None,
) -> list[CrmResult]:
    """SR and EI per material of the 2023 assessment (materials of the global supply-share file)."""
    a = assumptions or Assumptions()
    by_gs: dict[tuple[str, str], list[Row]] = defaultdict(list)
    by_eu: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in global_rows:
        by_gs[(r.mineral, r.stage)].append(r)
    for r in eu_rows:
        by_eu[(r.mineral, r.stage)].append(r)
    use: dict[str, list[Row]] = defaultdict(list)
    va_by_nace: dict[str, float] = {}
    for r in use_rows:
        if r.stage == "value_added" and r.value is not None:
            va_by_nace[r.basis] = r.value
        use[r.mineral].append(r)
    max_va = max(va_by_nace.values()) if va_by_nace else 0.0

    results: list[CrmResult] = []
    for material in sorted({m for (m, _) in by_gs}):
        res = CrmResult(material, None, None, None)
        for stage in (MINING, REFINING):
            gs = by_gs.get((material, stage))
            if not gs:
                continue
            h_gs = hhi_wgi_t(_governed_entries(gs, gov, a, res.notes))
            eu = by_eu.get((material, stage))
            h_eu = hhi_wgi_t(_governed_entries(eu, gov, a, res.notes)) if eu else h_gs
            if not eu:
                res.notes.append(f"{stage}: no EU sourcing shares; HHI_WGI,t of EU sourcing taken as global")
            ir = a.import_reliance
            sr = (h_gs * ir / 2.0 + h_eu * (1.0 - ir / 2.0)) * (1.0 - a.eol_rir) * a.si_sr
            res.stages.append(StageRisk(stage, h_gs, h_eu, sr, bool(eu)))
        if res.stages:
            best = max(res.stages, key=lambda s: s.sr)
            res.sr, res.sr_stage = best.sr, best.stage
        uses = use.get(material, [])
        pairs: list[tuple[float, float]] = []
        shares_by_line: dict[int, float] = {}
        va_by_line: dict[int, float] = {}
        for r in uses:
            if r.stage == "end_use" and r.value is not None:
                shares_by_line[r.line] = r.value / 100.0
            elif r.stage == "value_added" and r.value is not None:
                va_by_line[r.line] = r.value
        for line, share in shares_by_line.items():
            if line in va_by_line:
                pairs.append((share, va_by_line[line]))
        if pairs and max_va > 0:
            res.ei = math.fsum(s * q for s, q in pairs) / max_va * 10.0 * a.si_ei
        else:
            res.notes.append("no end-use shares in the inputs; EI not computed")
        results.append(res)
    return results
