"""Warning lists (MISP): addresses, networks and domains on them; indicators flagged; validity rules."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.detect.indicators import select_indicators
from kizuna.detect.pattern import parse_pattern
from kizuna.detect.warninglists import WarningLists, network, network_reference

from .conftest import indicator

NOW = datetime(2026, 2, 1, tzinfo=UTC)


def test_lookups(warninglists: WarningLists) -> None:
    wl = warninglists
    assert set(wl.names) >= {"rfc1918", "rfc5735", "public-dns-v4", "public-dns-v6", "tranco10k", "rfc6761"}
    assert wl.hit_address("10.20.30.40") == "rfc1918"
    assert wl.hit_address("172.31.255.255") == "rfc1918" and wl.hit_address("172.32.0.1") is None
    assert wl.hit_address("8.8.8.8") == "public-dns-v4"
    assert wl.hit_address("100.64.0.1") == "rfc6598"
    assert wl.hit_address("fe80::1") == "ipv6-linklocal"
    assert wl.hit_address("2001:db8::42") == "rfc3849"
    assert wl.hit_address("10.0.0.0/16") == "rfc1918"  # a network inside a listed one
    assert wl.hit_address("185.225.17.44") is None and wl.hit_address("not an ip") is None
    assert wl.hit_domain("google.com") == "tranco10k"
    assert wl.hit_domain("mail.google.com.") == "tranco10k"  # subdomains of a listed host
    assert wl.hit_domain("notgoogle.com") is None
    assert wl.hit_domain("example.org") == "rfc6761"
    assert wl.hit_url("https://www.google.com/search?q=x") == "tranco10k"
    assert wl.hit_url("http://10.1.1.1:8080/x") == "rfc1918"


def test_pattern_hits(warninglists: WarningLists) -> None:
    hit = warninglists.hit_pattern
    assert hit(parse_pattern("[ipv4-addr:value = '192.168.1.1']")) == "rfc1918"
    assert hit(parse_pattern("[ipv4-addr:value ISSUBSET '10.0.0.0/8']")) == "rfc1918"
    assert hit(parse_pattern("[domain-name:value IN ('evil.example', 'github.com')]")) == "tranco10k"
    assert hit(parse_pattern("[network-traffic:dst_ref.value = '8.8.4.4']")) == "public-dns-v4"
    assert (
        hit(parse_pattern("[ipv4-addr:value = '185.225.17.44'] AND [url:value = 'http://x.test/']")) is None
    )
    assert hit(parse_pattern("[ipv4-addr:value != '10.0.0.1']")) is None  # not an equality
    assert hit(parse_pattern("[file:name = 'google.com']")) is None  # not a domain property


def test_selection_rules(warninglists: WarningLists) -> None:
    old = indicator("[ipv4-addr:value = '185.225.17.1']", n=1)
    newer = dict(old, modified="2026-01-20T00:00:00.000Z", pattern="[ipv4-addr:value = '185.225.17.2']")
    objects = [
        newer,
        old,  # an older version of the same indicator: the latest modified wins
        indicator("[ipv4-addr:value = '185.225.17.3']", n=2, revoked=True),
        indicator("[ipv4-addr:value = '185.225.17.4']", n=3, valid_until="2026-02-01T00:00:00Z"),
        indicator("[ipv4-addr:value = '185.225.17.5']", n=4, valid_until="2026-02-01T00:00:01Z"),
        indicator("[ipv4-addr:value = '8.8.8.8']", n=5),
        indicator("alert tcp any any", n=6, pattern_type="snort"),
        indicator("[ipv4-addr:value = ]", n=7),
    ]
    sel = select_indicators(objects, now=NOW, warninglists=warninglists)
    assert sorted(i.pattern for i in sel.active) == [
        "[ipv4-addr:value = '185.225.17.2']",
        "[ipv4-addr:value = '185.225.17.5']",
    ]
    assert [(i.pattern, i.listed_on) for i in sel.flagged] == [
        ("[ipv4-addr:value = '8.8.8.8']", "public-dns-v4")
    ]
    assert dict(sel.skipped) == {
        "revoked": 1,
        "expired (valid_until passed)": 1,
        "pattern_type snort": 1,
        "pattern does not compile": 1,
    }
    everything = select_indicators(objects, now=NOW, warninglists=warninglists, include_listed=True)
    assert len(everything.active) == 3 and not everything.flagged


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(alphabet="0123456789./:abcdefABCDEFx%- ", max_size=24),
        st.ip_addresses().map(str),
        st.tuples(st.ip_addresses(v=4), st.integers(0, 40)).map(lambda t: f"{t[0]}/{t[1]}"),
        st.tuples(st.ip_addresses(v=6), st.integers(0, 130)).map(lambda t: f"{t[0]}/{t[1]}"),
        st.text(max_size=12),
    )
)
def test_network_reading_agrees_with_ipaddress(text: str) -> None:
    """The fast reading of addresses and networks gives what ipaddress.ip_network(strict=False) gives."""
    assert network(text) == network_reference(text)
