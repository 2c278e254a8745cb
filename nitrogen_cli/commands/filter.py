"""`nitrogen filter [ACTIONS_OR_TRUTH.h5...]`: keep the chunks where someone really plays."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from nitrogen_cli import filtering, formats
from nitrogen_cli.batch import (
    Force,
    Inputs,
    OutputDir,
    Quiet,
    Reporter,
    Verbose,
    base_name,
    finish,
    read_inputs,
    run_batch,
)
from nitrogen_cli.report import print_table

D = filtering.FilterConfig()


def filter_command(
    files: Inputs = None,
    chunk_seconds: Annotated[
        float, typer.Option("--chunk-seconds", "-c", help="Chunk length in seconds.", min=0.001)
    ] = D.chunk_seconds,
    min_active: Annotated[
        float,
        typer.Option(
            "--min-active",
            "-a",
            min=0,
            max=1,
            help="Keep a chunk when this fraction of its "
            "frames has a button pressed or a stick outside the dead zone.",
        ),
    ] = D.min_active,
    dead_zone: Annotated[
        float, typer.Option("--dead-zone", min=0, help="Stick radius that counts as at rest.")
    ] = D.dead_zone,
    min_tail: Annotated[
        float,
        typer.Option(
            "--min-tail", min=0, help="Seconds a trailing partial chunk needs to be judged at all."
        ),
    ] = D.min_tail_seconds,
    min_confidence: Annotated[
        float,
        typer.Option(
            "--min-confidence",
            min=0,
            max=1,
            help="Drop a chunk whose mean extraction "
            "confidence is below this (truth files are certain).",
        ),
    ] = D.min_confidence,
    min_visible: Annotated[
        float,
        typer.Option(
            "--min-visible",
            min=0,
            max=1,
            help="Drop a chunk where the overlay shows in fewer than this fraction of frames.",
        ),
    ] = D.min_visible,
    report: Annotated[
        bool,
        typer.Option(
            "--report", help="Print hours in, hours kept and why chunks were dropped (stderr)."
        ),
    ] = False,
    output_dir: OutputDir = None,
    force: Force = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Keep the chunks of real play from actions or truth files.

    Cuts each video into chunks (20 s by default) and keeps a chunk when at least half of
    its frames carry input, extraction was confident and the overlay stayed on screen.
    Writes BASE.filtered.h5 (the kept segments, and why each chunk was kept or dropped)
    and prints its path. An input with nothing kept is skipped with a note.
    """
    reporter = Reporter(quiet, verbose)
    try:
        config = filtering.FilterConfig(
            chunk_seconds, min_active, dead_zone, min_tail, min_confidence, min_visible
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    paths = read_inputs(files)
    rules = asdict(config)
    summaries: list[filtering.Summary] = []

    def is_complete(dst: Path) -> bool:
        # An output judged by other rules is not the output asked for: redo it.
        if not formats.is_complete(dst, "filtered"):
            return False
        with formats.open_file(dst, "filtered") as f:
            _, used = formats.read_chunks(f)
        if any(used.get(k) != v for k, v in rules.items()):
            return False
        summaries.append(filtering.read_summary(dst))
        return True

    def process(src: Path, dst: Path) -> None:
        try:
            result = filtering.filter_file(src, dst, config)
        except filtering.NothingKept as skip:
            summaries.append(skip.summary)
            raise
        summary = result.summary(base_name(src))
        summaries.append(summary)
        reporter.debug(
            f"{src}: kept {len(result.segments)} segments, "
            f"{summary.frames_kept}/{summary.frames_in} frames"
        )

    code = run_batch(paths, "filtered", process, reporter, output_dir, force, is_complete, "filter")
    if report:
        print_report(summaries)
    finish(reporter, code)


def print_report(summaries: list[filtering.Summary]) -> None:
    """One row per input and a total, on stderr: stdout carries only paths, for `| mask`."""
    reasons = filtering.DROP_REASONS
    columns = ["id", "hours_in", "hours_kept", "kept_%", "chunks", *reasons]
    rows = [_row(s.name, [s], reasons) for s in summaries]
    if len(summaries) != 1:
        rows.append(_row("total", summaries, reasons))
    print_table(columns, rows, "nitrogen filter", out=sys.stderr, header_in_pipe=True)


def _row(name: str, items: list[filtering.Summary], reasons: tuple[str, ...]) -> list[object]:
    h_in = sum(s.hours_in for s in items)
    h_kept = sum(s.hours_kept for s in items)
    drops = [sum(s.dropped.get(r, 0) for s in items) for r in reasons]
    pct = round(100 * h_kept / h_in, 1) if h_in else 0.0
    return [name, h_in, h_kept, pct, sum(s.chunks for s in items), *drops]


def register(app: typer.Typer) -> None:
    app.command("filter")(filter_command)
