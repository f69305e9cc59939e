"""kizuna.space: catalogue ingest, SGP4 propagation, conjunction screening, Pc, CDMs, publishing.

See docs/space.md. The public surface is below; plotting (``kizuna.space.plot``, matplotlib) and
publishing (``kizuna.space.publish``) are imported from their modules when needed.
"""

from kizuna.space.assessment import assess_cdm, assess_event, event_to_cdm
from kizuna.space.catalog import Catalog, CatalogObject, Problem, parse_catalog_text, read_catalog
from kizuna.space.cdm import Cdm, CdmObject, parse_cdm, read_cdm, write_kvn, write_xml
from kizuna.space.events import Event, read_events_csv, write_events_csv
from kizuna.space.pc import PcResult, pc_circle, pc_foster, pc_max
from kizuna.space.reference import dense_screen
from kizuna.space.screening import ScreenResult, ScreenSettings, screen, stale_element_sets
from kizuna.space.synthetic import synthetic_catalog
from kizuna.space.volumes import Volume

__all__ = [
    "Catalog",
    "CatalogObject",
    "Cdm",
    "CdmObject",
    "Event",
    "PcResult",
    "Problem",
    "ScreenResult",
    "ScreenSettings",
    "Volume",
    "assess_cdm",
    "assess_event",
    "dense_screen",
    "event_to_cdm",
    "parse_catalog_text",
    "parse_cdm",
    "pc_circle",
    "pc_foster",
    "pc_max",
    "read_catalog",
    "read_cdm",
    "read_events_csv",
    "screen",
    "stale_element_sets",
    "synthetic_catalog",
    "write_events_csv",
    "write_kvn",
    "write_xml",
]
