"""validate_object: valid objects of every type pass, each rule's violation fails with a precise reason."""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import stix2
from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.errors import InvalidObject
from kizuna.stix import validate as validate_module
from kizuna.stix._checks import check_timestamp, timestamp_key
from kizuna.stix._schema import SPECS
from kizuna.stix.ids import parse_timestamp
from kizuna.stix.markings import TLP, TLP1_IDS, TLP2_IDS
from kizuna.stix.validate import ValidatedObject, validate_object
from tests.stix.examples import CREATED, IDENTITY_ID, MODIFIED, all_valid

VALID = all_valid()
SDO_TYPES = (
    *("attack-pattern", "campaign", "course-of-action", "grouping", "identity", "incident", "indicator"),
    *("infrastructure", "intrusion-set", "location", "malware", "malware-analysis", "note", "observed-data"),
    *("opinion", "report", "threat-actor", "tool", "vulnerability"),
)
SRO_META_TYPES = (
    "relationship",
    "sighting",
    "language-content",
    "marking-definition",
    "extension-definition",
)
SCO_TYPES = (
    *("artifact", "autonomous-system", "directory", "domain-name", "email-addr", "email-message", "file"),
    *("ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic", "process", "software", "url"),
    *("user-account", "windows-registry-key", "x509-certificate"),
)
ALL_TYPES = (*SDO_TYPES, *SRO_META_TYPES, *SCO_TYPES)

#: Required properties per type, from the property tables of STIX 2.1 (common ones aside).
REQUIRED_BY_SPEC: dict[str, tuple[str, ...]] = {
    "attack-pattern": ("name",),
    "campaign": ("name",),
    "course-of-action": ("name",),
    "grouping": ("context", "object_refs"),
    "identity": ("name",),
    "incident": ("name",),
    "indicator": ("pattern", "pattern_type", "valid_from"),
    "infrastructure": ("name",),
    "intrusion-set": ("name",),
    "malware": ("is_family",),
    "malware-analysis": ("product",),
    "note": ("content", "object_refs"),
    "observed-data": ("first_observed", "last_observed", "number_observed"),
    "opinion": ("opinion", "object_refs"),
    "report": ("name", "published", "object_refs"),
    "threat-actor": ("name",),
    "tool": ("name",),
    "vulnerability": ("name",),
    "relationship": ("relationship_type", "source_ref", "target_ref"),
    "sighting": ("sighting_of_ref",),
    "language-content": ("object_ref", "contents"),
    "extension-definition": ("created_by_ref", "name", "schema", "version", "extension_types"),
    "autonomous-system": ("number",),
    "directory": ("path",),
    "domain-name": ("value",),
    "email-addr": ("value",),
    "email-message": ("is_multipart",),
    "ipv4-addr": ("value",),
    "ipv6-addr": ("value",),
    "mac-addr": ("value",),
    "mutex": ("name",),
    "network-traffic": ("protocols",),
    "software": ("name",),
    "url": ("value",),
}


def base(stix_type: str, **where: Any) -> dict[str, Any]:
    """A deep copy of the first valid example of ``stix_type`` (whose properties include ``where``)."""
    for obj in VALID:
        if obj["type"] == stix_type and all(obj.get(k) == v for k, v in where.items()):
            return copy.deepcopy(obj)
    raise LookupError(stix_type)


def test_examples_cover_every_type() -> None:
    assert set(ALL_TYPES) <= {o["type"] for o in VALID}


@pytest.mark.parametrize("obj", VALID, ids=[f"{o['type']}-{i}" for i, o in enumerate(VALID)])
def test_valid_examples_validate(obj: dict[str, Any]) -> None:
    result = validate_object(obj)
    assert result.id == obj["id"]
    assert result.type == obj["type"]
    assert result.spec_version == "2.1"
    assert result.created_by_ref == obj.get("created_by_ref")
    assert result.revoked is bool(obj.get("revoked", False))


def test_validated_object_fields() -> None:
    ind = base("indicator")
    got = validate_object(ind)
    assert got == ValidatedObject(
        id=ind["id"],
        type="indicator",
        spec_version="2.1",
        created=CREATED,
        modified=MODIFIED,
        version_key=MODIFIED,
        tlp=TLP.GREEN,
        created_by_ref=IDENTITY_ID,
        revoked=False,
    )
    md = validate_object(base("marking-definition", id=TLP2_IDS[TLP.RED]))
    assert (md.created, md.modified, md.version_key, md.tlp) == (
        "2022-10-01T00:00:00.000Z",
        "2022-10-01T00:00:00.000Z",
        "2022-10-01T00:00:00.000Z",
        None,  # the definition of TLP:RED is not itself marked
    )
    sco = base("ipv4-addr")
    sco["object_marking_refs"] = [TLP1_IDS[TLP.AMBER]]
    got_sco = validate_object(sco)
    assert (got_sco.created, got_sco.modified, got_sco.version_key, got_sco.tlp) == (
        None,
        None,
        "",
        TLP.AMBER,
    )
    revoked = base("malware") | {"revoked": True}
    assert validate_object(revoked).revoked is True
    custom = validate_object(base("x-acme-asset"))
    assert (custom.created, custom.modified, custom.version_key) == (CREATED, MODIFIED, MODIFIED)
    custom_sco = validate_object(base("my-favorite-sco"))
    assert (custom_sco.created, custom_sco.version_key) == (None, "")


def test_validated_object_is_frozen() -> None:
    got = validate_object(base("url"))
    with pytest.raises(AttributeError):
        got.id = "x"  # type: ignore[misc]


def test_public_surface() -> None:
    assert validate_module.__all__ == ["ValidatedObject", "validate_object"]


def test_sco_without_spec_version_is_valid() -> None:
    sco = base("domain-name")
    del sco["spec_version"]
    assert validate_object(sco).type == "domain-name"


@pytest.mark.parametrize(
    ("stix_type", "value"),
    [
        ("ipv4-addr", "10.0.0.0/8"),
        ("ipv4-addr", "0.0.0.0"),
        ("ipv4-addr", "255.255.255.255/32"),
        ("ipv4-addr", "198.51.100.3/24"),
        ("ipv6-addr", "2001:db8::1"),
        ("ipv6-addr", "2001:db8::/32"),
        ("ipv6-addr", "::ffff:198.51.100.1"),
        ("mac-addr", "00:00:5e:00:53:af"),
    ],
)
def test_address_values(stix_type: str, value: str) -> None:
    assert validate_object(base(stix_type) | {"value": value}).type == stix_type


def test_defanged_values_are_not_format_checked() -> None:
    obj = base("ipv4-addr") | {"value": "198.51.100[.]1", "defanged": True}
    assert validate_object(obj).type == "ipv4-addr"
    obj["defanged"] = False
    with pytest.raises(InvalidObject, match="must be an IPv4 address"):
        validate_object(obj)


def test_sub_millisecond_precision_compares_as_time() -> None:
    obj = base("campaign") | {"created": "2016-04-06T20:03:00.1200Z", "modified": "2016-04-06T20:03:00.120Z"}
    assert validate_object(obj).version_key == "2016-04-06T20:03:00.120Z"
    obj["modified"] = "2016-04-06T20:03:00.1199999Z"
    with pytest.raises(InvalidObject, match="'modified' must not be earlier than 'created'"):
        validate_object(obj)


def test_non_stix_pattern_is_not_parsed() -> None:
    obj = base("indicator") | {"pattern_type": "sigma", "pattern": "title: x\ndetection: {}"}
    assert validate_object(obj).type == "indicator"


@pytest.mark.parametrize(
    ("stix_type", "prop"),
    [(t, p) for t, props in REQUIRED_BY_SPEC.items() for p in props],
)
def test_required_property_missing(stix_type: str, prop: str) -> None:
    obj = base(stix_type)
    del obj[prop]
    with pytest.raises(InvalidObject) as info:
        validate_object(obj)
    assert str(info.value) == f"{obj['id']}: property '{prop}' is required"


@pytest.mark.parametrize(
    "stix_type", [t for t in ALL_TYPES if t not in SCO_TYPES and t != "marking-definition"]
)
@pytest.mark.parametrize("prop", ["created", "modified", "spec_version"])
def test_common_required_on_sdo_sro_meta(stix_type: str, prop: str) -> None:
    obj = base(stix_type)
    del obj[prop]
    with pytest.raises(InvalidObject, match=f"property '{prop}' is required"):
        validate_object(obj)


Mutation = Callable[[dict[str, Any]], Any]


def _set(**props: Any) -> Mutation:
    def mutate(obj: dict[str, Any]) -> None:
        obj.update(props)

    return mutate


def _drop(*names: str) -> Mutation:
    def mutate(obj: dict[str, Any]) -> None:
        for n in names:
            obj.pop(n, None)

    return mutate


def _ext(key: str, body: Any) -> Mutation:
    return _set(extensions={key: body})


M = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
U = "6ba7b810-9dad-41d1-80b4-00c04fd430c8"

# (case id, base type, mutation, expected substring of the reason)
INVALID: list[tuple[str, str, Mutation, str]] = [
    # type and id
    ("type-missing", "indicator", _drop("type"), "property 'type' is required"),
    ("type-upper", "indicator", _set(type="Indicator"), "'type' must be 3-250 characters of a-z, 0-9"),
    ("type-short", "indicator", _set(type="ab"), "'type' must be 3-250 characters"),
    ("type-long", "indicator", _set(type="x" * 251), "'type' must be 3-250 characters"),
    ("type-digit-first", "indicator", _set(type="1abc"), "starting with a letter"),
    ("type-not-string", "indicator", _set(type=5), "'type' must be 3-250"),
    ("id-missing", "indicator", _drop("id"), "indicator: property 'id' is required"),
    (
        "id-prefix",
        "indicator",
        _set(id=f"malware--{U}"),
        "'id' type prefix 'malware' does not match type 'indicator'",
    ),
    ("id-no-uuid", "indicator", _set(id="indicator--1234"), "lower-case RFC 4122 UUID"),
    ("id-upper-uuid", "indicator", _set(id=f"indicator--{U.upper()}"), "lower-case RFC 4122 UUID"),
    ("id-variant", "indicator", _set(id="indicator--6ba7b810-9dad-41d1-00b4-00c04fd430c8"), "RFC 4122 UUID"),
    ("id-garbage", "indicator", _set(id="not an id"), "'id' must be 'indicator--<UUID>'"),
    ("id-not-string", "indicator", _set(id=7), "'id' must be a string"),
    # spec_version
    ("spec-version-20", "indicator", _set(spec_version="2.0"), "'spec_version' must be '2.1', not '2.0'"),
    ("sco-spec-version-20", "ipv4-addr", _set(spec_version="2.0"), "'spec_version' must be '2.1'"),
    # timestamps
    (
        "created-no-millis",
        "malware",
        _set(created="2016-04-06T20:03:00Z"),
        "precise to at least the millisecond",
    ),
    (
        "modified-centis",
        "malware",
        _set(modified="2016-04-06T20:03:48.12Z"),
        "precise to at least the millisecond",
    ),
    (
        "created-offset",
        "malware",
        _set(created="2016-04-06T20:03:00.000+00:00"),
        "not an RFC 3339 UTC timestamp",
    ),
    ("created-lower-z", "malware", _set(created="2016-04-06t20:03:00.000z"), "not an RFC 3339 UTC timestamp"),
    ("created-feb-30", "malware", _set(created="2016-02-30T20:03:00.000Z"), "is not a valid date"),
    ("created-hour-24", "malware", _set(created="2016-02-01T24:03:00.000Z"), "not an RFC 3339 UTC timestamp"),
    ("created-leap-second", "malware", _set(created="2016-12-31T23:59:60.000Z"), "not an RFC 3339"),
    ("created-unicode-digit", "malware", _set(created="2016-04-06T20:03:0\u0662.000Z"), "not an RFC 3339"),
    ("created-newline", "malware", _set(created="2016-04-06T20:03:00.000Z\n"), "not an RFC 3339"),
    ("created-number", "malware", _set(created=1459972980), "must be a timestamp string"),
    (
        "modified-before-created",
        "malware",
        _set(modified="2016-04-06T20:02:59.999Z"),
        "'modified' must not be earlier than 'created'",
    ),
    ("first-seen-bad", "campaign", _set(first_seen="yesterday"), "property 'first_seen' is not an RFC 3339"),
    (
        "last-before-first-seen",
        "campaign",
        _set(last_seen="2016-01-01T00:00:00Z"),
        "'last_seen' must not be earlier than 'first_seen'",
    ),
    # common properties
    (
        "created-by-wrong-type",
        "malware",
        _set(created_by_ref=f"malware--{U}"),
        "property 'created_by_ref' must be an identifier of type 'identity', not a 'malware'",
    ),
    (
        "created-by-not-id",
        "malware",
        _set(created_by_ref="ACME"),
        "property 'created_by_ref' must be an identifier",
    ),
    (
        "marking-refs-not-list",
        "malware",
        _set(object_marking_refs=M),
        "property 'object_marking_refs' must be a list",
    ),
    ("marking-refs-empty", "malware", _set(object_marking_refs=[]), "must not be an empty list"),
    (
        "marking-refs-wrong-type",
        "malware",
        _set(object_marking_refs=[IDENTITY_ID]),
        "property 'object_marking_refs' item 0 must be an identifier of type 'marking-definition'",
    ),
    ("labels-not-strings", "malware", _set(labels=["a", 3]), "property 'labels' item 1 must be a string"),
    ("labels-string", "malware", _set(labels="apt"), "property 'labels' must be a list"),
    ("revoked-string", "malware", _set(revoked="yes"), "property 'revoked' must be true or false"),
    ("confidence-range", "malware", _set(confidence=101), "property 'confidence' must be <= 100"),
    ("confidence-float", "malware", _set(confidence=50.0), "property 'confidence' must be an integer"),
    ("lang-not-string", "malware", _set(lang=["en"]), "property 'lang' must be a string"),
    (
        "extref-no-source",
        "malware",
        _set(external_references=[{"url": "https://x"}]),
        "is missing 'source_name'",
    ),
    (
        "extref-only-source",
        "malware",
        _set(external_references=[{"source_name": "x"}]),
        "needs one of 'description', 'url', 'external_id'",
    ),
    (
        "extref-bad-hash",
        "malware",
        _set(external_references=[{"source_name": "x", "url": "https://x", "hashes": {"MD5": "zz"}}]),
        "'MD5' is not a valid MD5 hash",
    ),
    (
        "kill-chain-no-phase",
        "attack-pattern",
        _set(kill_chain_phases=[{"kill_chain_name": "x"}]),
        "is missing 'phase_name'",
    ),
    (
        "granular-both",
        "malware",
        _set(granular_markings=[{"lang": "en", "marking_ref": M, "selectors": ["name"]}]),
        "needs exactly one of 'lang', 'marking_ref'",
    ),
    (
        "granular-no-selectors",
        "malware",
        _set(granular_markings=[{"marking_ref": M}]),
        "is missing 'selectors'",
    ),
    (
        "granular-empty-selectors",
        "malware",
        _set(granular_markings=[{"marking_ref": M, "selectors": []}]),
        "must not be an empty list",
    ),
    (
        "granular-bad-ref",
        "malware",
        _set(granular_markings=[{"marking_ref": IDENTITY_ID, "selectors": ["name"]}]),
        "of type 'marking-definition'",
    ),
    (
        "granular-selector-missing",
        "malware",
        _set(granular_markings=[{"marking_ref": M, "selectors": ["description"]}]),
        "granular marking selector 'description' does not select a property",
    ),
    (
        "granular-selector-index",
        "malware",
        _set(granular_markings=[{"marking_ref": M, "selectors": ["kill_chain_phases.[5].phase_name"]}]),
        "does not select a property",
    ),
    # custom properties and extensions
    ("custom-upper", "malware", _set(X_Acme="x"), "property 'X_Acme' is not a property of this type"),
    ("custom-short", "malware", _set(xy="x"), "not a valid custom property name"),
    ("custom-hyphen", "malware", _set(**{"x-acme": 1}), "not a valid custom property name"),
    ("custom-null", "malware", _set(x_acme=None), "property 'x_acme' must not be null"),
    ("custom-empty-list", "malware", _set(x_acme=[]), "property 'x_acme' must not be an empty list"),
    ("ext-empty", "malware", _set(extensions={}), "property 'extensions' must be a non-empty JSON object"),
    ("ext-bad-key", "malware", _ext("acme", {}), "extension key 'acme' must be an extension-definition id"),
    (
        "ext-bad-id",
        "malware",
        _ext("extension-definition--1234", {}),
        "is not a valid extension-definition id",
    ),
    ("ext-not-object", "malware", _ext(f"extension-definition--{U}", "x"), "must be a JSON object"),
    (
        "ext-bad-type",
        "malware",
        _ext(f"extension-definition--{U}", {"extension_type": "new-thing"}),
        "'extension_type' must be one of",
    ),
    # indicator
    (
        "pattern-syntax",
        "indicator",
        _set(pattern="[file:size = 01]"),
        "pattern does not parse: Error found at",
    ),
    ("pattern-no-brackets", "indicator", _set(pattern="file:name = 'x'"), "pattern does not parse:"),
    (
        "pattern-bad-hash",
        "indicator",
        _set(pattern="[file:hashes.MD5 = 'abc']"),
        "pattern does not parse: 'abc' is not a valid MD5 hash",
    ),
    ("pattern-empty", "indicator", _set(pattern=""), "pattern does not parse"),
    (
        "pattern-not-string",
        "indicator",
        _set(pattern=["[url:value = 'x']"]),
        "property 'pattern' must be a string",
    ),
    (
        "valid-until-equal",
        "indicator",
        _set(valid_until="2016-01-01T00:00:00Z"),
        "'valid_until' must be later than 'valid_from'",
    ),
    (
        "valid-until-before",
        "indicator",
        _set(valid_until="2015-12-31T23:59:59.999Z"),
        "'valid_until' must be later than 'valid_from'",
    ),
    # SDO specifics
    ("opinion-enum", "opinion", _set(opinion="meh"), "property 'opinion' must be one of agree, disagree"),
    ("malware-family-no-name", "malware", _drop("name"), "'name' is required when 'is_family' is true"),
    (
        "malware-is-family-string",
        "malware",
        _set(is_family="true"),
        "property 'is_family' must be true or false",
    ),
    ("malware-sample-refs", "malware", _set(sample_refs=[f"url--{U}"]), "of type 'artifact' or 'file'"),
    ("location-nowhere", "location", _drop("region", "country"), "needs 'region', 'country', or 'latitude'"),
    (
        "location-lat-range",
        "location",
        _set(latitude=91.0, longitude=0.0),
        "property 'latitude' must be between",
    ),
    ("location-lat-alone", "location", _set(latitude=10.0), "'latitude' requires 'longitude'"),
    ("location-precision-alone", "location", _set(precision=10.0), "'precision' requires 'latitude'"),
    ("grouping-refs-not-ids", "grouping", _set(object_refs=["x"]), "property 'object_refs' item 0 must be"),
    ("observed-zero", "observed-data", _set(number_observed=0), "property 'number_observed' must be >= 1"),
    (
        "observed-both",
        "observed-data",
        _set(objects={"0": {"type": "url", "value": "x"}}),
        "must not have both 'objects' and 'object_refs'",
    ),
    ("observed-refs-sdo", "observed-data", _set(object_refs=[f"malware--{U}"]), "not a 'malware'"),
    (
        "observed-last-first",
        "observed-data",
        _set(last_observed="2015-12-21T18:59:59Z"),
        "'last_observed' must not be earlier than 'first_observed'",
    ),
    (
        "analysis-no-result",
        "malware-analysis",
        _drop("result", "analysis_sco_refs"),
        "needs at least one of 'result', 'analysis_sco_refs'",
    ),
    ("report-published", "report", _set(published="2016-01-20"), "property 'published' is not an RFC 3339"),
    # SROs
    (
        "rel-type-upper",
        "relationship",
        _set(relationship_type="Indicates"),
        "property 'relationship_type' must be lowercase a-z, 0-9 and '-'",
    ),
    (
        "rel-to-marking",
        "relationship",
        _set(target_ref=M),
        "property 'target_ref' must be an identifier, not a",
    ),
    ("rel-from-relationship", "relationship", _set(source_ref=f"relationship--{U}"), "not a 'relationship'"),
    (
        "rel-stop-before-start",
        "relationship",
        _set(start_time="2016-01-01T00:00:00Z", stop_time="2016-01-01T00:00:00.000Z"),
        "'stop_time' must be later than 'start_time'",
    ),
    ("sighting-of-sco", "sighting", _set(sighting_of_ref=f"file--{U}"), "property 'sighting_of_ref'"),
    ("sighting-where", "sighting", _set(where_sighted_refs=[f"malware--{U}"]), "'identity' or 'location'"),
    ("sighting-count", "sighting", _set(count=-1), "property 'count' must be >= 0"),
    ("sighting-observed-refs", "sighting", _set(observed_data_refs=[IDENTITY_ID]), "of type 'observed-data'"),
    # meta objects
    (
        "marking-no-definition",
        "marking-definition",
        _drop("definition"),
        "needs 'definition_type' and 'definition'",
    ),
    (
        "marking-tlp-bad-id",
        "marking-definition",
        _set(id=f"marking-definition--{U}"),
        "must use its predefined id",
    ),
    (
        "marking-tlp-mismatch",
        "marking-definition",
        _set(definition={"tlp": "red"}),
        "must use its predefined id",
    ),
    (
        "marking-tlp-value",
        "marking-definition",
        _set(definition={"tlp": "pink"}),
        "a 'tlp' definition must be",
    ),
    (
        "marking-statement",
        "marking-definition",
        _set(definition_type="statement", definition={"text": "x"}),
        "a 'statement' definition must be",
    ),
    (
        "extdef-types-enum",
        "extension-definition",
        _set(extension_types=["new-thing"]),
        "property 'extension_types' item 0 must be one of new-sco",
    ),
    (
        "extdef-props-without-toplevel",
        "extension-definition",
        _set(extension_properties=["x_a"]),
        "'extension_properties' is only allowed with a 'toplevel-property-extension'",
    ),
    (
        "language-contents",
        "language-content",
        _set(contents="de"),
        "property 'contents' must be a JSON object",
    ),
    (
        "language-object-modified",
        "language-content",
        _set(object_modified="2017-02-08T21:31:22Z"),
        "property 'object_modified' must be precise to at least the millisecond",
    ),
    # SCOs
    ("file-no-name-no-hash", "file", _drop("name", "hashes"), "needs at least one of 'hashes', 'name'"),
    ("file-size-negative", "file", _set(size=-1), "property 'size' must be >= 0"),
    ("file-hash-bad", "file", _set(hashes={"SHA-256": "1234"}), "'SHA-256' is not a valid SHA-256 hash"),
    ("file-hash-key", "file", _set(hashes={"M D5": "1234"}), "property 'hashes' has an invalid hash name"),
    ("file-parent-wrong", "file", _set(parent_directory_ref=f"file--{U}"), "of type 'directory'"),
    ("file-magic-hex", "file", _set(magic_number_hex="xyz"), "must be a hex string"),
    ("file-archive-ext", "file", _ext("archive-ext", {"comment": "x"}), "extension 'archive-ext' is missing"),
    ("file-pe-ext", "file", _ext("windows-pebinary-ext", {"imphash": "x"}), "is missing 'pe_type'"),
    (
        "artifact-both",
        "artifact",
        _set(url="https://x.example/a"),
        "must not have both 'payload_bin' and 'url'",
    ),
    (
        "artifact-url-no-hash",
        "artifact",
        lambda o: (o.pop("payload_bin"), o.update(url="https://x.example/a")),
        "'url' requires 'hashes'",
    ),
    ("artifact-enc-enum", "artifact", _set(encryption_algorithm="rot13"), "must be one of AES-256-GCM"),
    (
        "artifact-key-alone",
        "artifact",
        _set(decryption_key="x"),
        "'decryption_key' requires 'encryption_algorithm'",
    ),
    ("as-number-string", "autonomous-system", _set(number="AS15139"), "property 'number' must be an integer"),
    ("email-multipart-body", "email-message", _set(is_multipart=True), "'body' must not be used"),
    ("email-from-wrong", "email-message", _set(from_ref=f"url--{U}"), "of type 'email-addr'"),
    (
        "email-mime-part",
        "email-message",
        _set(is_multipart=True, body_multipart=[{"content_type": "x"}]),
        "property 'body_multipart' item 0 needs one of 'body', 'body_raw_ref'",
    ),
    (
        "ipv4-octet",
        "ipv4-addr",
        _set(value="198.51.100.256"),
        "property 'value' must be an IPv4 address or CIDR",
    ),
    ("ipv4-leading-zero", "ipv4-addr", _set(value="198.051.100.1"), "must be an IPv4 address or CIDR"),
    ("ipv4-prefix", "ipv4-addr", _set(value="198.51.100.0/33"), "must be an IPv4 address or CIDR"),
    ("ipv4-port", "ipv4-addr", _set(value="198.51.100.1:80"), "must be an IPv4 address or CIDR"),
    ("ipv4-v6", "ipv4-addr", _set(value="2001:db8::1"), "must be an IPv4 address or CIDR"),
    ("ipv6-bad", "ipv6-addr", _set(value="2001:db8::g"), "property 'value' must be an IPv6 address or CIDR"),
    ("ipv6-v4", "ipv6-addr", _set(value="198.51.100.1"), "must be an IPv6 address or CIDR"),
    (
        "mac-upper",
        "mac-addr",
        _set(value="D2:FB:49:24:37:18"),
        "must be a lower-case, colon-delimited MAC-48",
    ),
    ("mac-dashes", "mac-addr", _set(value="d2-fb-49-24-37-18"), "colon-delimited MAC-48"),
    ("mac-no-zeros", "mac-addr", _set(value="d2:fb:9:24:37:18"), "colon-delimited MAC-48"),
    (
        "language-contents-shape",
        "language-content",
        _set(contents={"de": "Bank Angriff"}),
        "property 'contents' entry 'de' must be a JSON object",
    ),
    ("ipv4-resolves-wrong", "ipv4-addr", _set(resolves_to_refs=[f"domain-name--{U}"]), "of type 'mac-addr'"),
    (
        "domain-resolves-wrong",
        "domain-name",
        _set(resolves_to_refs=[f"url--{U}"]),
        "property 'resolves_to_refs'",
    ),
    (
        "traffic-no-ends",
        "network-traffic",
        _drop("src_ref", "dst_ref"),
        "needs at least one of 'src_ref', 'dst_ref'",
    ),
    ("traffic-port", "network-traffic", _set(dst_port=70000), "property 'dst_port' must be <= 65535"),
    (
        "traffic-active-end",
        "network-traffic",
        _set(is_active=True),
        "'is_active' must not be true when 'end'",
    ),
    (
        "traffic-end-start",
        "network-traffic",
        _set(end="2018-11-23T06:44:55.747Z"),
        "'end' must not be earlier than 'start'",
    ),
    (
        "traffic-socket-ext",
        "network-traffic",
        _ext("socket-ext", {"address_family": "AF_X"}),
        "extension 'socket-ext' 'address_family' must be one of",
    ),
    (
        "process-empty",
        "process",
        lambda o: [o.pop(k) for k in ("pid", "command_line", "image_ref", "created_time")],
        "must have at least one property of its type",
    ),
    (
        "x509-empty",
        "x509-certificate",
        lambda o: [o.pop(k) for k in list(o) if k not in ("type", "id", "spec_version")],
        "must have at least one property of its type",
    ),
    (
        "registry-data-type",
        "windows-registry-key",
        _set(values=[{"name": "x", "data_type": "REG_TEXT"}]),
        "'data_type' must be one of REG_BINARY",
    ),
    (
        "user-account-bool",
        "user-account",
        _set(is_privileged="no"),
        "property 'is_privileged' must be true or false",
    ),
    ("sco-defanged", "url", _set(defanged="true"), "property 'defanged' must be true or false"),
    # custom objects
    ("custom-no-spec-version", "x-acme-asset", _drop("spec_version"), "property 'spec_version' is required"),
    ("custom-no-modified", "x-acme-asset", _drop("modified"), "property 'modified' is required"),
    ("custom-bad-created", "x-acme-asset", _set(created="2016-04-06T20:03:00Z"), "millisecond"),
    (
        "custom-modified-before",
        "x-acme-asset",
        _set(modified="2015-01-01T00:00:00.000Z"),
        "'modified' must not be earlier than 'created'",
    ),
    (
        "custom-marking-refs",
        "x-acme-asset",
        _set(object_marking_refs=["x"]),
        "property 'object_marking_refs'",
    ),
    ("custom-property-name", "x-acme-asset", _set(Name="x"), "not a valid custom property name"),
    (
        "bundle",
        "x-acme-asset",
        lambda o: o.update(type="bundle", id=f"bundle--{U}"),
        "a bundle is not an object",
    ),
]


@pytest.mark.parametrize(
    ("stix_type", "mutate", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_mutation(stix_type: str, mutate: Mutation, expected: str) -> None:
    obj = base(stix_type)
    validate_object(obj)  # the base is valid: only the mutation can make it fail
    mutate(obj)
    with pytest.raises(InvalidObject) as info:
        validate_object(obj)
    assert expected in str(info.value)


def test_reason_names_the_object() -> None:
    obj = base("indicator")
    del obj["pattern"]
    with pytest.raises(InvalidObject, match=rf"^{obj['id']}: property 'pattern' is required$"):
        validate_object(obj)


@pytest.mark.parametrize("value", [None, "x", 3, [], ["indicator"], json.dumps({"type": "indicator"})])
def test_not_an_object(value: object) -> None:
    with pytest.raises(InvalidObject, match="a STIX object must be a JSON object"):
        validate_object(value)


def test_custom_and_toplevel_extension_properties_accepted() -> None:
    obj = base("malware") | {"x_acme_score": 3, "some_vendor_property": {"a": 1}}
    assert validate_object(obj).type == "malware"


_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=30)
)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)
_keys = st.sampled_from(
    [
        *("type", "id", "spec_version", "created", "modified", "created_by_ref", "object_marking_refs"),
        *("granular_markings", "extensions", "external_references", "labels", "pattern", "valid_from"),
        *(
            "source_ref",
            "object_refs",
            "hashes",
            "value",
            "name",
            "is_family",
            "x_acme",
            "Bad Key",
            "kill_chain_phases",
        ),
    ]
)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(VALID), st.lists(st.tuples(_keys, _json), min_size=1, max_size=3))
def test_any_json_gives_a_result_or_invalid_object(
    obj: dict[str, Any], changes: list[tuple[str, Any]]
) -> None:
    """Whatever JSON a client sends, validation answers with a result or InvalidObject, never a crash."""
    mutated = copy.deepcopy(obj)
    for key, value in changes:
        mutated[key] = value
    try:
        got = validate_object(mutated)
    except InvalidObject as exc:
        assert str(exc)
    else:
        assert got.id == mutated["id"] and got.type == mutated["type"]


# ---- agreement with the OASIS stix2 library --------------------------------------------------------------

_U = "6ba7b810-9dad-41d1-80b4-00c04fd430c8"
_PEER_IDS = st.sampled_from(
    [
        f"{t}--{_U}"
        for t in (
            *("identity", "marking-definition", "file", "artifact", "software", "malware", "indicator"),
            *(
                "user-account",
                "ipv4-addr",
                "observed-data",
                "location",
                "network-traffic",
                "email-addr",
                "x-acme",
            ),
        )
    ]
)
_PEER_SCALARS = st.one_of(
    # timestamps of every precision the stix2 library can hold (it stops at microseconds)
    st.sampled_from(["2016-04-06T20:03:00Z", "2016-04-06T20:03:00.123Z", "2020-01-01T00:00:00.000000Z"]),
    st.sampled_from(["1999-01-01T00:00:00.000Z", "stix", "agree", "AES-256-GCM", "REG_SZ", "new-sdo"]),
    st.sampled_from(["198.51.100.1", "2001:db8::1", "d2:fb:49:24:37:18", "VBORw0KGgo=", "ab12"]),
    _PEER_IDS,
    st.text(max_size=5),
    st.integers(-5, 10**10),
    st.booleans(),
    st.floats(-200, 200),
)
_PEER_VALUES = st.one_of(
    _PEER_SCALARS,
    st.lists(_PEER_SCALARS, min_size=1, max_size=2),
    st.lists(_PEER_IDS, min_size=1, max_size=2),
    st.sampled_from(
        [
            {"MD5": "d41d8cd98f00b204e9800998ecf8427e"},
            [{"source_name": "x", "url": "https://x.example"}],
            [{"kill_chain_name": "a", "phase_name": "b"}],
            {"de": {"name": "x"}},
            {"a": "b"},
        ]
    ),
)
_PEER_NAMES = st.sampled_from(
    sorted({n for spec in SPECS.values() for n in spec.props} | {"x_acme", "vendor_score"})
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID), st.lists(st.tuples(_PEER_NAMES, _PEER_VALUES), min_size=1, max_size=2))
def test_what_we_accept_the_stix2_library_accepts(
    obj: dict[str, Any], changes: list[tuple[str, Any]]
) -> None:
    """Plausible edits of valid objects: whenever validate_object accepts one, so does stix2.parse.

    (The library is laxer in many places - it coerces "true" to True, ignores modified < created - so the
    converse does not hold; tests above pin those rules.)
    """
    mutated = copy.deepcopy(obj)
    for key, value in changes:
        mutated[key] = value
    try:
        validate_object(mutated)
    except InvalidObject:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stix2.parse(mutated, allow_custom=True)


def test_valid_examples_are_valid_for_the_stix2_library() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for obj in VALID:
            stix2.parse(obj, allow_custom=True)


# ---- timestamps: the string comparison used for modified >= created, against datetime ---------------------

_moments = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1))


def _stix_ts(moment: datetime, digits: int) -> str:
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return base + "Z" if digits == 0 else f"{base}.{f'{moment.microsecond:06d}'[:digits]:0<{digits}}Z"


@settings(max_examples=500, deadline=None)
@given(_moments, st.integers(0, 9), _moments, st.integers(0, 9))
def test_timestamp_order_matches_datetime(a: datetime, da: int, b: datetime, db: int) -> None:
    ta, tb = _stix_ts(a, da), _stix_ts(b, db)
    assert check_timestamp(ta) is None and check_timestamp(tb) is None
    pa, pb = parse_timestamp(ta), parse_timestamp(tb)  # what the hub stores (microseconds)
    if da <= 6 and db <= 6:
        assert (timestamp_key(ta) < timestamp_key(tb)) == (pa < pb)
        assert (timestamp_key(ta) == timestamp_key(tb)) == (pa == pb)
    elif timestamp_key(ta) <= timestamp_key(tb):
        assert pa <= pb


def test_every_accepted_version_key_parses() -> None:
    for obj in VALID:
        key = validate_object(obj).version_key
        if key:
            assert parse_timestamp(key).tzinfo is not None
