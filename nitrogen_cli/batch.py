"""The CLI manners every subcommand shares, implemented once.

Inputs come from arguments or stdin; each output path goes to stdout the moment it is
written; everything else (notes, errors, progress) goes to stderr. A failed input never
stops the batch, a skipped one is not a failure, and an output that already exists is
reused, which is how a killed batch resumes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

# File kinds a pipeline stage writes; an input's own kind suffix is dropped from the base.
KIND_SUFFIXES: tuple[str, ...] = (
    "overlay",
    "actions",
    "filtered",
    "dataset",
    "truth",
    "rollout",
    "eval",
)


class NitrogenError(Exception):
    """A problem with one input, reported as one line: `Error: <path>: <message>`."""


class Skip(Exception):
    """An input that needs no output (no overlay, nothing kept). Not an error."""


# -- shared options: every subcommand spells them the same way ---------------------------
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print no notes, logs or progress.")]
Verbose = Annotated[
    int,
    typer.Option("--verbose", "-v", count=True, help="Say more; -v shows tracebacks."),
]
Force = Annotated[bool, typer.Option("--force", "-f", help="Rewrite outputs that already exist.")]
OutputDir = Annotated[
    Path | None,
    typer.Option(
        "--output-dir",
        "-o",
        file_okay=False,
        help="Where outputs go (created if missing). Default: beside each input.",
    ),
]
Inputs = Annotated[
    list[str] | None,
    typer.Argument(
        help="Input files. None, or '-', reads one path per line from stdin.",
        show_default=False,
    ),
]
Templates = Annotated[
    list[Path] | None,
    typer.Option(
        "--templates",
        "-t",
        help="A folder of input-overlay presets to add to the built-in skins (repeatable).",
    ),
]
NoBuiltin = Annotated[
    bool, typer.Option("--no-builtin", help="Leave out the built-in procedural skins.")
]


@dataclass
class Reporter:
    """Where a command's words go: stderr, and only as loud as asked."""

    quiet: bool = False
    verbose: int = 0
    errors: int = 0
    _console: Any = field(default=None, repr=False)

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False)
        return self._console

    @property
    def interactive(self) -> bool:
        return not self.quiet and sys.stderr.isatty()

    def _write(self, line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def info(self, message: str) -> None:
        if not self.quiet:
            self._write(message)

    def debug(self, message: str) -> None:
        if self.verbose and not self.quiet:
            self._write(message)

    def note(self, path: str | Path, why: str) -> None:
        if not self.quiet:
            self._write(f"note: {path}: {why}")

    def error(self, path: str | Path | None, exc: BaseException | str) -> None:
        """One line per failure; the traceback only with -v. Errors print even with -q."""
        self.errors += 1
        if isinstance(exc, BaseException) and self.verbose:
            traceback.print_exception(exc, file=sys.stderr)
        message = describe(exc)
        self._write(f"Error: {path}: {message}" if path is not None else f"Error: {message}")

    @contextlib.contextmanager
    def progress(self, total: float | None, description: str) -> Iterator[Callable[[float], None]]:
        """Yield an `advance(n)`; draws a rich bar on stderr only when it is a TTY."""
        if not self.interactive:
            yield lambda n=1: None
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        ) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n=1: bar.advance(task, n)


def describe(exc: BaseException | str) -> str:
    """A one-line reason: our own errors speak for themselves, others name their type."""
    if isinstance(exc, str):
        return exc
    if isinstance(exc, (NitrogenError, Skip)):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    elif isinstance(exc, (ValueError, KeyError, OSError)) and str(exc):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split())


def read_inputs(args: Sequence[str] | None, stdin: Iterable[str] | None = None) -> list[str]:
    """The arguments, or one path per line on stdin when there are none (or only '-')."""
    args = list(args or [])
    if args and args != ["-"]:
        if "-" in args:
            raise typer.BadParameter("'-' (stdin) cannot be mixed with file arguments")
        return args
    if stdin is None:
        if sys.stdin is None or (sys.stdin.isatty() and not args):
            raise typer.BadParameter("no input files: name them, or pipe their paths on stdin")
        stdin = sys.stdin
    return [line.strip() for line in stdin if line.strip()]


def base_name(path: str | Path) -> str:
    """`run.mp4` and `run.overlay.h5` both give `run`: the stem without a kind suffix."""
    name = Path(path).name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        return name
    head, dot2, last = stem.rpartition(".")
    if dot2 and last in KIND_SUFFIXES and ext in ("h5", "hdf5"):
        return head
    return stem


def output_path(src: str | Path, kind: str, output_dir: Path | None = None) -> Path:
    directory = Path(output_dir) if output_dir is not None else Path(src).parent
    return directory / f"{base_name(src)}.{kind}.h5"


def temporary_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary name beside `final`; rename onto it only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(final)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def emit(path: str | Path) -> None:
    """Print one output path on stdout, at once, so the next stage can start on it."""
    sys.stdout.write(f"{path}\n")
    sys.stdout.flush()


Process = Callable[[Path, Path], "Path | None"]


def run_batch(
    inputs: Sequence[str],
    kind: str,
    process: Callable[[Path, Path], Any],
    reporter: Reporter,
    output_dir: Path | None = None,
    force: bool = False,
    is_complete: Callable[[Path], bool] | None = None,
    description: str | None = None,
) -> int:
    """Map each input to `<base>.<kind>.h5` with `process(src, dst)`; return the exit code.

    `process` writes `dst` (atomically, through formats.create) or raises Skip. An output
    that already exists and is complete is reused unless `force`, so a rerun resumes.
    """
    if is_complete is None:
        from nitrogen_cli import formats

        def is_complete(p: Path) -> bool:
            return formats.is_complete(p, kind)

    seen: dict[Path, str] = {}
    with reporter.progress(len(inputs), description or kind) as advance:
        for raw in inputs:
            src = Path(raw)
            try:
                dst = output_path(src, kind, output_dir)
                if dst.resolve() in seen:
                    raise NitrogenError(
                        f"its output {dst} is also the output of {seen[dst.resolve()]}"
                    )
                seen[dst.resolve()] = raw
                if not src.exists():
                    raise NitrogenError("no such file")
                if not force and is_complete(dst):
                    reporter.debug(f"{dst}: exists, reused (--force rewrites it)")
                    emit(dst)
                    continue
                process(src, dst)
                emit(dst)
            except Skip as why:
                reporter.note(raw, describe(why))
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # one bad input never stops the batch
                reporter.error(raw, exc)
            finally:
                advance(1)
    return 1 if reporter.errors else 0


def finish(reporter: Reporter, code: int | None = None) -> None:
    """Leave with the batch's exit code: 0 all well, 1 some inputs failed."""
    raise typer.Exit(code if code is not None else (1 if reporter.errors else 0))
