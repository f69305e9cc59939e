"""The ``kizuna`` command: one Typer app; each domain registers its own sub-commands.

Errors reach the user as one line on stderr and a non-zero exit status, never a traceback: exit status 2 for
bad input or a refused action (``KizunaError``, and ``OSError`` from the environment), 1 where a command
documents a failure of its own (``hub sync --once``, ``hub audit verify``), 130 after Ctrl-C.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

import typer

from kizuna import __version__
from kizuna.clikit import err
from kizuna.errors import KizunaError

#: Which domain module registers each top-level command. Only the modules a command needs are imported, so
#: ``kizuna hub ...`` does not pay for numpy, scipy or matplotlib.
COMMANDS: dict[str, str] = {
    "hub": "kizuna.hub.cli",
    "demo": "kizuna.hub.cli",
    "ingest": "kizuna.ingest.cli",
    "export": "kizuna.ingest.cli",
    "match": "kizuna.detect.cli",
    "space": "kizuna.space.cli",
    "minerals": "kizuna.minerals.cli",
    "samples": "kizuna.samples",
}


def _version(value: bool) -> None:
    if value:
        print(f"kizuna {__version__}")
        raise typer.Exit()


def build_app(command: str | None = None) -> typer.Typer:
    """The CLI app with the domain that registers ``command`` (every domain when None or unknown)."""
    app = typer.Typer(
        name="kizuna",
        help="kizuna (絆): share security information between partners safely, and act on it.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version."
        ),
    ) -> None:
        """kizuna (絆): share security information between partners safely, and act on it."""

    wanted = COMMANDS.get(command or "")
    modules = [wanted] if wanted else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).register(app)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (used by the console script and by tests)."""
    args = list(sys.argv[1:] if argv is None else argv)
    db_before = os.environ.get("KIZUNA_DB")
    try:
        if any(a.startswith("--db-file") for a in args):  # the store's modules only when needed
            from kizuna.hub.store.backends import take_db_file

            args = take_db_file(args)  # sets KIZUNA_DB for this run and the processes it starts
        command = next((a for a in args if not a.startswith("-")), None)
        build_app(command)(args=args, prog_name="kizuna")
    except SystemExit as exc:  # Typer/click end every run this way, usage errors included
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except KizunaError as exc:
        err.print(f"kizuna: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("kizuna: interrupted")
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 1
    except OSError as exc:  # a file the command could not read or write: one line, never a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        err.print(f"kizuna: error: {where}{exc.strerror or exc}", markup=False, soft_wrap=True)
        return 2
    finally:  # a caller in the same process (a test, a script) keeps its own environment
        if db_before is None:
            os.environ.pop("KIZUNA_DB", None)
        else:
            os.environ["KIZUNA_DB"] = db_before
    return 0


def _quiet_stdout() -> None:
    """After the reader of a pipe went away (``kizuna ... | head``): send what is left of stdout nowhere,
    so Python's exit does not fail flushing it."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)
