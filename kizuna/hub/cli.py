"""``kizuna hub ...`` and ``kizuna demo``."""

from __future__ import annotations

import typer

hub_app = typer.Typer(
    help="Run a hub: database, organisations, tokens, collections, the TAXII server.", no_args_is_help=True
)


def register(root: typer.Typer) -> None:
    root.add_typer(hub_app, name="hub")
