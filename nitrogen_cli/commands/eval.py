"""`nitrogen eval ...`: score a stage's outputs against the corpus truth."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from nitrogen_cli.batch import Inputs, Quiet, Reporter, Verbose, finish, read_inputs

T = TypeVar("T")

app = typer.Typer(
    name="eval",
    help="Score what a stage produced against the corpus truth.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

TruthDir = Annotated[
    Path,
    typer.Option(
        "--truth", "-t", file_okay=False, help="Folder of the corpus truth files (<id>.truth.h5)."
    ),
]
JsonOut = Annotated[
    Path | None, typer.Option("--json", help="Also write the report as JSON to this path.")
]


def _score_each(
    files: list[str] | None, truth: Path, reporter: Reporter, score: Callable[[str, Path], T]
) -> list[T]:
    """score(input, truth folder) for every input; a bad input gets its one-line error
    and the report goes on without it."""
    if not truth.is_dir():
        reporter.error(truth, "no such folder (--truth)")
        raise typer.Exit(2)
    out = []
    for raw in read_inputs(files):
        try:
            out.append(score(raw, truth))
        except Exception as exc:  # one bad input never stops the report
            reporter.error(raw, exc)
    return out


@app.command("extraction")
def extraction(
    files: Inputs = None,
    truth: TruthDir = Path("corpus"),
    json_out: JsonOut = None,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Score actions files (extract-actions) against their videos' truth.

    Prints one row per skin and one for all: frames scored, button accuracy (shown
    buttons, every frame), the share of frames with every button right, the lowest F1 of
    a button pressed in at least 5 frames, and stick R² per axis; then F1 per button.
    Frames where the truth shows the overlay elsewhere, or not at all, are not scored.
    """
    from nitrogen_cli import eval_extraction as ee
    from nitrogen_cli.report import print_table, write_json

    reporter = Reporter(quiet, verbose)

    def load(raw: str, truth: Path) -> Any:
        pair = ee.load_pair(raw, ee.find_truth(raw, truth))
        if pair.note:
            reporter.note(raw, pair.note)
        return pair

    pairs = _score_each(files, truth, reporter, load)
    if pairs:
        report = ee.evaluate(pairs)
        print_table(*ee.skin_rows(report), title="extraction per skin")
        print_table(*ee.button_rows(report), title="F1 per button")
        if json_out is not None:
            write_json(json_out, report)
    finish(reporter)


@app.command("detection")
def detection(
    files: Inputs = None,
    truth: TruthDir = Path("corpus"),
    json_out: JsonOut = None,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Score overlay files (detect-overlay) against their videos' truth.

    Prints one row per true template and one for all: videos with an overlay, the share
    found with the right layout and a box of IoU >= 0.9 (correct), with the right layout,
    with the right skin, the median and lowest IoU; videos without an overlay and the
    share wrongly flagged as found; and the share of sampled frames judged right.
    """
    from nitrogen_cli import eval_detection as ed
    from nitrogen_cli.report import print_table, write_json

    reporter = Reporter(quiet, verbose)
    scored = _score_each(
        files, truth, reporter, lambda raw, truth: ed.score_pair(raw, ed.find_truth(raw, truth))
    )
    if scored:
        report = ed.evaluate(scored)
        print_table(*ed.table(report), title="detection")
        if json_out is not None:
            write_json(json_out, report)
    finish(reporter)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="eval")
