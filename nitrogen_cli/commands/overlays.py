"""`nitrogen overlays list|render`: the overlay templates, and one state drawn by one."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from nitrogen_cli.batch import NoBuiltin, Quiet, Reporter, Templates, Verbose, atomic_path, emit

app = typer.Typer(
    name="overlays",
    help="List the overlay templates (built-in skins and input-overlay presets) and draw "
    "gamepad states with them.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

USAGE = 2


def _check_dirs(reporter: Reporter, dirs: list[Path] | None) -> list[Path]:
    """The --templates folders, or exit 2 naming one that does not exist."""
    for d in dirs or []:
        if not Path(d).is_dir():
            reporter.error(d, "no such folder (--templates)")
            raise typer.Exit(USAGE)
    return list(dirs or [])


@app.command("list")
def list_templates(
    templates: Templates = None,
    no_builtin: NoBuiltin = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Print one template per line: id, layout, size (WxH) and the elements it shows.

    Off a terminal the fields are tab-separated, the id first.
    """
    from nitrogen_cli.overlays import load_templates

    reporter = Reporter(quiet, verbose)
    dirs = _check_dirs(reporter, templates)
    rows = [
        (t.id, t.layout, f"{t.size[0]}x{t.size[1]}", ",".join(t.shows))
        for t in load_templates(dirs, not no_builtin, skipped=reporter.note)
    ]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(box=None, header_style="bold")
        for col in ("id", "layout", "size"):
            table.add_column(col, no_wrap=True)
        table.add_column("shows")
        for row in rows:  # a space after each comma lets long lists wrap between names
            table.add_row(*row[:3], row[3].replace(",", ", "))
        Console().print(table)
    else:
        for row in rows:
            sys.stdout.write("\t".join(row) + "\n")
        sys.stdout.flush()


@app.command("render")
def render_template(
    id: Annotated[str, typer.Argument(help="Template id, as `nitrogen overlays list` prints.")],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="PNG file to write ('-' writes it to stdout)."),
    ],
    state: Annotated[
        str,
        typer.Option(
            "--state",
            "-s",
            help='The gamepad state as JSON, e.g. \'{"south": true, "j_left": [0.5, -1], '
            '"right_trigger": 0.6}\'. Buttons take true/false, sticks [x, y] in [-1, 1] '
            "(+y down), triggers a bool or a number in [0, 1]. Default: all released.",
        ),
    ] = "{}",
    scale: Annotated[
        float, typer.Option("--scale", help="Output pixels per template pixel.")
    ] = 1.0,
    templates: Templates = None,
    no_builtin: NoBuiltin = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Draw one gamepad state with one template and write it as an RGBA PNG.

    Prints the path written.
    """
    from nitrogen_cli.actions import ActionError, State
    from nitrogen_cli.overlays import TemplateNotFound, encode_png, get_template

    reporter = Reporter(quiet, verbose)
    try:
        data = json.loads(state)
        if not isinstance(data, dict):
            raise ActionError(f"must be a JSON object, got {type(data).__name__}")
        parsed = State.from_mapping(data)
    except (json.JSONDecodeError, ActionError) as exc:
        reporter.error(None, f"--state: {exc}")
        raise typer.Exit(USAGE) from None
    if not scale > 0 or scale > 64:
        reporter.error(None, f"--scale must be in (0, 64], got {scale}")
        raise typer.Exit(USAGE)
    dirs = _check_dirs(reporter, templates)
    try:
        template = get_template(id, dirs, not no_builtin, skipped=reporter.note)
    except TemplateNotFound as exc:
        reporter.error(None, str(exc))
        raise typer.Exit(USAGE) from None
    try:
        png = encode_png(template.render(parsed, scale))
        if str(output) == "-":
            sys.stdout.buffer.write(png)
            sys.stdout.flush()
            return
        with atomic_path(output) as tmp:
            tmp.write_bytes(png)
    except Exception as exc:
        reporter.error(output, exc)
        raise typer.Exit(1) from None
    emit(output)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="overlays")
