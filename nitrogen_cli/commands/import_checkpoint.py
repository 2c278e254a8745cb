"""`nitrogen import-checkpoint ng.pt -o DIR`: the released NitroGen weights, in our format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nitrogen_cli.batch import Force, Quiet, Reporter, Verbose, emit


def import_checkpoint_command(
    source: Annotated[Path, typer.Argument(help="The released checkpoint file (ng.pt).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", file_okay=False, help="The checkpoint directory.")
    ],
    trust_pickle: Annotated[
        bool,
        typer.Option(
            "--trust-pickle",
            help="Allow a file that safe (weights-only) loading refuses to run its pickle. "
            "Only for a file from a source you trust.",
        ),
    ] = False,
    force: Force = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Convert the released NitroGen checkpoint into a nitrogen checkpoint directory.

    The result has the nitrogen-500m layout (sizes read from the file) and loads in
    `nitrogen eval` and `nitrogen play` like a trained run. Loading is weights-only
    unless --trust-pickle is given. Prints the directory written.
    """
    from nitrogen_cli.policy import checkpoint as ckpt
    from nitrogen_cli.policy.import_ng import import_checkpoint

    reporter = Reporter(quiet, verbose)
    if (output / ckpt.CONFIG).is_file() and not force:
        reporter.debug(f"{output}: exists, reused (--force rewrites it)")
        emit(output)
        return
    try:
        dest = import_checkpoint(source, output, trust_pickle=trust_pickle)
    except Exception as exc:
        reporter.error(None, exc)
        raise typer.Exit(1) from None
    emit(dest)


def register(app: typer.Typer) -> None:
    app.command("import-checkpoint")(import_checkpoint_command)
