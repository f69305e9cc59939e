"""The web package's public surface is small and deliberate."""

from __future__ import annotations

import kizuna.web


def test_public_surface() -> None:
    assert kizuna.web.__all__ == ["WebUI", "web_routes"]
    for name in kizuna.web.__all__:
        assert getattr(kizuna.web, name).__module__ == "kizuna.web.ui"
