"""Declarative STIX 2.1 object schemas: properties with their checkers, required properties, co-constraints.

Section numbers refer to STIX Version 2.1, OASIS Standard, 10 June 2021.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kizuna.stix._checks import (
    STRING_LIST,
    Checker,
    check_binary,
    check_bool,
    check_dict,
    check_dictionary_of_strings,
    check_hashes,
    check_hex,
    check_ipv4_value,
    check_ipv6_value,
    check_mac_value,
    check_string,
    check_timestamp,
    check_timestamp_millis,
    embedded,
    enum,
    integer,
    known_ref,
    list_of,
    matching,
    number,
    ref,
    refs,
    timestamp_key,
)
from kizuna.stix.markings import TLP1_NAMES, reserved_refusal

Constraint = Callable[[Mapping[str, object]], "str | None"]

SDO_TYPES = frozenset(
    {
        "attack-pattern",
        "campaign",
        "course-of-action",
        "grouping",
        "identity",
        "incident",
        "indicator",
        "infrastructure",
        "intrusion-set",
        "location",
        "malware",
        "malware-analysis",
        "note",
        "observed-data",
        "opinion",
        "report",
        "threat-actor",
        "tool",
        "vulnerability",
    }
)
SRO_TYPES = frozenset({"relationship", "sighting"})
META_TYPES = frozenset({"language-content", "marking-definition", "extension-definition"})
SCO_TYPES = frozenset(
    {
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    }
)

#: Closed vocabularies (enumerations) of STIX 2.1 section 10.
OPINION_ENUM = ("strongly-disagree", "disagree", "neutral", "agree", "strongly-agree")
EXTENSION_TYPE_ENUM = (
    "new-sdo",
    "new-sco",
    "new-sro",
    "property-extension",
    "toplevel-property-extension",
)
ENCRYPTION_ALGORITHM_ENUM = ("AES-256-GCM", "ChaCha20-Poly1305", "mime-type-indicated")
WINDOWS_REGISTRY_DATATYPE_ENUM = (
    "REG_NONE",
    "REG_SZ",
    "REG_EXPAND_SZ",
    "REG_BINARY",
    "REG_DWORD",
    "REG_DWORD_BIG_ENDIAN",
    "REG_DWORD_LITTLE_ENDIAN",
    "REG_LINK",
    "REG_MULTI_SZ",
    "REG_RESOURCE_LIST",
    "REG_FULL_RESOURCE_DESCRIPTION",
    "REG_RESOURCE_REQUIREMENTS_LIST",
    "REG_QWORD",
    "REG_INVALID_TYPE",
)
NETWORK_SOCKET_ADDRESS_FAMILY_ENUM = (
    "AF_UNSPEC",
    "AF_INET",
    "AF_IPX",
    "AF_APPLETALK",
    "AF_NETBIOS",
    "AF_INET6",
    "AF_IRDA",
    "AF_BTH",
)
NETWORK_SOCKET_TYPE_ENUM = ("SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_RDM", "SOCK_SEQPACKET")
TLP1_DEFINITIONS = tuple(TLP1_NAMES.values())  # "white", "green", "amber", "red"

#: Types a relationship may not point at (section 5.1: source_ref/target_ref are SDOs, SCOs or custom).
NOT_RELATABLE = frozenset({"bundle", "relationship", "sighting"}) | META_TYPES


@dataclass(frozen=True, slots=True)
class TypeSpec:
    kind: str  # "sdo", "sro", "meta" or "sco"
    props: dict[str, Checker]
    required: tuple[str, ...] = ()
    constraints: tuple[Constraint, ...] = field(default=())


# ---- embedded types (section 2) -------------------------------------------------------------------------

EXTERNAL_REFERENCE = embedded(
    {
        "source_name": check_string,
        "description": check_string,
        "url": check_string,
        "hashes": check_hashes,
        "external_id": check_string,
    },
    required=("source_name",),
    at_least_one=("description", "url", "external_id"),
)
KILL_CHAIN_PHASE = embedded(
    {"kill_chain_name": check_string, "phase_name": check_string},
    required=("kill_chain_name", "phase_name"),
)
GRANULAR_MARKING = embedded(
    {
        "lang": check_string,
        "marking_ref": known_ref({"marking-definition"}),
        "selectors": STRING_LIST,
    },
    required=("selectors",),
    exactly_one=("lang", "marking_ref"),
)

IDENTITY_REF = known_ref({"identity"})
MARKING_REFS = list_of(known_ref({"marking-definition"}))
TIMESTAMP = check_timestamp
STRING = check_string
BOOL = check_bool
CONFIDENCE = integer(0, 100)

# Common properties every SDO/SRO has (section 3.2); type, id and spec_version are checked before these.
_SDO_COMMON: dict[str, Checker] = {
    "created_by_ref": IDENTITY_REF,
    "created": check_timestamp_millis,
    "modified": check_timestamp_millis,
    "revoked": BOOL,
    "labels": STRING_LIST,
    "confidence": CONFIDENCE,
    "lang": STRING,
    "external_references": list_of(EXTERNAL_REFERENCE),
    "object_marking_refs": MARKING_REFS,
    "granular_markings": list_of(GRANULAR_MARKING),
}
_SCO_COMMON: dict[str, Checker] = {
    "object_marking_refs": MARKING_REFS,
    "granular_markings": list_of(GRANULAR_MARKING),
    "defanged": BOOL,
}
#: Properties every object may carry whatever its type; checked for custom objects too.
ANY_OBJECT_COMMON: dict[str, Checker] = {**_SDO_COMMON, **_SCO_COMMON}


# ---- co-constraints -------------------------------------------------------------------------------------


def _not_before(later: str, earlier: str, *, strict: bool = False) -> Constraint:
    word = "later than" if strict else "earlier than"

    def check(obj: Mapping[str, object]) -> str | None:
        a, b = obj.get(later), obj.get(earlier)
        if type(a) is str and type(b) is str:
            ka, kb = timestamp_key(a), timestamp_key(b)
            if (ka <= kb) if strict else (ka < kb):
                return (
                    f"'{later}' must be {word} '{earlier}'"
                    if strict
                    else f"'{later}' must not be {word} '{earlier}'"
                )
        return None

    return check


def _at_least_one(*names: str) -> Constraint:
    def check(obj: Mapping[str, object]) -> str | None:
        if not any(n in obj for n in names):
            return "needs at least one of " + ", ".join(f"'{n}'" for n in names)
        return None

    return check


def _not_both(a: str, b: str) -> Constraint:
    def check(obj: Mapping[str, object]) -> str | None:
        if a in obj and b in obj:
            return f"must not have both '{a}' and '{b}'"
        return None

    return check


def _requires(prop: str, *needed: str) -> Constraint:
    def check(obj: Mapping[str, object]) -> str | None:
        if prop in obj:
            for n in needed:
                if n not in obj:
                    return f"'{prop}' requires '{n}'"
        return None

    return check


def _malware_family_name(obj: Mapping[str, object]) -> str | None:
    if obj.get("is_family") is True and "name" not in obj:
        return "property 'name' is required when 'is_family' is true"
    return None


def _location_place(obj: Mapping[str, object]) -> str | None:
    if "region" in obj or "country" in obj or ("latitude" in obj and "longitude" in obj):
        return None
    return "needs 'region', 'country', or 'latitude' and 'longitude'"


def _observed_data_objects(obj: Mapping[str, object]) -> str | None:
    has_objects, has_refs = "objects" in obj, "object_refs" in obj
    if has_objects and has_refs:
        return "must not have both 'objects' and 'object_refs'"
    if not (has_objects or has_refs):
        return "needs 'object_refs' (or the deprecated 'objects')"
    return None


def _email_body(obj: Mapping[str, object]) -> str | None:
    multipart = obj.get("is_multipart")
    if multipart is True and "body" in obj:
        return "'body' must not be used when 'is_multipart' is true"
    if multipart is False and "body_multipart" in obj:
        return "'body_multipart' must not be used when 'is_multipart' is false"
    return None


def _value_format(check: Checker) -> Constraint:
    """``value`` in its defined format, unless the object says it is defanged (section 6.1, ``defanged``)."""

    def constraint(obj: Mapping[str, object]) -> str | None:
        if obj.get("defanged") is True:
            return None
        err = check(obj.get("value"))
        return f"property 'value' {err}" if err is not None else None

    return constraint


def _language_contents(obj: Mapping[str, object]) -> str | None:
    contents = obj.get("contents")
    if isinstance(contents, Mapping):
        for lang, translated in contents.items():
            if not isinstance(translated, Mapping) or not translated:
                return f"property 'contents' entry {str(lang)[:20]!r} must be a JSON object of translations"
    return None


def _traffic_active(obj: Mapping[str, object]) -> str | None:
    if "end" in obj and obj.get("is_active") is True:
        return "'is_active' must not be true when 'end' is present"
    return None


def _any_property(*names: str) -> Constraint:
    wanted = frozenset(names)

    def check(obj: Mapping[str, object]) -> str | None:
        if wanted.isdisjoint(obj) and not obj.get("extensions"):
            return "must have at least one property of its type"
        return None

    return check


def _extension_properties(obj: Mapping[str, object]) -> str | None:
    types = obj.get("extension_types")
    if "extension_properties" in obj and (
        not isinstance(types, list) or "toplevel-property-extension" not in types
    ):
        return "'extension_properties' is only allowed with a 'toplevel-property-extension'"
    return None


def _marking_definition(obj: Mapping[str, object]) -> str | None:
    shape = _marking_definition_shape(obj)
    return shape if shape is not None else reserved_refusal(obj)


def _marking_definition_shape(obj: Mapping[str, object]) -> str | None:
    dtype, definition = obj.get("definition_type"), obj.get("definition")
    if "extensions" not in obj and ("definition_type" not in obj or "definition" not in obj):
        return "needs 'definition_type' and 'definition' (or 'extensions')"
    if "definition" in obj and "definition_type" not in obj:
        return "'definition' requires 'definition_type'"
    if dtype == "tlp":
        tlp = definition.get("tlp") if isinstance(definition, Mapping) else None
        if tlp not in TLP1_DEFINITIONS:
            return "a 'tlp' definition must be {'tlp': 'white'|'green'|'amber'|'red'}"
        if TLP1_NAMES.get(str(obj.get("id"))) != tlp:
            return f"TLP 1.0 marking 'tlp: {tlp}' must use its predefined id (section 7.2.1.4)"
    elif dtype == "statement":
        if not isinstance(definition, Mapping) or type(definition.get("statement")) is not str:
            return "a 'statement' definition must be {'statement': '...'}"
    elif str(obj.get("id")) in TLP1_NAMES:
        return "a predefined TLP 1.0 marking id must have definition_type 'tlp'"
    elif "definition" in obj:
        return "'definition_type' must be 'statement' or 'tlp' (section 7.2.1)"
    return None


# ---- SDOs (section 4) -----------------------------------------------------------------------------------

_ANY_REFS = refs(not_types=("bundle",))


def _sdo(required: tuple[str, ...], props: dict[str, Checker], *constraints: Constraint) -> TypeSpec:
    return TypeSpec("sdo", {**_SDO_COMMON, **props}, ("created", "modified", *required), constraints)


_SEEN = (_not_before("last_seen", "first_seen"),)
_KILL_CHAIN = list_of(KILL_CHAIN_PHASE)

SPECS: dict[str, TypeSpec] = {
    "attack-pattern": _sdo(
        ("name",),
        {"name": STRING, "description": STRING, "aliases": STRING_LIST, "kill_chain_phases": _KILL_CHAIN},
    ),
    "campaign": _sdo(
        ("name",),
        {
            "name": STRING,
            "description": STRING,
            "aliases": STRING_LIST,
            "first_seen": TIMESTAMP,
            "last_seen": TIMESTAMP,
            "objective": STRING,
        },
        *_SEEN,
    ),
    "course-of-action": _sdo(("name",), {"name": STRING, "description": STRING}),
    "grouping": _sdo(
        ("context", "object_refs"),
        {"name": STRING, "description": STRING, "context": STRING, "object_refs": _ANY_REFS},
    ),
    "identity": _sdo(
        ("name",),
        {
            "name": STRING,
            "description": STRING,
            "roles": STRING_LIST,
            "identity_class": STRING,
            "sectors": STRING_LIST,
            "contact_information": STRING,
        },
    ),
    "incident": _sdo(("name",), {"name": STRING, "description": STRING, "kill_chain_phases": _KILL_CHAIN}),
    "indicator": _sdo(
        ("pattern", "pattern_type", "valid_from"),
        {
            "name": STRING,
            "description": STRING,
            "indicator_types": STRING_LIST,
            "pattern": STRING,
            "pattern_type": STRING,
            "pattern_version": STRING,
            "valid_from": TIMESTAMP,
            "valid_until": TIMESTAMP,
            "kill_chain_phases": _KILL_CHAIN,
        },
        _not_before("valid_until", "valid_from", strict=True),
    ),
    "infrastructure": _sdo(
        ("name",),
        {
            "name": STRING,
            "description": STRING,
            "infrastructure_types": STRING_LIST,
            "aliases": STRING_LIST,
            "kill_chain_phases": _KILL_CHAIN,
            "first_seen": TIMESTAMP,
            "last_seen": TIMESTAMP,
        },
        *_SEEN,
    ),
    "intrusion-set": _sdo(
        ("name",),
        {
            "name": STRING,
            "description": STRING,
            "aliases": STRING_LIST,
            "first_seen": TIMESTAMP,
            "last_seen": TIMESTAMP,
            "goals": STRING_LIST,
            "resource_level": STRING,
            "primary_motivation": STRING,
            "secondary_motivations": STRING_LIST,
        },
        *_SEEN,
    ),
    "location": _sdo(
        (),
        {
            "name": STRING,
            "description": STRING,
            "latitude": number(-90.0, 90.0),
            "longitude": number(-180.0, 180.0),
            "precision": number(0.0),
            "region": STRING,
            "country": STRING,
            "administrative_area": STRING,
            "city": STRING,
            "street_address": STRING,
            "postal_code": STRING,
        },
        _location_place,
        _requires("latitude", "longitude"),
        _requires("longitude", "latitude"),
        _requires("precision", "latitude", "longitude"),
    ),
    "malware": _sdo(
        ("is_family",),
        {
            "name": STRING,
            "description": STRING,
            "malware_types": STRING_LIST,
            "is_family": BOOL,
            "aliases": STRING_LIST,
            "kill_chain_phases": _KILL_CHAIN,
            "first_seen": TIMESTAMP,
            "last_seen": TIMESTAMP,
            "operating_system_refs": refs({"software"}),
            "architecture_execution_envs": STRING_LIST,
            "implementation_languages": STRING_LIST,
            "capabilities": STRING_LIST,
            "sample_refs": refs({"artifact", "file"}),
        },
        _malware_family_name,
        *_SEEN,
    ),
    "malware-analysis": _sdo(
        ("product",),
        {
            "product": STRING,
            "version": STRING,
            "host_vm_ref": ref({"software"}),
            "operating_system_ref": ref({"software"}),
            "installed_software_refs": refs({"software"}),
            "configuration_version": STRING,
            "modules": STRING_LIST,
            "analysis_engine_version": STRING,
            "analysis_definition_version": STRING,
            "submitted": TIMESTAMP,
            "analysis_started": TIMESTAMP,
            "analysis_ended": TIMESTAMP,
            "result_name": STRING,
            "result": STRING,
            "analysis_sco_refs": refs(not_types=SDO_TYPES | SRO_TYPES | META_TYPES | {"bundle"}),
            "sample_ref": ref(not_types=SDO_TYPES | SRO_TYPES | META_TYPES | {"bundle"}),
        },
        _at_least_one("result", "analysis_sco_refs"),
        _not_before("analysis_ended", "analysis_started"),
    ),
    "note": _sdo(
        ("content", "object_refs"),
        {"abstract": STRING, "content": STRING, "authors": STRING_LIST, "object_refs": _ANY_REFS},
    ),
    "observed-data": _sdo(
        ("first_observed", "last_observed", "number_observed"),
        {
            "first_observed": TIMESTAMP,
            "last_observed": TIMESTAMP,
            "number_observed": integer(1, 999_999_999),
            "objects": check_dict,
            "object_refs": refs(not_types=SDO_TYPES | META_TYPES | {"sighting", "bundle"}),
        },
        _observed_data_objects,
        _not_before("last_observed", "first_observed"),
    ),
    "opinion": _sdo(
        ("opinion", "object_refs"),
        {
            "explanation": STRING,
            "authors": STRING_LIST,
            "opinion": enum(OPINION_ENUM),
            "object_refs": _ANY_REFS,
        },
    ),
    "report": _sdo(
        ("name", "published", "object_refs"),
        {
            "name": STRING,
            "description": STRING,
            "report_types": STRING_LIST,
            "published": TIMESTAMP,
            "object_refs": _ANY_REFS,
        },
    ),
    "threat-actor": _sdo(
        ("name",),
        {
            "name": STRING,
            "description": STRING,
            "threat_actor_types": STRING_LIST,
            "aliases": STRING_LIST,
            "first_seen": TIMESTAMP,
            "last_seen": TIMESTAMP,
            "roles": STRING_LIST,
            "goals": STRING_LIST,
            "sophistication": STRING,
            "resource_level": STRING,
            "primary_motivation": STRING,
            "secondary_motivations": STRING_LIST,
            "personal_motivations": STRING_LIST,
        },
        *_SEEN,
    ),
    "tool": _sdo(
        ("name",),
        {
            "name": STRING,
            "description": STRING,
            "tool_types": STRING_LIST,
            "aliases": STRING_LIST,
            "kill_chain_phases": _KILL_CHAIN,
            "tool_version": STRING,
        },
    ),
    "vulnerability": _sdo(("name",), {"name": STRING, "description": STRING}),
}

# ---- SROs (section 5) -----------------------------------------------------------------------------------

SPECS["relationship"] = TypeSpec(
    "sro",
    {
        **_SDO_COMMON,
        "relationship_type": matching(r"[a-z0-9-]+", "lowercase a-z, 0-9 and '-' (section 5.1)"),
        "description": STRING,
        "source_ref": ref(not_types=NOT_RELATABLE),
        "target_ref": ref(not_types=NOT_RELATABLE),
        "start_time": TIMESTAMP,
        "stop_time": TIMESTAMP,
    },
    ("created", "modified", "relationship_type", "source_ref", "target_ref"),
    (_not_before("stop_time", "start_time", strict=True),),
)
SPECS["sighting"] = TypeSpec(
    "sro",
    {
        **_SDO_COMMON,
        "description": STRING,
        "first_seen": TIMESTAMP,
        "last_seen": TIMESTAMP,
        "count": integer(0, 999_999_999),
        "sighting_of_ref": ref(not_types=SRO_TYPES | META_TYPES | SCO_TYPES | {"bundle"}),
        "observed_data_refs": refs({"observed-data"}),
        "where_sighted_refs": refs({"identity", "location"}),
        "summary": BOOL,
    },
    ("created", "modified", "sighting_of_ref"),
    _SEEN,
)

# ---- meta objects (section 7) ---------------------------------------------------------------------------

SPECS["language-content"] = TypeSpec(
    "meta",
    {
        **_SDO_COMMON,
        "object_ref": ref(not_types=("bundle",)),
        "object_modified": check_timestamp_millis,
        "contents": check_dict,
    },
    ("created", "modified", "object_ref", "contents"),
    (_language_contents,),
)
SPECS["marking-definition"] = TypeSpec(
    "meta",
    {
        "created_by_ref": IDENTITY_REF,
        "created": check_timestamp_millis,
        "external_references": list_of(EXTERNAL_REFERENCE),
        "object_marking_refs": MARKING_REFS,
        "granular_markings": list_of(GRANULAR_MARKING),
        "name": STRING,
        "definition_type": STRING,
        "definition": check_dict,
    },
    ("created",),
    (_marking_definition,),
)
SPECS["extension-definition"] = TypeSpec(
    "meta",
    {
        **_SDO_COMMON,
        "name": STRING,
        "description": STRING,
        "schema": STRING,
        "version": STRING,
        "extension_types": list_of(enum(EXTENSION_TYPE_ENUM)),
        "extension_properties": STRING_LIST,
    },
    ("created", "modified", "created_by_ref", "name", "schema", "version", "extension_types"),
    (_extension_properties,),
)

# ---- SCOs (section 6) -----------------------------------------------------------------------------------


def _sco(required: tuple[str, ...], props: dict[str, Checker], *constraints: Constraint) -> TypeSpec:
    return TypeSpec("sco", {**_SCO_COMMON, **props}, required, constraints)


_ADDR_REFS = ("ipv4-addr", "ipv6-addr", "mac-addr", "domain-name")
_EMAIL_ADDR = ref({"email-addr"})
_EMAIL_ADDRS = refs({"email-addr"})
_SCO_REFS = refs(not_types=SDO_TYPES | SRO_TYPES | META_TYPES | {"bundle"})

MIME_PART = embedded(
    {
        "body": STRING,
        "body_raw_ref": ref({"artifact", "file"}),
        "content_type": STRING,
        "content_disposition": STRING,
    },
    at_least_one=("body", "body_raw_ref"),
)
REGISTRY_VALUE = embedded(
    {"name": STRING, "data": STRING, "data_type": enum(WINDOWS_REGISTRY_DATATYPE_ENUM)},
)

SPECS.update(
    {
        "artifact": _sco(
            (),
            {
                "mime_type": STRING,
                "payload_bin": check_binary,
                "url": STRING,
                "hashes": check_hashes,
                "encryption_algorithm": enum(ENCRYPTION_ALGORITHM_ENUM),
                "decryption_key": STRING,
            },
            _not_both("payload_bin", "url"),
            _requires("url", "hashes"),
            _requires("decryption_key", "encryption_algorithm"),
        ),
        "autonomous-system": _sco(("number",), {"number": integer(0), "name": STRING, "rir": STRING}),
        "directory": _sco(
            ("path",),
            {
                "path": STRING,
                "path_enc": STRING,
                "ctime": TIMESTAMP,
                "mtime": TIMESTAMP,
                "atime": TIMESTAMP,
                "contains_refs": refs({"file", "directory"}),
            },
        ),
        "domain-name": _sco(
            ("value",),
            {"value": STRING, "resolves_to_refs": refs({"ipv4-addr", "ipv6-addr", "domain-name"})},
        ),
        "email-addr": _sco(
            ("value",),
            {"value": STRING, "display_name": STRING, "belongs_to_ref": ref({"user-account"})},
        ),
        "email-message": _sco(
            ("is_multipart",),
            {
                "is_multipart": BOOL,
                "date": TIMESTAMP,
                "content_type": STRING,
                "from_ref": _EMAIL_ADDR,
                "sender_ref": _EMAIL_ADDR,
                "to_refs": _EMAIL_ADDRS,
                "cc_refs": _EMAIL_ADDRS,
                "bcc_refs": _EMAIL_ADDRS,
                "message_id": STRING,
                "subject": STRING,
                "received_lines": STRING_LIST,
                "additional_header_fields": check_dict,
                "body": STRING,
                "body_multipart": list_of(MIME_PART),
                "raw_email_ref": ref({"artifact"}),
            },
            _email_body,
        ),
        "file": _sco(
            (),
            {
                "hashes": check_hashes,
                "size": integer(0),
                "name": STRING,
                "name_enc": STRING,
                "magic_number_hex": check_hex,
                "mime_type": STRING,
                "ctime": TIMESTAMP,
                "mtime": TIMESTAMP,
                "atime": TIMESTAMP,
                "parent_directory_ref": ref({"directory"}),
                "contains_refs": _SCO_REFS,
                "content_ref": ref({"artifact"}),
            },
            _at_least_one("hashes", "name"),
        ),
        "ipv4-addr": _sco(
            ("value",),
            {
                "value": STRING,
                "resolves_to_refs": refs({"mac-addr"}),
                "belongs_to_refs": refs({"autonomous-system"}),
            },
            _value_format(check_ipv4_value),
        ),
        "ipv6-addr": _sco(
            ("value",),
            {
                "value": STRING,
                "resolves_to_refs": refs({"mac-addr"}),
                "belongs_to_refs": refs({"autonomous-system"}),
            },
            _value_format(check_ipv6_value),
        ),
        "mac-addr": _sco(("value",), {"value": STRING}, _value_format(check_mac_value)),
        "mutex": _sco(("name",), {"name": STRING}),
        "network-traffic": _sco(
            ("protocols",),
            {
                "start": TIMESTAMP,
                "end": TIMESTAMP,
                "is_active": BOOL,
                "src_ref": ref(_ADDR_REFS),
                "dst_ref": ref(_ADDR_REFS),
                "src_port": integer(0, 65535),
                "dst_port": integer(0, 65535),
                "protocols": STRING_LIST,
                "src_byte_count": integer(0),
                "dst_byte_count": integer(0),
                "src_packets": integer(0),
                "dst_packets": integer(0),
                "ipfix": check_dict,
                "src_payload_ref": ref({"artifact"}),
                "dst_payload_ref": ref({"artifact"}),
                "encapsulates_refs": refs({"network-traffic"}),
                "encapsulated_by_ref": ref({"network-traffic"}),
            },
            _at_least_one("src_ref", "dst_ref"),
            _not_before("end", "start"),
            _traffic_active,
        ),
        "process": _sco(
            (),
            {
                "is_hidden": BOOL,
                "pid": integer(),
                "created_time": TIMESTAMP,
                "cwd": STRING,
                "command_line": STRING,
                "environment_variables": check_dictionary_of_strings,
                "opened_connection_refs": refs({"network-traffic"}),
                "creator_user_ref": ref({"user-account"}),
                "image_ref": ref({"file"}),
                "parent_ref": ref({"process"}),
                "child_refs": refs({"process"}),
            },
        ),
        "software": _sco(
            ("name",),
            {
                "name": STRING,
                "cpe": STRING,
                "swid": STRING,
                "languages": STRING_LIST,
                "vendor": STRING,
                "version": STRING,
            },
        ),
        "url": _sco(("value",), {"value": STRING}),
        "user-account": _sco(
            (),
            {
                "user_id": STRING,
                "credential": STRING,
                "account_login": STRING,
                "account_type": STRING,
                "display_name": STRING,
                "is_service_account": BOOL,
                "is_privileged": BOOL,
                "can_escalate_privs": BOOL,
                "is_disabled": BOOL,
                "account_created": TIMESTAMP,
                "account_expires": TIMESTAMP,
                "credential_last_changed": TIMESTAMP,
                "account_first_login": TIMESTAMP,
                "account_last_login": TIMESTAMP,
            },
        ),
        "windows-registry-key": _sco(
            (),
            {
                "key": STRING,
                "values": list_of(REGISTRY_VALUE),
                "modified_time": TIMESTAMP,
                "creator_user_ref": ref({"user-account"}),
                "number_of_subkeys": integer(0),
            },
        ),
        "x509-certificate": _sco(
            (),
            {
                "is_self_signed": BOOL,
                "hashes": check_hashes,
                "version": STRING,
                "serial_number": STRING,
                "signature_algorithm": STRING,
                "issuer": STRING,
                "validity_not_before": TIMESTAMP,
                "validity_not_after": TIMESTAMP,
                "subject": STRING,
                "subject_public_key_algorithm": STRING,
                "subject_public_key_modulus": STRING,
                "subject_public_key_exponent": integer(),
                "x509_v3_extensions": check_dict,
            },
            _not_before("validity_not_after", "validity_not_before"),
        ),
    }
)

# SCOs that must carry at least one property of their own (sections 6.11 process, 6.17 windows-registry-key
# is not one of them, 6.18 x509-certificate).
SPECS["process"] = TypeSpec(
    "sco",
    SPECS["process"].props,
    (),
    (_any_property(*(set(SPECS["process"].props) - set(_SCO_COMMON))),),
)
SPECS["x509-certificate"] = TypeSpec(
    "sco",
    SPECS["x509-certificate"].props,
    (),
    (
        *SPECS["x509-certificate"].constraints,
        _any_property(*(set(SPECS["x509-certificate"].props) - set(_SCO_COMMON))),
    ),
)

#: Predefined SCO extensions (section 6): required properties and the few checks that matter.
SCO_EXTENSIONS: dict[str, Checker] = {
    "archive-ext": embedded(
        {"contains_refs": refs({"file", "directory"}), "comment": STRING}, required=("contains_refs",)
    ),
    "ntfs-ext": embedded({"sid": STRING}),
    "pdf-ext": embedded({"version": STRING, "is_optimized": BOOL, "document_info_dict": check_dict}),
    "raster-image-ext": embedded(
        {
            "image_height": integer(),
            "image_width": integer(),
            "bits_per_pixel": integer(),
            "exif_tags": check_dict,
        }
    ),
    "windows-pebinary-ext": embedded(
        {"pe_type": STRING, "imphash": STRING, "file_header_hashes": check_hashes}, required=("pe_type",)
    ),
    "http-request-ext": embedded(
        {
            "request_method": STRING,
            "request_value": STRING,
            "request_version": STRING,
            "request_header": check_dict,
            "message_body_length": integer(0),
            "message_body_data_ref": ref({"artifact"}),
        },
        required=("request_method", "request_value"),
    ),
    "icmp-ext": embedded(
        {"icmp_type_hex": check_hex, "icmp_code_hex": check_hex}, required=("icmp_type_hex", "icmp_code_hex")
    ),
    "socket-ext": embedded(
        {
            "address_family": enum(NETWORK_SOCKET_ADDRESS_FAMILY_ENUM),
            "is_blocking": BOOL,
            "is_listening": BOOL,
            "options": check_dict,
            "socket_type": enum(NETWORK_SOCKET_TYPE_ENUM),
            "socket_descriptor": integer(0),
            "socket_handle": integer(),
        },
        required=("address_family",),
    ),
    "tcp-ext": embedded({"src_flags_hex": check_hex, "dst_flags_hex": check_hex}),
    "windows-process-ext": embedded(
        {"aslr_enabled": BOOL, "dep_enabled": BOOL, "priority": STRING, "owner_sid": STRING}
    ),
    "windows-service-ext": embedded(
        {"service_name": STRING, "descriptions": STRING_LIST, "service_dll_refs": refs({"file"})}
    ),
    "unix-account-ext": embedded(
        {"gid": integer(), "groups": STRING_LIST, "home_dir": STRING, "shell": STRING}
    ),
}
