"""`nitrogen extract-actions [OVERLAY.h5...]`: read every frame's gamepad state off the overlay."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nitrogen_cli.batch import (
    Force,
    Inputs,
    OutputDir,
    Quiet,
    Reporter,
    Verbose,
    finish,
    read_inputs,
    run_batch,
)


def extract_actions_command(
    files: Inputs = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            "-c",
            help="A parser checkpoint (.safetensors beside its .json). Default: the shipped one.",
        ),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Frames parsed together.")] = 128,
    output_dir: OutputDir = None,
    force: Force = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Read each frame's buttons and sticks off the overlay that detect-overlay found.

    Takes the template from the overlay file itself, decodes its video once and writes
    BASE.actions.h5: per frame the 17 buttons and two sticks, a confidence, which frames
    decoded, and which elements the template shows. Inputs whose overlay was not found
    are skipped with a note.
    """
    reporter = Reporter(quiet, verbose)
    paths = read_inputs(files)
    state: dict[str, object] = {}

    def process(src: Path, dst: Path) -> None:
        from nitrogen_cli.parser import extract as ex
        from nitrogen_cli.parser.model import load

        cfg = ex.ExtractConfig(batch=batch, checkpoint=str(checkpoint) if checkpoint else None)
        if "net" not in state:
            state["net"] = load(cfg.checkpoint)
        with reporter.progress(None, src.name) as advance:
            result = ex.extract(
                src, dst, cfg, net=state["net"], log=reporter.debug, progress=advance
            )
        if result.note:
            reporter.note(src, result.note)
        boxes = result.stats.get("placements", 1)
        moved = f", read at {boxes} boxes: the overlay moved" if boxes > 1 else ""
        reporter.debug(
            f"{src}: {result.decoded}/{result.frames} frames in {result.seconds:.1f} s "
            f"({result.stats.get('fps', 0):.0f} fps, {100 * result.stats.get('reused', 0):.0f}% "
            f"of crops unchanged, calibrated again {result.stats.get('recalibrated', 0)} times"
            f"{moved})"
        )

    code = run_batch(paths, "actions", process, reporter, output_dir, force, None, "extract")
    finish(reporter, code)


def register(app: typer.Typer) -> None:
    app.command("extract-actions")(extract_actions_command)
