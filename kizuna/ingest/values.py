"""Checks of typed values (the same rules for MISP attributes and CSV cells): each returns the value as STIX
writes it, or raises ``ValueError`` with a reason a user can act on.

The declared type is final: a value is checked against it and never re-typed by guessing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from urllib.parse import urlsplit

_HEX = {n: re.compile(rf"[0-9a-fA-F]{{{n}}}") for n in (32, 40, 56, 64, 96, 128)}
_SSDEEP = re.compile(r"\d+:[A-Za-z0-9/+]+:[A-Za-z0-9/+.]+(?:,\"?[^\"]*\"?)?")
_LABEL = r"(?!-)[\w-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+", re.UNICODE)
_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)", re.ASCII
)
_MAC = re.compile(r"[0-9a-fA-F]{2}(?:([:-])[0-9a-fA-F]{2})(?:\1[0-9a-fA-F]{2}){4}")
_CVE = re.compile(r"CVE-\d{4}-\d{4,}", re.IGNORECASE)
#: White space as ``str.isspace`` reads it (``re``'s ``\s`` on str is the same predicate), in one C call
#: instead of a Python generator over the characters (tests/ingest/test_values.py holds the two together).
_SPACE = re.compile(r"\s")


def has_space(value: str) -> bool:
    return _SPACE.search(value) is not None


def ip(value: str) -> str:
    """An IPv4 or IPv6 address, or a CIDR block of either."""
    if _IPV4.fullmatch(value) is not None:  # the common case, without building an address object
        return value
    text = value.strip()
    try:
        if "/" in text:
            ipaddress.ip_network(text, strict=False)
        else:
            ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address or CIDR block") from None
    if text != value:
        raise ValueError(f"{value!r} is not an address: it has spaces around it")
    return value


def ip_version(value: str) -> int:
    return 6 if ":" in value else 4


def domain(value: str) -> str:
    """A domain or host name: dot-separated labels of letters, digits, '-' and '_' (253 characters at
    most, each label 63), at least two labels; a trailing dot is allowed."""
    name = value[:-1] if value.endswith(".") else value
    if len(name) > 253 or _DOMAIN.fullmatch(name) is None:
        raise ValueError(f"{value!r} is not a domain name")
    return value


def url(value: str) -> str:
    """An absolute URL: a scheme, a host, and no white space."""
    if not value or has_space(value):
        raise ValueError(f"{value!r} is not a URL (empty, or white space in it)")
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a URL: {exc}") from None
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"{value!r} is not an absolute URL (scheme://host...)")
    return value


def uri(value: str) -> str:
    """A URI or URI path (MISP's ``uri``): non-empty, no white space."""
    if not value or has_space(value):
        raise ValueError(f"{value!r} is not a URI (empty, or white space in it)")
    return value


def email(value: str) -> str:
    local, at, host = value.rpartition("@")
    if not at or not local or has_space(local):
        raise ValueError(f"{value!r} is not an e-mail address")
    try:
        domain(host)
    except ValueError:
        raise ValueError(f"{value!r} is not an e-mail address (bad domain)") from None
    return value


def _hex(n: int, name: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if _HEX[n].fullmatch(value) is None:
            raise ValueError(f"{value!r} is not a {name} ({n} hexadecimal digits)")
        return value

    check.__name__ = name.lower().replace("-", "")
    return check


md5 = _hex(32, "MD5")
sha1 = _hex(40, "SHA-1")
sha224 = _hex(56, "SHA-224")
sha256 = _hex(64, "SHA-256")
sha384 = _hex(96, "SHA-384")
sha512 = _hex(128, "SHA-512")


def ssdeep(value: str) -> str:
    if len(value) > 128 or _SSDEEP.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not an ssdeep hash (BLOCKSIZE:HASH:HASH)")
    return value


def port(value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise ValueError(f"{value!r} is not a port number (0-65535)")
    return int(value)


def asn(value: str) -> int:
    digits = value[2:] if value[:2].upper() == "AS" else value
    if not digits.isdigit() or int(digits) > 4_294_967_295:
        raise ValueError(f"{value!r} is not an autonomous system number (AS1234 or 1234)")
    return int(digits)


def mac(value: str) -> str:
    """A MAC address; STIX writes it in lower case with colons."""
    if _MAC.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not a MAC address (six pairs of hexadecimal digits)")
    return value.lower().replace("-", ":")


def cve(value: str) -> str:
    if _CVE.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not a CVE id (CVE-YYYY-NNNN)")
    return value


def protocol(value: str) -> str:
    """A network protocol name; STIX writes it in lower case (``protocols``, IANA service names)."""
    if not value or has_space(value):
        raise ValueError(f"{value!r} is not a protocol name")
    return value.lower()


def text(value: str) -> str:
    if not value:
        raise ValueError("the value is empty")
    return value


#: Value kinds by name, as the mapping table and CSV mappings name them.
KINDS: dict[str, Callable[[str], str | int]] = {
    "ip": ip,
    "domain": domain,
    "url": url,
    "uri": uri,
    "email": email,
    "md5": md5,
    "sha1": sha1,
    "sha224": sha224,
    "sha256": sha256,
    "sha384": sha384,
    "sha512": sha512,
    "ssdeep": ssdeep,
    "port": port,
    "asn": asn,
    "mac": mac,
    "cve": cve,
    "protocol": protocol,
    "text": text,
}
