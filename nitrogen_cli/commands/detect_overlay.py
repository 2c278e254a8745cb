"""`nitrogen detect-overlay [VIDEO...]`: which overlay template each video shows, and where."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nitrogen_cli.batch import (
    Force,
    Inputs,
    NoBuiltin,
    OutputDir,
    Quiet,
    Reporter,
    Templates,
    Verbose,
    finish,
    read_inputs,
    run_batch,
)

USAGE = 2


def detect_overlay(
    files: Inputs = None,
    templates: Templates = None,
    no_builtin: NoBuiltin = False,
    samples: Annotated[
        int,
        typer.Option(
            "--samples",
            "-n",
            min=3,
            max=25,
            help="Frames sampled from each video (keyframes, spread over it).",
        ),
    ] = 25,
    output_dir: OutputDir = None,
    force: Force = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Find the input overlay in gameplay videos: which template it is, and where it sits.

    Samples up to 25 frames of each video (it never decodes the whole file) and matches
    them against every template: the built-in skins plus the input-overlay presets under
    each --templates folder. Writes BASE.overlay.h5 (the template, its box and transform
    in video pixels, the template itself, and a record per sampled frame) and prints its
    path. A video without an overlay is not an error: its file says found = false and a
    note goes to stderr.
    """
    from nitrogen_cli import detect
    from nitrogen_cli.overlays import load_templates

    reporter = Reporter(quiet, verbose)
    for d in templates or []:
        if not Path(d).is_dir():
            reporter.error(d, "no such folder (--templates)")
            raise typer.Exit(USAGE)
    library = load_templates(list(templates or []), not no_builtin, skipped=reporter.note)
    if not library:
        reporter.error(None, "no templates to match: give --templates, or drop --no-builtin")
        raise typer.Exit(USAGE)
    config = detect.DetectConfig(samples=samples)
    paths = read_inputs(files)

    def process(src: Path, dst: Path) -> None:
        det = detect.detect(src, library, config, log=reporter.debug)
        detect.write_detection(dst, det)
        if det.found:
            x, y, w, h = det.bbox or (0, 0, 0, 0)
            reporter.debug(
                f"{src}: {det.template.id if det.template else '?'} at "
                f"[{x:.0f}, {y:.0f}, {w:.0f}, {h:.0f}], score {det.score:.2f}, "
                f"{det.inliers}/{len(det.sample_frame_index)} frames"
            )
        else:
            reporter.note(src, det.why or "no overlay found")

    code = run_batch(paths, "overlay", process, reporter, output_dir, force, None, "detect-overlay")
    finish(reporter, code)


def register(app: typer.Typer) -> None:
    app.command("detect-overlay")(detect_overlay)
