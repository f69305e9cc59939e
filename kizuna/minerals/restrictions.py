"""Export restrictions: the seeded table and a reader for the user's own rows.

Each row names the restricting country, the mineral and HS92 codes it covers, the measure, when it took
effect, until when it is suspended (if it is), and the public notice it comes from. Dates are ISO dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from kizuna.errors import InputError
from kizuna.minerals.catalogue import mineral


@dataclass(frozen=True, slots=True)
class Restriction:
    id: str
    country_iso3: str
    mineral: str
    hs: tuple[int, ...]
    measure: str
    effective: date
    suspended_until: date | None
    source: str
    ended: date | None = None
    cut_pct: float = 100.0  # share of the covered exports the measure stops, for scenarios
    notes: tuple[str, ...] = field(default=())

    def status(self, on: date) -> str:
        """``not yet``, ``in force``, ``suspended`` or ``ended`` on ``on``."""
        if on < self.effective:
            return "not yet"
        if self.ended is not None and on > self.ended:
            return "ended"
        if self.suspended_until is not None and on <= self.suspended_until:
            return "suspended"
        return "in force"

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "country_iso3": self.country_iso3,
            "mineral": self.mineral,
            "hs92": list(self.hs),
            "measure": self.measure,
            "effective": self.effective.isoformat(),
            "suspended_until": None if self.suspended_until is None else self.suspended_until.isoformat(),
            "ended": None if self.ended is None else self.ended.isoformat(),
            "cut_pct": self.cut_pct,
            "source": self.source,
            "notes": list(self.notes),
        }


SEEDED: tuple[Restriction, ...] = (
    Restriction(
        "CHN-gallium-2023",
        "CHN",
        "gallium",
        (),
        "export licence required for gallium metal and compounds (GaN, Ga2O3, GaP, GaAs, InGaAs, GaSe, GaSb)",
        date(2023, 8, 1),
        None,
        "MOFCOM and GAC Announcement No. 23 of 2023, Announcement on Implementing Export Control on "
        "Gallium and Germanium Related Items (issued 3 July 2023), http://www.mofcom.gov.cn/",
        notes=("gallium has no HS92 code in BACI; scenario effects use world production shares",),
    ),
    Restriction(
        "CHN-germanium-2023",
        "CHN",
        "germanium",
        (811230,),
        "export licence required for germanium metal, zone-refined ingots, GeO2, GeCl4 and related items",
        date(2023, 8, 1),
        None,
        "MOFCOM and GAC Announcement No. 23 of 2023, Announcement on Implementing Export Control on "
        "Gallium and Germanium Related Items (issued 3 July 2023), http://www.mofcom.gov.cn/",
    ),
    Restriction(
        "CHN-graphite-2023",
        "CHN",
        "graphite_natural",
        (250410, 250490),
        "export licence required for high-purity, high-strength natural and synthetic graphite items",
        date(2023, 12, 1),
        None,
        "MOFCOM and GAC Announcement No. 39 of 2023 on Optimising and Adjusting the Temporary Export "
        "Control Measures on Graphite Items (issued 20 October 2023), http://www.mofcom.gov.cn/",
    ),
    Restriction(
        "CHN-antimony-2024",
        "CHN",
        "antimony",
        (261710,),
        "export licence required for antimony ores, metal, oxides and related items",
        date(2024, 9, 15),
        None,
        "MOFCOM and GAC Announcement No. 33 of 2024 on Implementing Export Control on Antimony and "
        "Other Items (issued 15 August 2024), http://www.mofcom.gov.cn/",
    ),
    Restriction(
        "CHN-ree-2025-04",
        "CHN",
        "rare_earths",
        (280530, 284690),
        "export licence required for seven medium and heavy rare earths (Sm, Gd, Tb, Dy, Lu, Sc, Y): "
        "metals, oxides, compounds, alloys, magnets",
        date(2025, 4, 4),
        None,
        "MOFCOM and GAC Announcement No. 18 of 2025 on Implementing Export Control on Certain Medium "
        "and Heavy Rare Earth Related Items (issued 4 April 2025), http://www.mofcom.gov.cn/",
        notes=("HS92 284690/280530 also hold light rare earths: a full cut over-states the effect",),
    ),
    Restriction(
        "CHN-ree-2025-10",
        "CHN",
        "rare_earths",
        (280530, 284610, 284690),
        "October 2025 package: five more medium/heavy rare earths (Ho, Er, Tm, Eu, Yb), rare-earth "
        "equipment and technologies, and a 0.1 % de minimis rule for foreign-made items",
        date(2025, 10, 9),
        date(2026, 11, 10),
        "MOFCOM and GAC Announcements No. 55-58 of 2025 and MOFCOM Announcements No. 61 and 62 of 2025 "
        "(issued 9 October 2025), suspended until 10 November 2026 by MOFCOM and GAC Announcement No. 70 "
        "of 2025 (issued 7 November 2025), http://www.mofcom.gov.cn/",
    ),
    Restriction(
        "COD-cobalt-2025-suspension",
        "COD",
        "cobalt",
        (810510, 282200),
        "temporary suspension of all cobalt exports (extended in June and September 2025)",
        date(2025, 2, 22),
        None,
        "ARECOMS (Autorité de Régulation et de Contrôle des Marchés des Substances Minérales "
        "Stratégiques), decision of 22 February 2025 suspending cobalt exports; extended by ARECOMS "
        "in June 2025 and to 15 October 2025 by Decision No. 004/ARECOMS/2025, https://arecoms.cd/",
        ended=date(2025, 10, 15),
    ),
    Restriction(
        "COD-cobalt-2025-quota",
        "COD",
        "cobalt",
        (810510, 282200),
        "export quotas: 18,125 t for 16 Oct-31 Dec 2025, 96,600 t a year in 2026 and 2027",
        date(2025, 10, 16),
        None,
        "ARECOMS Decision No. 004/ARECOMS/2025 (21 September 2025) replacing the suspension with "
        "quotas from 16 October 2025, https://arecoms.cd/",
        cut_pct=50.0,
        notes=("cut_pct 50: 96,600 t/yr against about 200,000 t of DRC mine output (USGS) is roughly half",),
    ),
    Restriction(
        "IDN-nickel-ore-2020",
        "IDN",
        "nickel",
        (260400,),
        "ban on exports of nickel ore (all grades)",
        date(2020, 1, 1),
        None,
        "Regulation of the Minister of Energy and Mineral Resources No. 11 of 2019 (Permen ESDM "
        "11/2019), second amendment to Regulation No. 25 of 2018 on Mineral and Coal Mining Business",
    ),
)


def seeded(restriction_id: str) -> Restriction:
    for r in SEEDED:
        if r.id == restriction_id:
            return r
    raise InputError(f"unknown restriction {restriction_id!r}; seeded: {', '.join(r.id for r in SEEDED)}")


def _date(value: object, what: str, where: str) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InputError(f"{where}: {what} must be an ISO date (YYYY-MM-DD), got {value!r}")


def from_table(row: dict[str, object], where: str) -> Restriction:
    """A restriction from a TOML table: ``id`` of a seeded row (with overrides) or a full definition."""
    base = seeded(str(row["id"])) if "id" in row and "country" not in row else None
    cut = row.get("cut_pct", base.cut_pct if base else 100.0)
    if not isinstance(cut, int | float) or not 0 <= cut <= 100:
        raise InputError(f"{where}: cut_pct must be a number from 0 to 100, got {cut!r}")
    if base is not None:
        return Restriction(
            base.id,
            base.country_iso3,
            base.mineral,
            base.hs,
            base.measure,
            base.effective,
            base.suspended_until,
            base.source,
            base.ended,
            float(cut),
            base.notes,
        )
    for key in ("country", "mineral", "measure", "effective", "source"):
        if key not in row:
            raise InputError(f"{where}: a restriction needs {key!r} (or the 'id' of a seeded one)")
    m = mineral(str(row["mineral"]))
    hs_raw = row.get("hs", list(m.hs_all))
    if not isinstance(hs_raw, list) or not all(isinstance(h, int) for h in hs_raw):
        raise InputError(f"{where}: hs must be a list of HS92 6-digit integers")
    until = row.get("suspended_until")
    return Restriction(
        str(row.get("id", f"{row['country']}-{m.key}")),
        str(row["country"]).upper(),
        m.key,
        tuple(hs_raw),
        str(row["measure"]),
        _date(row["effective"], "effective", where),
        None if until is None else _date(until, "suspended_until", where),
        str(row["source"]),
        None,
        float(cut),
    )
