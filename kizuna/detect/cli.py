"""CLI for kizuna.detect. `register(root)` adds this domain's commands to the root `kizuna` app."""

from __future__ import annotations

import typer


def register(root: typer.Typer) -> None:
    """Add this domain's commands to ``root`` (filled in by the detect work)."""
