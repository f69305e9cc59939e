"""Country names and BACI trade codes mapped to ISO 3166-1 alpha-3, explicitly.

Every name that occurs in the shipped USGS and EU files is listed here; nothing is guessed by fuzzy
matching. A name or code that is not listed is reported by the loader (never silently dropped).

BACI uses its own numeric codes, which are *not* ISO 3166-1 numeric for a few partners. The known traps
are pinned explicitly in :data:`BACI_OVERRIDES`:

* 842 is the USA (ISO numeric 840), 699 is India (ISO 356), 251 is France (ISO 250),
  757 is Switzerland (ISO 756): the UN Comtrade "reporter" codes that include territories;
* 490 is "Other Asia, nes", which in UN Comtrade/BACI practice is Taiwan (Chinese Taipei); BACI gives it
  the pseudo ISO3 ``S19``; kizuna maps it to ``TWN`` and flags every row it touches (``baci490``).
"""

from __future__ import annotations

from typing import Final

#: Pseudo codes kizuna uses for aggregates that are not countries (never ISO codes).
WORLD: Final = "WLD"
OTHER: Final = "ROW"

#: Country names used by USGS MCS 2026 and the EU CRM 2023 files -> ISO3 (explicit, exhaustive).
NAME_TO_ISO3: Final[dict[str, str]] = {
    "Afghanistan": "AFG", "Albania": "ALB", "Algeria": "DZA", "Angola": "AGO", "Argentina": "ARG",
    "Armenia": "ARM", "Australia": "AUS", "Austria": "AUT", "Azerbaijan": "AZE", "Bahrain": "BHR",
    "Bangladesh": "BGD", "Barbados": "BRB", "Belarus": "BLR", "Belgium": "BEL", "Bhutan": "BTN",
    "Bolivia": "BOL", "Bosnia and Herzegovina": "BIH", "Botswana": "BWA", "Brazil": "BRA",
    "Brasil": "BRA", "Brasilia": "BRA", "Brunei Darussalam": "BRN", "Bulgaria": "BGR",
    "Burkina Faso": "BFA", "Burma": "MMR", "Myanmar": "MMR", "Burundi": "BDI", "Cambodia": "KHM",
    "Cameroon": "CMR", "Canada": "CAN", "Cape Verde": "CPV", "Central African Republic": "CAF",
    "Chile": "CHL", "China": "CHN", "Colombia": "COL", "Congo": "COG", "Congo (Kinshasa)": "COD",
    "Congo, D.R.": "COD", "Costa Rica": "CRI", "Cote d'Ivoire": "CIV", "Côte d’Ivoire": "CIV",
    "Croatia": "HRV", "Cuba": "CUB", "Cyprus": "CYP", "Czechia": "CZE", "Denmark": "DNK",
    "Dominican Republic": "DOM", "Ecuador": "ECU", "Egypt": "EGY", "El Salvador": "SLV",
    "Equatorial Guinea": "GNQ", "Eritrea": "ERI", "Estonia": "EST", "Ethiopia": "ETH", "Fiji": "FJI",
    "Finland": "FIN", "France": "FRA", "French Guiana": "GUF", "Gabon": "GAB", "Georgia": "GEO",
    "Germany": "DEU", "Ghana": "GHA", "Greece": "GRC", "Greenland": "GRL", "Grenada": "GRD",
    "Guatemala": "GTM", "Guinea": "GIN", "Guyana": "GUY", "Honduras": "HND", "Hong Kong": "HKG",
    "Hungary": "HUN", "Iceland": "ISL", "India": "IND", "Indonesia": "IDN", "Iran": "IRN", "Iraq": "IRQ",
    "Ireland": "IRL", "Israel": "ISR", "Italy": "ITA", "Jamaica": "JAM", "Japan": "JPN", "Jordan": "JOR",
    "Kazakhstan": "KAZ", "Kenya": "KEN", "Korea, North": "PRK", "Korea, Republic of": "KOR",
    "Korea, South": "KOR", "South Korea": "KOR", "Kosovo": "XKX", "Kuwait": "KWT", "Kyrgyzstan": "KGZ",
    "Laos": "LAO", "Latvia": "LVA", "Lebanon": "LBN", "Libanon": "LBN", "Lesotho": "LSO",
    "Liberia": "LBR", "Libya": "LBY", "Lithuania": "LTU", "Luxembourg": "LUX", "Madagascar": "MDG",
    "Malawi": "MWI", "Malaysia": "MYS", "Mali": "MLI", "Mauritania": "MRT", "Mauritius": "MUS",
    "Mexico": "MEX", "Moldova": "MDA", "Mongolia": "MNG", "Montenegro": "MNE", "Morocco": "MAR",
    "Mozambique": "MOZ", "Namibia": "NAM", "Nauru": "NRU", "Nepal": "NPL", "Netherlands": "NLD",
    "New Caledonia": "NCL", "New Zealand": "NZL", "Nicaragua": "NIC", "Niger": "NER", "Nigeria": "NGA",
    "North Macedonia": "MKD", "Norway": "NOR", "Oman": "OMN", "Pakistan": "PAK", "Panama": "PAN",
    "Papua New Guinea": "PNG", "Paraguay": "PRY", "Peru": "PER", "Philippines": "PHL", "Poland": "POL",
    "Portugal": "PRT", "Qatar": "QAT", "Romania": "ROU", "Russia": "RUS", "Rwanda": "RWA",
    "San Marino": "SMR", "Saudi Arabia": "SAU", "Senegal": "SEN", "Serbia": "SRB",
    "Sierra Leone": "SLE", "Singapore": "SGP", "Slovakia": "SVK", "Slovenia": "SVN",
    "Solomon Islands": "SLB", "South Africa": "ZAF", "Spain": "ESP", "Sri Lanka": "LKA", "Sudan": "SDN",
    "Suriname": "SUR", "Surinam": "SUR", "Sweden": "SWE", "Switzerland": "CHE", "Syria": "SYR",
    "Taiwan": "TWN", "Tajikistan": "TJK", "Tanzania": "TZA", "Thailand": "THA", "The Bahamas": "BHS",
    "Togo": "TGO", "Trinidad and Tobago": "TTO", "Tunisia": "TUN", "Turkey": "TUR", "Türkiye": "TUR",
    "Turkyie": "TUR", "Turkmenistan": "TKM", "Uganda": "UGA", "Ukraine": "UKR",
    "United Arab Emirates": "ARE", "United Kingdom": "GBR", "United States": "USA", "Uruguay": "URY",
    "Uzbekistan": "UZB", "Venezuela": "VEN", "Vietnam": "VNM", "Yemen": "YEM", "Zambia": "ZMB",
    "Zimbabwe": "ZWE",
    # aggregates (pseudo codes, flagged by the loaders)
    "World total": WORLD,
    "Other countries": OTHER,
}  # fmt: skip

#: BACI codes whose ISO3 is pinned here rather than read from the codes table (see module docstring).
BACI_OVERRIDES: Final[dict[int, str]] = {
    842: "USA",
    699: "IND",
    251: "FRA",
    757: "CHE",
    490: "TWN",
}

#: ISO3-like codes in BACI's table that are not countries kizuna can attribute (reported, not used).
BACI_NON_COUNTRY: Final[frozenset[str]] = frozenset(
    {"S19", "R20", "ZA1", "SCG", "SUN", "CSK", "DDR", "PUS", "ANT"}
)

#: Partners of the exchange and the allied suppliers the diversification LP may favour.
PARTNERS: Final = ("GBR", "JPN")
EU27: Final = frozenset(
    {"AUT", "BEL", "BGR", "HRV", "CYP", "CZE", "DNK", "EST", "FIN", "FRA", "DEU", "GRC", "HUN", "IRL",
     "ITA", "LVA", "LTU", "LUX", "MLT", "NLD", "POL", "PRT", "ROU", "SVK", "SVN", "ESP", "SWE"}
)  # fmt: skip
ALLIED: Final = frozenset({"GBR", "JPN", "USA", "CAN", "AUS", "NZL", "KOR", "NOR", "CHE", "ISL"} | EU27)


def iso3_of_name(name: str) -> str | None:
    """ISO3 for a country name as the USGS/EU files spell it; None when the name is not listed."""
    return NAME_TO_ISO3.get(name.strip().replace("\xa0", " "))
