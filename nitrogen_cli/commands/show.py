"""`nitrogen show FILE.h5...`: what a nitrogen file is, the first thing to run on one."""

from __future__ import annotations

import sys

import typer

from nitrogen_cli import summarize
from nitrogen_cli.batch import Inputs, Quiet, Reporter, Verbose, finish, read_inputs


def show(files: Inputs = None, quiet: Quiet = False, verbose: Verbose = 0) -> None:
    """Print a file's kind, version, provenance and a summary of its contents.

    Off a terminal each line is `FILE<TAB>FIELD<TAB>VALUE`.
    """
    reporter = Reporter(quiet, verbose)
    paths = read_inputs(files)
    tty = sys.stdout.isatty()
    for path in paths:
        try:
            rows = summarize.describe(path)
        except Exception as exc:
            reporter.error(path, exc)
            continue
        if tty:
            from rich.console import Console
            from rich.table import Table

            table = Table(title=path, show_header=False, title_justify="left")
            table.add_column("field", style="bold")
            table.add_column("value", overflow="fold")
            for key, value in rows:
                table.add_row(key, value)
            Console().print(table)
        else:
            for key, value in rows:
                sys.stdout.write(f"{path}\t{key}\t{value}\n")
            sys.stdout.flush()
    finish(reporter)


def register(app: typer.Typer) -> None:
    app.command("show")(show)
