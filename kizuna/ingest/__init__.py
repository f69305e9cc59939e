"""Ingest: MISP events and feeds, CSV and STIX 2.0 into a hub, mapped in the open, nothing half-stored.

Commands: ``kizuna ingest misp|misp-feed|csv|stix`` and ``kizuna export misp`` (:mod:`kizuna.ingest.cli`).
The mapping table is :mod:`kizuna.ingest.mapping` (docs/ingest.md is generated from it).
"""

from kizuna.ingest.export import export_events
from kizuna.ingest.misp import Options, convert_event, events_in
from kizuna.ingest.patterns import comparison_pattern
from kizuna.ingest.stix20 import upgrade

__all__ = ["Options", "comparison_pattern", "convert_event", "events_in", "export_events", "upgrade"]
