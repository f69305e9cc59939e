"""Value checks: the fast paths agree with plain references on random inputs (IPv4 against ``ipaddress``,
domains against a label-by-label reading), and each kind refuses what it must."""

from __future__ import annotations

import ipaddress
import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.ingest import values
from kizuna.ingest.mapping import KIZUNA_NAMESPACE, derived_uuid

DOTTED = st.lists(st.text("0123456789", min_size=1, max_size=4), min_size=3, max_size=5).map(".".join)
_LABEL = re.compile(r"[\w-]{1,63}", re.UNICODE)


def _ip_reference(value: str) -> bool:
    try:
        if "/" in value:
            ipaddress.ip_network(value, strict=False)
        else:
            ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _domain_reference(value: str) -> bool:
    name = value[:-1] if value.endswith(".") else value
    labels = name.split(".")
    return (
        len(name) <= 253
        and len(labels) >= 2
        and all(_LABEL.fullmatch(x) and not x.startswith("-") and not x.endswith("-") for x in labels)
    )


def _accepts(check: object, value: str) -> bool:
    try:
        check(value)  # type: ignore[operator]
    except ValueError:
        return False
    return True


@settings(max_examples=500, deadline=None)
@given(st.one_of(DOTTED, st.ip_addresses().map(str), st.text(max_size=20)))
def test_ip_agrees_with_ipaddress(value: str) -> None:
    assert _accepts(values.ip, value) == _ip_reference(value)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"[a-z0-9_-]{1,70}(\.[a-z0-9_-]{0,70}){0,4}\.?", fullmatch=True), st.text(max_size=30)
    )
)
def test_domain_agrees_with_a_label_by_label_reading(value: str) -> None:
    assert _accepts(values.domain, value) == _domain_reference(value)


@pytest.mark.parametrize(
    ("kind", "bad"),
    [
        ("md5", "d41d8cd98f00b204e9800998ecf8427"),
        ("sha1", "zz" * 20),
        ("sha256", "a" * 63),
        ("url", "not a url"),
        ("url", "/relative/path"),
        ("email", "no-at.example.com"),
        ("port", "70000"),
        ("asn", "ASX"),
        ("mac", "00:11:22:33:44"),
        ("cve", "CVE-21-1"),
        ("ip", " 198.51.100.1"),
    ],
)
def test_each_kind_refuses_what_it_must(kind: str, bad: str) -> None:
    with pytest.raises(ValueError, match="is not"):
        values.KINDS[kind](bad)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=4))
def test_derived_uuid_is_uuid5_in_kizunas_namespace(parts: list[str]) -> None:
    assert derived_uuid(*parts) == str(uuid.uuid5(KIZUNA_NAMESPACE, "/".join(parts)))


def test_derived_uuid_on_every_variant_digit() -> None:
    """Every value of the digit the variant bits are written into (the 17th) is met and written right."""
    import hashlib

    seen = set()
    for i in range(400):
        part = f"part-{i}"
        digest = hashlib.sha1(KIZUNA_NAMESPACE.bytes + part.encode(), usedforsecurity=False).hexdigest()
        seen.add(digest[16])
        assert derived_uuid(part) == str(uuid.uuid5(KIZUNA_NAMESPACE, part))
    assert len(seen) == 16


def test_white_space_is_what_str_isspace_says_for_every_code_point() -> None:
    for cp in range(0x110000):
        c = chr(cp)
        assert values.has_space(c) == c.isspace(), hex(cp)
