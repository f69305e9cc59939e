"""kizuna.minerals: critical-mineral supply risk for the partnership (see docs/minerals.md).

>>> from kizuna.minerals import MineralsData, profile
>>> data = MineralsData()                      # the shipped, checksum-verified files
>>> profile(data, "gallium").headline("refining").conc.top1_iso3
'CHN'
"""

from kizuna.minerals.dataset import DataPaths, MineralsData
from kizuna.minerals.diversify import diversify, solve_allocation
from kizuna.minerals.eucrm import Assumptions, compute_crm
from kizuna.minerals.exposure import exposure
from kizuna.minerals.geopolrisk import geopolrisk
from kizuna.minerals.metrics import concentration, concentration_reference
from kizuna.minerals.profile import all_minerals, profile
from kizuna.minerals.restrictions import SEEDED, Restriction
from kizuna.minerals.scenario import Scenario, load_scenario, run_scenario
from kizuna.minerals.tidy import LoadReport, Row

__all__ = [
    "SEEDED",
    "Assumptions",
    "DataPaths",
    "LoadReport",
    "MineralsData",
    "Restriction",
    "Row",
    "Scenario",
    "all_minerals",
    "compute_crm",
    "concentration",
    "concentration_reference",
    "diversify",
    "exposure",
    "geopolrisk",
    "load_scenario",
    "profile",
    "run_scenario",
    "solve_allocation",
]
