"""Validation of incoming STIX 2.1 objects (STIX Version 2.1, OASIS Standard, 10 June 2021).

``validate_object(obj)`` returns a :class:`ValidatedObject` (the fields a store indexes) or raises
:class:`kizuna.errors.InvalidObject` whose message is one short reason naming the object and property::

    indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f: property 'pattern' is required
    'id' type prefix 'malware' does not match type 'indicator'
    indicator--...: pattern does not parse: Error found at line 1:14. extraneous input '1' expecting ']'

What is checked (see docs/stix-validation.md for the full list and the reasons behind each choice):

* every object: ``type`` (a-z, 0-9, '-', starting with a letter, 3-250 chars), ``id`` = ``type--UUID``
  (RFC 4122 variant, lower case), ``spec_version`` "2.1" (required except on SCOs), the common properties'
  shapes (timestamps, references of the right type, labels, external references, kill-chain phases,
  granular markings whose selectors resolve), ``extensions`` keys, custom property names;
* SDOs, SROs and meta objects: ``created`` and ``modified`` at least millisecond precise,
  ``modified >= created``, every required property and co-constraint of their type, closed enumerations;
* SCOs: the required properties and co-constraints of each of the 18 types and of predefined extensions;
* indicators with ``pattern_type`` "stix": the pattern must parse (``stix2-patterns``, STIX 2.1 grammar);
* custom objects (``x-`` types, types defined by an extension-definition, and any other type name that is
  syntactically valid, which the spec allows): the common properties only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kizuna.errors import InvalidObject
from kizuna.stix._checks import (
    PROPERTY_NAME_RE,
    TYPE_RE,
    Checker,
    id_type,
    is_uuid,
    timestamp_key,
)
from kizuna.stix._pattern import pattern_error
from kizuna.stix._schema import ANY_OBJECT_COMMON, EXTENSION_TYPE_ENUM, SCO_EXTENSIONS, SPECS, TypeSpec
from kizuna.stix.markings import TLP, tlp_of

__all__ = ["ValidatedObject", "validate_object"]


@dataclass(frozen=True, slots=True)
class ValidatedObject:
    """What a store needs to know of a valid object; the object itself is kept as received."""

    id: str
    type: str
    spec_version: str  # "2.1"
    created: str | None  # as in the object (None for SCOs and objects without it)
    modified: str | None  # SDO/SRO: "modified"; marking-definition: "created"; SCO: None
    version_key: str  # `modified` if present, else `created`, else "" (SCOs)
    tlp: TLP | None
    created_by_ref: str | None
    revoked: bool


# Properties handled before the per-property loop.
_HANDLED = frozenset({"type", "id", "spec_version", "extensions"})
_EXTENSION_TYPES = frozenset(EXTENSION_TYPE_ENUM)
_NEW_OBJECT_EXTENSIONS = frozenset({"new-sdo", "new-sco", "new-sro"})
_EXT_DEF_PREFIX = "extension-definition--"
_CUSTOM_NAMES_OK: set[str] = set()
_CUSTOM_NAMES_MAX = 4096
_SDO_LIKE_CUSTOM_REQUIRED = ("spec_version", "created", "modified")


def _fail(oid: str, message: str) -> InvalidObject:
    return InvalidObject(f"{oid}: {message}")


def _custom_property_error(name: object, value: object) -> str | None:
    """Custom properties (section 11.1): name a-z0-9_ 3-250 characters; no nulls or empty lists."""
    if name not in _CUSTOM_NAMES_OK:
        if type(name) is not str or PROPERTY_NAME_RE.fullmatch(name) is None:
            return (
                "is not a property of this type, and not a valid custom property name "
                "(3-250 characters of a-z, 0-9 and '_')"
            )
        if len(_CUSTOM_NAMES_OK) < _CUSTOM_NAMES_MAX:
            _CUSTOM_NAMES_OK.add(name)
    if value is None:
        return "must not be null (omit the property instead)"
    if type(value) is list and not value:
        return "must not be an empty list (omit the property instead)"
    return None


def _check_id(obj: Mapping[str, object], stix_type: str) -> str:
    oid = obj.get("id")
    if oid is None:
        raise InvalidObject(f"{stix_type}: property 'id' is required")
    if type(oid) is not str:
        raise InvalidObject(f"{stix_type}: 'id' must be a string")
    prefix_len = len(stix_type) + 2
    if oid[:prefix_len] != stix_type + "--":
        other = id_type(oid)
        if other is not None:
            raise InvalidObject(f"'id' type prefix '{other}' does not match type '{stix_type}'")
        raise InvalidObject(f"'id' must be '{stix_type}--<UUID>', not {oid[:120]!r}")
    if not is_uuid(oid[prefix_len:]):
        raise InvalidObject(f"'id' must be '{stix_type}--' and a lower-case RFC 4122 UUID, not {oid[:120]!r}")
    return oid


def _check_extensions(oid: str, value: object, spec: TypeSpec | None) -> str | None:
    """Check ``extensions``; return the ``new-*`` extension type it declares, if any."""
    if not isinstance(value, Mapping) or not value:
        raise _fail(oid, "property 'extensions' must be a non-empty JSON object")
    declared: str | None = None
    for key, body in value.items():
        if type(key) is not str:
            raise _fail(oid, "'extensions' keys must be strings")
        if not isinstance(body, Mapping):
            raise _fail(oid, f"extension '{key}' must be a JSON object")
        if key.startswith(_EXT_DEF_PREFIX):
            if not is_uuid(key[len(_EXT_DEF_PREFIX) :]):
                raise _fail(oid, f"extension key {key[:120]!r} is not a valid extension-definition id")
            ext_type = body.get("extension_type")
            if ext_type is not None:
                if ext_type not in _EXTENSION_TYPES:
                    raise _fail(
                        oid,
                        f"extension '{key}': 'extension_type' must be one of "
                        + ", ".join(EXTENSION_TYPE_ENUM),
                    )
                if ext_type in _NEW_OBJECT_EXTENSIONS:
                    declared = str(ext_type)
        elif key.endswith("-ext") and TYPE_RE.fullmatch(key) is not None:
            if spec is not None and spec.kind == "sco":
                check = SCO_EXTENSIONS.get(key)
                if check is not None:
                    err = check(body)
                    if err is not None:
                        raise _fail(oid, f"extension '{key}' {err}")
        else:
            raise _fail(
                oid,
                f"extension key {key[:120]!r} must be an extension-definition id "
                "or a predefined '*-ext' name",
            )
    return declared


def _selector_resolves(obj: Mapping[str, object], selector: str) -> bool:
    node: object = obj
    for part in selector.split("."):
        if part.startswith("[") and part.endswith("]"):
            index = part[1:-1]
            if type(node) is not list or not index.isdigit() or int(index) >= len(node):
                return False
            node = node[int(index)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return False
    return True


def _check_selectors(oid: str, obj: Mapping[str, object]) -> None:
    markings = obj["granular_markings"]
    assert isinstance(markings, list)
    for gm in markings:
        assert isinstance(gm, Mapping)
        selectors = gm["selectors"]
        assert isinstance(selectors, list)
        for selector in selectors:
            if not _selector_resolves(obj, selector):
                raise _fail(oid, f"granular marking selector {selector[:120]!r} does not select a property")


def _check_properties(oid: str, obj: Mapping[str, object], props: Mapping[str, Checker]) -> None:
    for key, value in obj.items():
        check = props.get(key)
        if check is None:
            if key in _HANDLED:
                continue
            err = _custom_property_error(key, value)
        else:
            err = check(value)
        if err is not None:
            raise _fail(oid, f"property {str(key)[:120]!r} {err}")


def _check_spec_version(oid: str, obj: Mapping[str, object], required: bool) -> None:
    sv = obj.get("spec_version")
    if sv is None:
        if required:
            raise _fail(oid, "property 'spec_version' is required (only STIX 2.1 objects are accepted)")
    elif sv != "2.1":
        raise _fail(oid, f"'spec_version' must be '2.1', not {str(sv)[:20]!r}")


def validate_object(obj: object) -> ValidatedObject:
    """Raise kizuna.errors.InvalidObject(reason) if obj is not a valid STIX 2.1 object."""
    if not isinstance(obj, Mapping):
        raise InvalidObject(f"a STIX object must be a JSON object, not {type(obj).__name__}")
    stix_type = obj.get("type")
    if stix_type is None or type(stix_type) is not str or TYPE_RE.fullmatch(stix_type) is None:
        given_id = obj.get("id")
        where = f"{given_id[:120]}: " if type(given_id) is str else ""
        if stix_type is None:
            raise InvalidObject(f"{where}property 'type' is required")
        raise InvalidObject(
            f"{where}'type' must be 3-250 characters of a-z, 0-9 and '-' starting with a letter, "
            f"not {str(stix_type)[:80]!r}"
        )
    oid = _check_id(obj, stix_type)
    spec = SPECS.get(stix_type)
    extensions = obj.get("extensions")
    declared = _check_extensions(oid, extensions, spec) if extensions is not None else None

    if spec is None:
        return _validate_custom(oid, stix_type, obj, declared)

    for name in spec.required:
        if name not in obj:
            raise _fail(oid, f"property '{name}' is required")
    _check_spec_version(oid, obj, spec.kind != "sco")
    _check_properties(oid, obj, spec.props)
    for constraint in spec.constraints:
        err = constraint(obj)
        if err is not None:
            raise _fail(oid, err)
    if "granular_markings" in obj:
        _check_selectors(oid, obj)

    if spec.kind == "sco":
        created = modified = None
        version_key = ""
    else:
        created = obj["created"]
        assert isinstance(created, str)
        if stix_type == "marking-definition":
            modified = created
        else:
            modified = obj["modified"]
            assert isinstance(modified, str)
            if modified != created and timestamp_key(modified) < timestamp_key(created):
                raise _fail(oid, "'modified' must not be earlier than 'created'")
        version_key = modified
        if stix_type == "indicator" and obj["pattern_type"] == "stix":
            pattern = obj["pattern"]
            assert isinstance(pattern, str)
            err = pattern_error(pattern)
            if err is not None:
                raise _fail(oid, f"pattern does not parse: {err}")

    return _result(oid, stix_type, obj, created, modified, version_key)


def _result(
    oid: str,
    stix_type: str,
    obj: Mapping[str, object],
    created: str | None,
    modified: str | None,
    version_key: str,
) -> ValidatedObject:
    cbr = obj.get("created_by_ref")
    return ValidatedObject(
        id=oid,
        type=stix_type,
        spec_version="2.1",
        created=created,
        modified=modified,
        version_key=version_key,
        tlp=tlp_of(obj),
        created_by_ref=cbr if type(cbr) is str else None,
        revoked=obj.get("revoked") is True,
    )


def _validate_custom(
    oid: str, stix_type: str, obj: Mapping[str, object], declared: str | None
) -> ValidatedObject:
    """Custom objects: common properties only (section 11.2; types defined by an extension, section 7.3)."""
    if stix_type == "bundle":
        raise _fail(oid, "a bundle is not an object to store; send the objects it contains")
    sco_like = declared == "new-sco" or (declared is None and "created" not in obj and "modified" not in obj)
    if not sco_like:
        for name in _SDO_LIKE_CUSTOM_REQUIRED:
            if name not in obj:
                raise _fail(oid, f"property '{name}' is required")
    _check_spec_version(oid, obj, not sco_like)
    _check_properties(oid, obj, ANY_OBJECT_COMMON)
    if "granular_markings" in obj:
        _check_selectors(oid, obj)
    created = obj.get("created")
    modified = obj.get("modified")
    if (
        isinstance(created, str)
        and isinstance(modified, str)
        and modified != created
        and timestamp_key(modified) < timestamp_key(created)
    ):
        raise _fail(oid, "'modified' must not be earlier than 'created'")
    c = created if isinstance(created, str) else None
    m = modified if isinstance(modified, str) else None
    return _result(oid, stix_type, obj, c, m, m or c or "")
