"""kizuna.stix.markings: TLP 1.0, TLP 2.0 and OpenCTI marking ids map onto one rank."""

from __future__ import annotations

from typing import Any

import pytest
import stix2

from kizuna.errors import InputError
from kizuna.stix.markings import (
    LEVEL_CHOICES,
    MARKING_RANK,
    OPENCTI_IDS,
    TLP,
    TLP1_IDS,
    TLP2_EXTENSION_ID,
    TLP2_IDS,
    marking_definition,
    parse_level,
    tlp_of,
    tlp_of_refs,
)
from kizuna.stix.validate import validate_object

# Reference ids from outside kizuna:
# - TLP 1.0: the predefined marking definitions of STIX 2.1 section 7.2.1.4, as the stix2 library ships them;
# - TLP 2.0: OASIS cti-stix-common-objects, objects/marking-definition/ (FIRST TLP 2.0 extension);
# - OpenCTI: its fixed TLP:AMBER+STRICT id (OpenCTI uses the TLP 1.0 ids for the other levels).
TLP1_REFERENCE = {
    stix2.TLP_WHITE.id: TLP.CLEAR,
    stix2.TLP_GREEN.id: TLP.GREEN,
    stix2.TLP_AMBER.id: TLP.AMBER,
    stix2.TLP_RED.id: TLP.RED,
}
TLP2_REFERENCE = {
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": TLP.CLEAR,
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": TLP.GREEN,
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": TLP.AMBER,
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": TLP.AMBER_STRICT,
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": TLP.RED,
}
OPENCTI_REFERENCE = {"marking-definition--826578e1-40ad-459f-bc73-ede076f81f37": TLP.AMBER_STRICT}
#: OASIS cti-stix-common-objects, objects/marking-definition/marking-definition--939a9414-....json
OASIS_AMBER_STRICT = {
    "type": "marking-definition",
    "spec_version": "2.1",
    "id": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "created": "2022-10-01T00:00:00.000Z",
    "name": "TLP:AMBER+STRICT",
    "extensions": {
        "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
            "extension_type": "property-extension",
            "tlp_2_0": "amber+strict",
        }
    },
}


def test_rank_order() -> None:
    assert TLP.CLEAR < TLP.GREEN < TLP.AMBER < TLP.AMBER_STRICT < TLP.RED


@pytest.mark.parametrize(
    ("marking_id", "level"),
    [*TLP1_REFERENCE.items(), *TLP2_REFERENCE.items(), *OPENCTI_REFERENCE.items()],
)
def test_every_known_id_maps_to_its_rank(marking_id: str, level: TLP) -> None:
    assert MARKING_RANK[marking_id] is level
    assert tlp_of_refs([marking_id]) is level
    assert tlp_of({"object_marking_refs": [marking_id]}) is level


def test_tables_hold_exactly_the_reference_ids() -> None:
    assert {v: k for k, v in TLP1_IDS.items()} == TLP1_REFERENCE
    assert {v: k for k, v in TLP2_IDS.items()} == TLP2_REFERENCE
    assert {v: k for k, v in OPENCTI_IDS.items()} == OPENCTI_REFERENCE
    assert MARKING_RANK == {**TLP1_REFERENCE, **TLP2_REFERENCE, **OPENCTI_REFERENCE}


def test_tlp1_white_and_tlp2_clear_are_one_rank() -> None:
    white, clear = stix2.TLP_WHITE.id, TLP2_IDS[TLP.CLEAR]
    assert tlp_of_refs([white]) is tlp_of_refs([clear]) is TLP.CLEAR


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("clear", TLP.CLEAR),
        ("white", TLP.CLEAR),
        ("TLP:WHITE", TLP.CLEAR),
        ("green", TLP.GREEN),
        ("  Green ", TLP.GREEN),
        ("amber", TLP.AMBER),
        ("TLP:AMBER", TLP.AMBER),
        ("amber+strict", TLP.AMBER_STRICT),
        ("TLP:AMBER+STRICT", TLP.AMBER_STRICT),
        ("amber_strict", TLP.AMBER_STRICT),
        ("red", TLP.RED),
        ("tlp:red", TLP.RED),
    ],
)
def test_parse_level(text: str, level: TLP) -> None:
    assert parse_level(text) is level


@pytest.mark.parametrize("text", ["", "pink", "amber strict", "TLP:", "tlp:ambe", "4"])
def test_parse_level_rejects(text: str) -> None:
    with pytest.raises(InputError, match="unknown TLP level"):
        parse_level(text)


def test_labels_round_trip() -> None:
    assert [level.label for level in TLP] == list(LEVEL_CHOICES)
    for level in TLP:
        assert parse_level(level.label) is level
        assert parse_level(str(level)) is level
    assert str(TLP.AMBER_STRICT) == "TLP:AMBER+STRICT"


def test_highest_marking_wins() -> None:
    refs = [
        TLP2_IDS[TLP.GREEN],
        stix2.TLP_AMBER.id,
        "marking-definition--00000000-0000-4000-8000-000000000001",
    ]
    assert tlp_of_refs(refs) is TLP.AMBER
    assert tlp_of_refs(["marking-definition--00000000-0000-4000-8000-000000000001"]) is None
    assert tlp_of_refs([]) is None
    assert tlp_of({}) is None


def test_granular_markings_count() -> None:
    obj: dict[str, Any] = {
        "object_marking_refs": [TLP2_IDS[TLP.GREEN]],
        "granular_markings": [
            {"marking_ref": TLP2_IDS[TLP.RED], "selectors": ["description"]},
            {"lang": "en", "selectors": ["name"]},
        ],
    }
    assert tlp_of(obj) is TLP.RED
    only_granular = {
        "granular_markings": [{"marking_ref": OPENCTI_IDS[TLP.AMBER_STRICT], "selectors": ["x"]}]
    }
    assert tlp_of(only_granular) is TLP.AMBER_STRICT


def test_marking_definition_is_the_oasis_object() -> None:
    assert marking_definition(TLP.AMBER_STRICT) == OASIS_AMBER_STRICT
    assert TLP2_EXTENSION_ID == "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"


@pytest.mark.parametrize("level", list(TLP))
def test_marking_definitions_validate(level: TLP) -> None:
    md = marking_definition(level)
    assert md["id"] == TLP2_IDS[level]
    assert md["extensions"][TLP2_EXTENSION_ID]["tlp_2_0"] == level.label
    assert validate_object(md).id == TLP2_IDS[level]
