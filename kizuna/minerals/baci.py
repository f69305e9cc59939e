"""CEPII BACI bilateral trade (HS92) as a columnar table with ISO3 partners.

``t,i,j,k,v,q`` = year, exporter code, importer code, HS92 6-digit product, value (thousand current USD),
quantity (metric tons; empty = not available). Codes are BACI's own (see
:mod:`kizuna.minerals.countries` for the 842/699/251/757/490 traps); each is mapped explicitly to ISO3.
Rows whose partner cannot be attributed to a country, or that are malformed, are reported in the
:class:`~kizuna.minerals.tidy.LoadReport` with their line, never dropped silently.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kizuna.errors import InputError
from kizuna.minerals.countries import BACI_NON_COUNTRY, BACI_OVERRIDES
from kizuna.minerals.tidy import LoadReport, Rejected

_TRADE_HEADER = ["t", "i", "j", "k", "v", "q"]
_CODES_HEADER = ["country_code", "country_name", "country_iso2", "country_iso3"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BaciCountry:
    code: int
    name: str
    iso3: str | None  # None: not attributable to a country (reported)
    flag: str


def _fix_mojibake(name: str) -> str:
    """The codes table holds UTF-8 read as Latin-1 and re-encoded (``CuraÃ§ao``); undo that."""
    try:
        return name.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return name


def load_country_codes(path: Path) -> dict[int, BaciCountry]:
    out: dict[int, BaciCountry] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.lstrip("\ufeff") for h in header] != _CODES_HEADER:
            raise InputError(f"unexpected header {header!r}", path=str(path), line=1)
        for rec in reader:
            line = reader.line_num
            try:
                code = int(rec[0])
            except (ValueError, IndexError):
                raise InputError(f"malformed country code row {rec!r}", path=str(path), line=line) from None
            name, iso3 = _fix_mojibake(rec[1]), rec[3].strip()
            if code in BACI_OVERRIDES:
                out[code] = BaciCountry(code, name, BACI_OVERRIDES[code], f"baci{code}")
            elif iso3 in BACI_NON_COUNTRY or len(iso3) != 3 or not iso3.isalpha() or not iso3.isupper():
                out[code] = BaciCountry(code, name, None, "non_country")
            else:
                out[code] = BaciCountry(code, name, iso3, "")
    return out


@dataclass(slots=True)
class TradeTable:
    """Columns of the kept trade rows; ``exporter``/``importer`` index :attr:`iso3`."""

    year: IntArray
    exporter: IntArray
    importer: IntArray
    hs: IntArray
    value_kusd: FloatArray
    qty_t: FloatArray  # NaN = quantity not available
    line: IntArray  # 1-based line of each row in the source file
    iso3: list[str]
    via_490: npt.NDArray[np.bool_]  # a partner was BACI 490 ("Other Asia, nes") mapped to TWN

    def __len__(self) -> int:
        return int(self.year.shape[0])

    def index_of(self, iso3: str) -> int | None:
        try:
            return self.iso3.index(iso3)
        except ValueError:
            return None

    def select(
        self,
        *,
        years: int | list[int] | None = None,
        hs: list[int] | None = None,
        exporter: str | None = None,
        importer: str | None = None,
    ) -> npt.NDArray[np.bool_]:
        """Boolean mask for rows matching every given filter."""
        mask = np.ones(len(self), dtype=bool)
        if years is not None:
            ys = [years] if isinstance(years, int) else years
            mask &= np.isin(self.year, ys)
        if hs is not None:
            mask &= np.isin(self.hs, hs)
        for col, who in ((self.exporter, exporter), (self.importer, importer)):
            if who is not None:
                idx = self.index_of(who)
                if idx is None:
                    mask &= False
                else:
                    mask &= col == idx
        return mask


def load_trade(
    path: Path, codes: dict[int, BaciCountry], *, role: str = "baci"
) -> tuple[TradeTable, LoadReport]:
    report = LoadReport()
    iso_list: list[str] = []
    iso_index: dict[str, int] = {}
    code_index: dict[int, int] = {}
    for code, c in codes.items():
        if c.iso3 is None:
            continue
        if c.iso3 not in iso_index:
            iso_index[c.iso3] = len(iso_list)
            iso_list.append(c.iso3)
        code_index[code] = iso_index[c.iso3]

    cols: list[list[int]] = [[], [], [], [], []]  # year, exp, imp, hs, line
    vals: list[float] = []
    qtys: list[float] = []
    f490: list[bool] = []
    nan = float("nan")
    with path.open(encoding="utf-8", newline="") as fh:
        header = fh.readline().rstrip("\r\n").lstrip("\ufeff").split(",")
        if header != _TRADE_HEADER:
            raise InputError(
                f"unexpected header {header!r}; expected {_TRADE_HEADER!r}", path=str(path), line=1
            )
        for lineno, text in enumerate(fh, start=2):
            text = text.rstrip("\r\n")
            if not text:
                continue
            report.rows_read += 1
            parts = text.split(",")
            try:
                if len(parts) != 6:
                    raise InputError(f"{len(parts)} fields, expected 6")
                t, i, j, k = int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3])
                v = float(parts[4])
                q = float(parts[5]) if parts[5] != "" else nan
            except ValueError as exc:
                report.rejected.append(Rejected(role, lineno, f"malformed trade row: {exc}", text))
                continue
            ei, ii = code_index.get(i), code_index.get(j)
            if ei is None or ii is None:
                bad = i if ei is None else j
                known = codes.get(bad)
                why = (
                    f"BACI code {bad} ({known.name}) is not a country"
                    if known
                    else f"BACI code {bad} is not in the codes table"
                )
                report.rejected.append(Rejected(role, lineno, why, text))
                continue
            cols[0].append(t)
            cols[1].append(ei)
            cols[2].append(ii)
            cols[3].append(k)
            cols[4].append(lineno)
            vals.append(v)
            qtys.append(q)
            f490.append(i == 490 or j == 490)
            report.rows_kept += 1
    table = TradeTable(
        year=np.asarray(cols[0], dtype=np.int64),
        exporter=np.asarray(cols[1], dtype=np.int64),
        importer=np.asarray(cols[2], dtype=np.int64),
        hs=np.asarray(cols[3], dtype=np.int64),
        value_kusd=np.asarray(vals, dtype=np.float64),
        qty_t=np.asarray(qtys, dtype=np.float64),
        line=np.asarray(cols[4], dtype=np.int64),
        iso3=iso_list,
        via_490=np.asarray(f490, dtype=bool),
    )
    return table, report
