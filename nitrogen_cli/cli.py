"""The `nitrogen` typer app. It only registers commands; each lives in commands/."""

from __future__ import annotations

import importlib
import pkgutil
import signal
import sys

import typer

from nitrogen_cli import __version__, commands

app = typer.Typer(
    name="nitrogen",
    help="Mine gamepad actions from gameplay videos with input overlays, and train "
    "and evaluate generalist gaming agents on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"nitrogen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """nitrogen: detect-overlay | extract-actions | filter | mask | train | eval | play."""


def _register_all() -> None:
    # Every module in commands/ registers itself, so only what exists is registered.
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(app)


_register_all()


def main() -> None:
    # Behave like a Unix tool in a pipeline: `nitrogen show *.h5 | head` must not trace.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(app(standalone_mode=True))
