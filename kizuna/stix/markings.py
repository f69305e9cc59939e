"""TLP markings: one rank for TLP 1.0, TLP 2.0 and OpenCTI's marking ids.

TLP levels rank CLEAR (= TLP 1.0 WHITE) < GREEN < AMBER < AMBER+STRICT < RED (FIRST TLP 2.0).
Any table of marking ids anywhere in kizuna must come from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Any

from kizuna.errors import InputError


class TLP(IntEnum):
    CLEAR = 0
    GREEN = 1
    AMBER = 2
    AMBER_STRICT = 3
    RED = 4

    @property
    def label(self) -> str:
        """The user-facing name: ``clear``, ``green``, ``amber``, ``amber+strict``, ``red``."""
        return _LABELS[self]

    def __str__(self) -> str:
        return f"TLP:{self.label.upper()}"


_LABELS = {
    TLP.CLEAR: "clear",
    TLP.GREEN: "green",
    TLP.AMBER: "amber",
    TLP.AMBER_STRICT: "amber+strict",
    TLP.RED: "red",
}

#: Extension id of the TLP 2.0 marking definitions (OASIS STIX Extensions, FIRST TLP 2.0).
TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

#: TLP 2.0 marking-definition ids (the ones kizuna writes).
TLP2_IDS: dict[TLP, str] = {
    TLP.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    TLP.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    TLP.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    TLP.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    TLP.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

#: TLP 1.0 ids predefined in STIX 2.1 section 7.2.1.4 (WHITE ranks as CLEAR).
TLP1_IDS: dict[TLP, str] = {
    TLP.CLEAR: "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    TLP.GREEN: "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    TLP.AMBER: "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    TLP.RED: "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}

#: TLP 1.0 id -> its ``definition.tlp`` name, as STIX 2.1 section 7.2.1.4 writes it (CLEAR is "white").
TLP1_NAMES: dict[str, str] = {
    mid: "white" if level is TLP.CLEAR else level.label for level, mid in TLP1_IDS.items()
}

#: OpenCTI reuses the TLP 1.0 ids (its TLP:CLEAR is the WHITE id) and adds a fixed id for AMBER+STRICT.
OPENCTI_IDS: dict[TLP, str] = {
    TLP.AMBER_STRICT: "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37",
}

#: Every known TLP marking id mapped onto one rank.
MARKING_RANK: dict[str, TLP] = {
    **{mid: level for level, mid in TLP1_IDS.items()},
    **{mid: level for level, mid in TLP2_IDS.items()},
    **{mid: level for level, mid in OPENCTI_IDS.items()},
}

_NAMES = {
    "clear": TLP.CLEAR,
    "white": TLP.CLEAR,
    "green": TLP.GREEN,
    "amber": TLP.AMBER,
    "amber+strict": TLP.AMBER_STRICT,
    "amber_strict": TLP.AMBER_STRICT,
    "red": TLP.RED,
}

LEVEL_CHOICES = ("clear", "green", "amber", "amber+strict", "red")


def parse_level(text: str) -> TLP:
    """``"amber+strict"``, ``"TLP:AMBER+STRICT"``, ``"white"`` ... -> :class:`TLP`. InputError otherwise."""
    key = text.strip().lower()
    if key.startswith("tlp:"):
        key = key[4:]
    try:
        return _NAMES[key]
    except KeyError:
        raise InputError(f"unknown TLP level {text!r}; expected one of {', '.join(LEVEL_CHOICES)}") from None


def marking_refs(obj: Mapping[str, Any]) -> list[str]:
    """Every marking id an object references: object markings and granular markings."""
    refs = [r for r in obj.get("object_marking_refs") or () if isinstance(r, str)]
    for gm in obj.get("granular_markings") or ():
        if isinstance(gm, Mapping) and isinstance(gm.get("marking_ref"), str):
            refs.append(gm["marking_ref"])
    return refs


def tlp_of_refs(refs: Iterable[str], known: Mapping[str, TLP | None] | None = None) -> TLP | None:
    """Highest TLP among marking ids; None when none of them is a TLP marking. ``known`` adds marking
    definitions the caller knows (custom markings that declare a TLP level, or None for other markings)."""
    best: TLP | None = None
    for ref in refs:
        level = MARKING_RANK.get(ref)
        if level is None and known is not None:
            level = known.get(ref)
        if level is not None and (best is None or level > best):
            best = level
    return best


def tlp_of(obj: Mapping[str, Any]) -> TLP | None:
    """The object's TLP from the predefined TLP markings it references (the highest among its object and
    granular markings; an object part of which is RED is served as RED); None when it references none.
    Custom markings are ranked by the hub, which knows their definitions (:func:`declared_tlp`)."""
    return tlp_of_refs(marking_refs(obj))


def marking_definition(level: TLP) -> dict[str, Any]:
    """The TLP 2.0 marking-definition object for ``level``, as published by FIRST/OASIS
    (cti-stix-common-objects, extension-definition-specifications/tlp-2.0)."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP2_IDS[level],
        "created": "2022-10-01T00:00:00.000Z",
        "name": str(level),
        "extensions": {TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": level.label}},
    }


def tlp1_marking_definition(level: TLP) -> dict[str, Any]:
    """The TLP 1.0 marking-definition object for ``level``, as STIX 2.1 section 7.2.1.4 predefines it."""
    name = TLP1_NAMES[TLP1_IDS[level]]
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP1_IDS[level],
        "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "tlp",
        "name": f"TLP:{name.upper()}",
        "definition": {"tlp": name},
    }


#: The reserved TLP marking-definition ids and the one definition each may carry.
PUBLISHED: dict[str, dict[str, Any]] = {
    **{TLP2_IDS[level]: marking_definition(level) for level in TLP},
    **{TLP1_IDS[level]: tlp1_marking_definition(level) for level in TLP1_IDS},
}


def reserved_refusal(obj: Mapping[str, Any]) -> str | None:
    """Why a marking-definition claiming a reserved TLP 1.0 or 2.0 id must be refused (it is not exactly
    the published definition of that id), or None."""
    published = PUBLISHED.get(str(obj.get("id")))
    if published is None or dict(obj) == published:
        return None
    return (
        f"claims the reserved id of {published['name']} but is not its published definition"
        " (TLP marking definitions cannot be redefined)"
    )


def declared_tlp(definition: Mapping[str, Any]) -> TLP | None:
    """The TLP level a marking-definition declares: through the TLP 2.0 extension (``tlp_2_0``) or a TLP 1.0
    ``definition``; None when it declares none (a statement, or something else)."""
    ext = definition.get("extensions")
    if isinstance(ext, Mapping):
        body = ext.get(TLP2_EXTENSION_ID)
        if isinstance(body, Mapping) and isinstance(body.get("tlp_2_0"), str):
            level = _NAMES.get(body["tlp_2_0"].strip().lower())
            if level is not None:
                return level
    if definition.get("definition_type") == "tlp":
        inner = definition.get("definition")
        if isinstance(inner, Mapping) and isinstance(inner.get("tlp"), str):
            return _NAMES.get(inner["tlp"].strip().lower())
    return None
