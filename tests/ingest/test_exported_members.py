from __future__ import annotations

import subprocess
import sys

import kizuna.ingest


def test_public_surface_is_curated() -> None:
    public = {name for name in dir(kizuna.ingest) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(kizuna.ingest, name)).__name__ == "module"}
    assert public - modules == set(kizuna.ingest.__all__)
    for name in kizuna.ingest.__all__:
        assert getattr(kizuna.ingest, name).__doc__, f"{name} has no docstring"


def test_importing_ingest_loads_none_of_the_test_peers() -> None:
    peers = ("misp_stix_converter", "pymisp", "stix2elevator", "stix2validator", "stix2")
    code = (
        "import sys, kizuna.ingest, kizuna.ingest.cli;"
        f" print(sorted(m for m in {peers!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
