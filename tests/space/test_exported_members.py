from __future__ import annotations

import subprocess
import sys

import kizuna.space


def test_public_surface_is_curated() -> None:
    public = {name for name in dir(kizuna.space) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(kizuna.space, name)).__name__ == "module"}
    assert public - modules == set(kizuna.space.__all__)
    for name in kizuna.space.__all__:
        assert getattr(kizuna.space, name).__doc__, f"{name} has no docstring"


def test_importing_space_loads_neither_matplotlib_nor_a_gpl_library() -> None:
    code = (
        "import sys, kizuna.space; print(sorted(m for m in ('matplotlib', 'ccsds_ndm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
