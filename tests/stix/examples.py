"""Valid STIX 2.1 objects of every type, built with the OASIS ``stix2`` library and serialised.

Modelled on the examples of STIX Version 2.1 (OASIS Standard, 2021), sections 4-7. Ids come from a counter,
timestamps are fixed, so the objects are the same on every run.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from typing import Any

import stix2

from kizuna.stix.markings import TLP, TLP2_IDS, marking_definition

IDENTITY_ID = "identity--311b2d2d-f010-4473-83ec-1edf84858f4c"
CREATED = "2016-04-06T20:03:00.000Z"
MODIFIED = "2016-04-06T20:03:48.123Z"
EXT_DEF_ID = "extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e"

_counter = itertools.count(1)


def sid(stix_type: str) -> str:
    """A deterministic id: ``type--`` and a UUIDv4-shaped UUID from a counter."""
    n = next(_counter)
    return f"{stix_type}--{uuid.UUID(int=n, version=4)}"


def _dump(obj: Any) -> dict[str, Any]:
    return dict(json.loads(obj.serialize()))


def _sdo(cls: Any, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("id", sid(cls._type))
    kwargs.setdefault("created", CREATED)
    kwargs.setdefault("modified", MODIFIED)
    kwargs.setdefault("created_by_ref", IDENTITY_ID)
    return _dump(cls(**kwargs))


def sdos() -> Iterator[dict[str, Any]]:
    s = stix2.v21
    amber = TLP2_IDS[TLP.AMBER]
    yield _sdo(
        s.Identity, id=IDENTITY_ID, name="ACME CERT", identity_class="organization", sectors=["energy"]
    )
    yield _sdo(
        s.Identity, name="John Smith", identity_class="individual", contact_information="js@example.com"
    )
    yield _sdo(
        s.AttackPattern,
        name="Spear Phishing",
        external_references=[{"source_name": "capec", "external_id": "CAPEC-163"}],
        kill_chain_phases=[
            {"kill_chain_name": "mandiant-attack-lifecycle-model", "phase_name": "initial-compromise"}
        ],
    )
    yield _sdo(s.AttackPattern, name="Remote services", aliases=["T1021"], object_marking_refs=[amber])
    yield _sdo(
        s.Campaign,
        name="Green Group Attacks Against Finance",
        description="Campaign by Green Group against a series of targets in the financial services sector.",
        first_seen="2016-04-06T20:03:00Z",
        last_seen="2016-07-06T20:03:00Z",
    )
    yield _sdo(s.CourseOfAction, name="Add TCP port 80 Filter Rule to the existing Block UDP 1434 Filter")
    yield _sdo(
        s.Grouping,
        name="The Black Vine Cyberespionage Group",
        context="suspicious-activity",
        object_refs=[sid("indicator"), sid("campaign"), sid("relationship"), sid("file")],
    )
    yield _sdo(s.Incident, name="Breach of the grid operator's historian")
    for pattern in (
        "[file:hashes.'SHA-256' = 'ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c']",
        "[ipv4-addr:value = '198.51.100.1/32'] OR [ipv4-addr:value = '203.0.113.33/32']",
        "[url:value = 'http://x4z9arb.cn/4712/'] AND [domain-name:value = 'x4z9arb.cn']",
        "[file:name = 'foo.dll' AND file:parent_directory_ref.path = 'C:\\\\Windows\\\\System32']",
        "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_port = 443] WITHIN 600 SECONDS",
        "[email-message:from_ref.value MATCHES '.+\\\\@example\\\\.com$'] REPEATS 5 TIMES",
    ):
        yield _sdo(
            s.Indicator,
            name="Malicious site hosting downloader",
            indicator_types=["malicious-activity"],
            pattern=pattern,
            pattern_type="stix",
            valid_from="2016-01-01T00:00:00Z",
            object_marking_refs=[TLP2_IDS[TLP.GREEN]],
        )
    yield _sdo(
        s.Indicator,
        pattern="rule x { condition: true }",
        pattern_type="yara",
        valid_from=CREATED,
        valid_until="2017-01-01T00:00:00Z",
    )
    yield _sdo(
        s.Indicator,
        pattern='alert tcp any any -> any 80 (msg:"x";)',
        pattern_type="snort",
        valid_from=CREATED,
    )
    yield _sdo(
        s.Infrastructure,
        name="Poison Ivy C2",
        infrastructure_types=["command-and-control"],
        first_seen="2016-01-01T00:00:00Z",
    )
    yield _sdo(
        s.IntrusionSet,
        name="Bobcat Breakin",
        aliases=["Zookeeper"],
        goals=["acquisition-theft"],
        resource_level="government",
        primary_motivation="organizational-gain",
    )
    yield _sdo(
        s.Location, region="south-eastern-asia", country="th", administrative_area="Tak", postal_code="63170"
    )
    yield _sdo(s.Location, latitude=48.8566, longitude=2.3522, precision=1000.0, name="Paris")
    yield _sdo(
        s.Malware,
        name="Cryptolocker",
        malware_types=["ransomware"],
        is_family=True,
        kill_chain_phases=[{"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "exploit"}],
    )
    yield _sdo(s.Malware, is_family=False, sample_refs=[sid("file")], capabilities=["exfiltrates-data"])
    yield _sdo(
        s.MalwareAnalysis,
        product="microsoft",
        analysis_engine_version="5.1.0",
        result="malicious",
        analysis_sco_refs=[sid("file"), sid("url")],
        submitted="2018-11-23T06:45:55.747Z",
    )
    yield _sdo(
        s.Note,
        abstract="Tracking Team Note#1",
        content="This note indicates the various steps taken.",
        authors=["John Doe"],
        object_refs=[sid("campaign")],
    )
    yield _sdo(
        s.ObservedData,
        first_observed="2015-12-21T19:00:00Z",
        last_observed="2015-12-21T19:00:00Z",
        number_observed=50,
        object_refs=[sid("ipv4-addr"), sid("domain-name")],
    )
    yield _sdo(
        s.Opinion,
        explanation="This doesn't seem like it is feasible.",
        opinion="strongly-disagree",
        object_refs=[sid("relationship")],
    )
    yield _sdo(
        s.Report,
        name="The Black Vine Cyberespionage Group",
        report_types=["campaign"],
        published="2016-01-20T17:00:00.000Z",
        object_refs=[sid("indicator"), sid("campaign")],
        labels=["apt"],
        confidence=80,
        lang="en",
    )
    yield _sdo(
        s.ThreatActor,
        name="Evil Org",
        threat_actor_types=["crime-syndicate"],
        roles=["director"],
        sophistication="expert",
        aliases=["Syndicate 1"],
    )
    yield _sdo(s.Tool, name="VNC", tool_types=["remote-access"], tool_version="4.1")
    yield _sdo(
        s.Vulnerability,
        name="CVE-2016-1234",
        external_references=[{"source_name": "cve", "external_id": "CVE-2016-1234"}],
    )


def sros() -> Iterator[dict[str, Any]]:
    s = stix2.v21
    yield _sdo(
        s.Relationship,
        relationship_type="indicates",
        source_ref=sid("indicator"),
        target_ref=sid("malware"),
        description="This indicator indicates Cryptolocker.",
    )
    yield _sdo(
        s.Relationship,
        relationship_type="uses",
        source_ref=sid("intrusion-set"),
        target_ref=sid("attack-pattern"),
        start_time="2016-01-01T00:00:00Z",
        stop_time="2016-02-01T00:00:00Z",
    )
    yield _sdo(
        s.Relationship,
        relationship_type="related-to",
        source_ref=sid("x-mitre-tactic"),
        allow_custom=True,
        target_ref=sid("domain-name"),
    )
    yield _sdo(
        s.Sighting,
        sighting_of_ref=sid("indicator"),
        where_sighted_refs=[IDENTITY_ID],
        observed_data_refs=[sid("observed-data")],
        count=3,
        first_seen="2016-01-01T00:00:00Z",
        last_seen="2016-01-02T00:00:00Z",
        summary=False,
    )


def meta_objects() -> Iterator[dict[str, Any]]:
    s = stix2.v21
    yield _dump(s.TLP_WHITE)
    yield _dump(s.TLP_RED)
    yield _dump(
        s.MarkingDefinition(
            id=sid("marking-definition"),
            created=CREATED,
            definition_type="statement",
            definition={"statement": "Copyright 2019, Example Corp"},
        )
    )
    for level in TLP:
        yield marking_definition(level)
    yield _sdo(
        s.LanguageContent,
        object_ref=sid("campaign"),
        object_modified="2017-02-08T21:31:22.007Z",
        contents={"de": {"name": "Bank Angriff 1", "description": "Weitere Informationen über Banküberfall"}},
    )
    yield _sdo(
        s.ExtensionDefinition,
        id=EXT_DEF_ID,
        name="New SDO 1",
        description="This schema creates a new object type called my-favorite-sdo-1",
        schema="https://www.example.com/schema-my-favorite-sdo-1/v1/",
        version="1.2.1",
        extension_types=["new-sdo"],
    )
    yield _sdo(
        s.ExtensionDefinition,
        name="Extension Foo 1",
        schema="https://www.example.com/schema-foo-1/v1/",
        version="1.2.1",
        extension_types=["toplevel-property-extension"],
        extension_properties=["toxicity", "rank"],
    )


def _sco(cls: Any, **kwargs: Any) -> dict[str, Any]:
    return _dump(cls(**kwargs))


def scos() -> Iterator[dict[str, Any]]:
    s = stix2.v21
    yield _sco(s.Artifact, mime_type="image/jpeg", payload_bin="VBORw0KGgoAAAANSUhEUgAAADI==")
    yield _sco(
        s.Artifact,
        mime_type="application/zip",
        url="https://upload.example.com/a.zip",
        hashes={"SHA-256": "6b885a1e1d42c0ca66e5f8a17e5a5d29a3bcb3b1b8e80a2e1e9b3f2e9b3c9a44"},
        encryption_algorithm="mime-type-indicated",
        decryption_key="My voice is my passport",
    )
    yield _sco(s.AutonomousSystem, number=15139, name="Slime Industries", rir="ARIN")
    yield _sco(s.Directory, path="C:\\Windows\\System32")
    yield _sco(s.DomainName, value="example.com")
    yield _sco(s.EmailAddress, value="john@example.com", display_name="John Doe")
    yield _sco(
        s.EmailMessage,
        is_multipart=False,
        subject="Saying Hello",
        body="Hi",
        date="1997-11-21T15:55:06.000Z",
        from_ref=sid("email-addr"),
        to_refs=[sid("email-addr")],
        additional_header_fields={"Reply-To": ["steve@example.com"]},
    )
    yield _sco(
        s.EmailMessage,
        is_multipart=True,
        content_type="multipart/mixed",
        body_multipart=[
            {"content_type": "text/plain; charset=utf-8", "body": "Cats are funny!"},
            {"content_type": "image/png", "body_raw_ref": sid("artifact")},
        ],
    )
    yield _sco(
        s.File,
        name="foo.dll",
        size=25536,
        hashes={"SHA-256": "ceafbfd424be2ca4a5f0402cae090dda2fb0526cf521b60b60077c0f622b285a"},
    )
    yield _sco(
        s.File,
        name="quêry.dll",
        hashes={"MD5": "3773a88f65a5e780c8dff9cdc3a056f3"},
        extensions={"windows-pebinary-ext": {"pe_type": "dll", "number_of_sections": 4}},
    )
    yield _sco(
        s.File,
        name="archive.zip",
        extensions={"archive-ext": {"contains_refs": [sid("file"), sid("directory")]}},
    )
    yield _sco(s.IPv4Address, value="198.51.100.3")
    yield _sco(s.IPv4Address, value="198.51.100.0/24", belongs_to_refs=[sid("autonomous-system")])
    yield _sco(s.IPv6Address, value="2001:0db8:85a3:0000:0000:8a2e:0370:7334")
    yield _sco(s.MACAddress, value="d2:fb:49:24:37:18")
    yield _sco(s.Mutex, name="__CLEANSWEEP__")
    yield _sco(
        s.NetworkTraffic,
        src_ref=sid("ipv4-addr"),
        dst_ref=sid("ipv4-addr"),
        protocols=["ipv4", "tcp"],
        src_port=24678,
        dst_port=80,
        start="2018-11-23T06:45:55.747Z",
        end="2018-11-23T06:46:55.747Z",
        is_active=False,
    )
    yield _sco(
        s.NetworkTraffic,
        dst_ref=sid("domain-name"),
        protocols=["tcp", "http"],
        extensions={
            "http-request-ext": {
                "request_method": "get",
                "request_value": "/download.html",
                "request_header": {"Host": "www.example.com"},
            }
        },
    )
    yield _sco(
        s.Process,
        pid=1221,
        command_line="./gedit-bin --new-window",
        image_ref=sid("file"),
        created_time="2016-01-20T14:11:25.55Z",
    )
    yield _sco(
        s.Software,
        name="Word",
        cpe="cpe:2.3:a:microsoft:word:2000:*:*:*:*:*:*:*",
        version="2002",
        vendor="Microsoft",
    )
    yield _sco(s.URL, value="https://example.com/research/index.html")
    yield _sco(
        s.UserAccount,
        user_id="1001",
        account_login="jdoe",
        account_type="unix",
        display_name="John Doe",
        is_privileged=False,
        account_created="2016-01-20T12:31:12Z",
        extensions={
            "unix-account-ext": {
                "gid": 1001,
                "groups": ["wheel"],
                "home_dir": "/home/jdoe",
                "shell": "/bin/bash",
            }
        },
    )
    yield _sco(
        s.WindowsRegistryKey,
        key="hkey_local_machine\\system\\bar\\foo",
        values=[{"name": "Foo", "data": "qwerty", "data_type": "REG_SZ"}],
    )
    yield _sco(
        s.X509Certificate,
        issuer="C=ZA, ST=Western Cape, L=Cape Town, O=Thawte Consulting cc",
        validity_not_before="2016-03-12T12:00:00Z",
        validity_not_after="2016-08-21T12:00:00Z",
        subject="C=US, ST=Maryland, L=Pasadena, O=Brent Baccala, OU=FreeSoft",
        serial_number="02:08:87:83",
    )


def custom_objects() -> Iterator[dict[str, Any]]:
    """Objects of types the spec does not define (section 11.2 custom objects, section 7.3 extensions)."""
    yield {
        "type": "x-acme-asset",
        "spec_version": "2.1",
        "id": sid("x-acme-asset"),
        "created": CREATED,
        "modified": MODIFIED,
        "name": "Substation 7 RTU",
        "x_acme_criticality": 3,
    }
    yield {
        "type": "my-favorite-sdo",
        "spec_version": "2.1",
        "id": sid("my-favorite-sdo"),
        "created": "2014-02-20T09:16:08.989Z",
        "modified": "2014-02-20T09:16:08.989Z",
        "name": "This is the name of my favorite",
        "some_property_name1": "value1",
        "some_property_name2": "value2",
        "extensions": {EXT_DEF_ID: {"extension_type": "new-sdo"}},
    }
    yield {
        "type": "my-favorite-sco",
        "id": sid("my-favorite-sco"),
        "value": "x",
        "extensions": {EXT_DEF_ID: {"extension_type": "new-sco"}},
    }
    yield {
        "type": "indicator",
        "spec_version": "2.1",
        "id": sid("indicator"),
        "created": CREATED,
        "modified": MODIFIED,
        "pattern": "[ipv4-addr:value = '203.0.113.7']",
        "pattern_type": "stix",
        "valid_from": CREATED,
        "toxicity": 8,
        "rank": 5,
        "extensions": {
            "extension-definition--a932fcc6-e032-476c-926f-cb970a5a1fff": {
                "extension_type": "toplevel-property-extension"
            }
        },
    }


def all_valid() -> list[dict[str, Any]]:
    return [*sdos(), *sros(), *meta_objects(), *scos(), *custom_objects()]
