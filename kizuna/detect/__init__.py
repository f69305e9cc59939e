"""kizuna.detect: match shared STIX indicators against logs, report sightings, export for engines.

See docs/detect.md. The public surface:

>>> from kizuna.detect import Matcher, Event
>>> from datetime import datetime, UTC
>>> m = Matcher()
>>> m.add("indicator--1", "[ipv4-addr:value = '185.225.17.44']")
>>> c2 = {"type": "ipv4-addr", "value": "185.225.17.44"}
>>> e = Event("conn.log", 9, datetime(2026, 2, 1, tzinfo=UTC), {"0": c2})
>>> [(h.key, h.events[0].line) for h in m.feed(e)]
[('indicator--1', 9)]
"""

from kizuna.detect.evaluator import MatchError, ObservedData, find_binding, matches
from kizuna.detect.exports import write_suricata_datasets, write_zeek_intel
from kizuna.detect.indicators import Indicator, Selection, load_bundle, select_indicators
from kizuna.detect.matcher import Event, Hit, Matcher, reference_matches
from kizuna.detect.pattern import PatternError, PatternSyntaxError, parse_pattern
from kizuna.detect.readers import ReadStats, read_events
from kizuna.detect.sightings import build_sightings, identity_for
from kizuna.detect.warninglists import WarningLists, load_warninglists

__all__ = [
    "Event",
    "Hit",
    "Indicator",
    "MatchError",
    "Matcher",
    "ObservedData",
    "PatternError",
    "PatternSyntaxError",
    "ReadStats",
    "Selection",
    "WarningLists",
    "build_sightings",
    "find_binding",
    "identity_for",
    "load_bundle",
    "load_warninglists",
    "matches",
    "parse_pattern",
    "read_events",
    "reference_matches",
    "select_indicators",
    "write_suricata_datasets",
    "write_zeek_intel",
]
