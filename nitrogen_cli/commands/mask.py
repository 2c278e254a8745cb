"""`nitrogen mask [FILTERED.h5...]`: black out the overlay, resize, write training data."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from nitrogen_cli import formats, masking
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

Codec = Enum("Codec", {c.replace("-", "_"): c for c in formats.FRAME_CODECS}, type=str)  # type: ignore[misc]
D = masking.MaskConfig()


def mask_command(
    files: Inputs = None,
    size: Annotated[
        int, typer.Option("--size", "-s", min=8, help="Frames become SIZE x SIZE pixels.")
    ] = D.size,
    margin: Annotated[
        int,
        typer.Option("--margin", "-m", min=0, help="Video pixels blacked around the overlay box."),
    ] = D.margin,
    codec: Annotated[
        Codec,
        typer.Option(
            "--codec",
            help="Compression of /frames. blosc-lz4 needs the hdf5plugin package (to write "
            "and to read); without it lzf is used.",
        ),
    ] = Codec(D.codec),  # type: ignore[assignment]
    output_dir: OutputDir = None,
    force: Force = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Turn filtered files into training datasets.

    Decodes each kept segment of the source video once, blacks out the overlay box
    (plus a margin), squashes each frame to SIZE x SIZE with INTER_AREA and writes
    BASE.dataset.h5: the frames, the action of each frame, segment ids and provenance.
    Prints each path written.
    """
    reporter = Reporter(quiet, verbose)
    config = masking.MaskConfig(size=size, margin=margin, codec=codec.value)
    paths = read_inputs(files)
    wanted_codec = formats.frame_codec(config.codec)[0]

    def is_complete(dst: Path) -> bool:
        # A dataset of another size, margin or codec is not the one asked for: redo it.
        if not formats.is_complete(dst, "dataset"):
            return False
        with formats.open_file(dst, "dataset") as f:
            meta = formats.read_meta(f)
        return (meta.get("size"), meta.get("margin"), meta.get("codec")) == (
            config.size,
            config.margin,
            wanted_codec,
        )

    def process(src: Path, dst: Path) -> None:
        t0 = time.perf_counter()
        result = masking.mask_file(src, dst, config)
        dt = time.perf_counter() - t0
        reporter.debug(
            f"{src}: {result.frames} frames from {result.segments} segments in {dt:.1f} s "
            f"({result.frames / max(dt, 1e-9):.0f} frames/s, {result.codec})"
        )

    code = run_batch(paths, "dataset", process, reporter, output_dir, force, is_complete, "mask")
    finish(reporter, code)


def register(app: typer.Typer) -> None:
    app.command("mask")(mask_command)
