"""The shared CLI manners, exercised through run_batch with real files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import typer

from nitrogen_cli import batch, formats
from nitrogen_cli.actions import Actions


@pytest.mark.parametrize(
    ("src", "kind", "out"),
    [
        ("run.mp4", "overlay", "run.overlay.h5"),
        ("run.overlay.h5", "actions", "run.actions.h5"),
        ("run.actions.h5", "filtered", "run.filtered.h5"),
        ("run.filtered.h5", "dataset", "run.dataset.h5"),
        ("run.truth.h5", "filtered", "run.filtered.h5"),
        ("my.run.v2.mkv", "overlay", "my.run.v2.overlay.h5"),
        ("noext", "overlay", "noext.overlay.h5"),
    ],
)
def test_output_names_drop_the_input_kind(src: str, kind: str, out: str) -> None:
    assert batch.output_path(Path("/d") / src, kind) == Path("/d") / out
    assert batch.output_path(Path("/d") / src, kind, Path("/o")) == Path("/o") / out


def test_inputs_from_arguments_or_stdin() -> None:
    assert batch.read_inputs(["a", "b"]) == ["a", "b"]
    assert batch.read_inputs([], io.StringIO("a\n\n  b  \n")) == ["a", "b"]
    assert batch.read_inputs(["-"], io.StringIO("c\n")) == ["c"]
    with pytest.raises(typer.BadParameter):
        batch.read_inputs(["a", "-"])


def _write(src: Path, dst: Path) -> None:
    if "skip" in src.name:
        raise batch.Skip("nothing to do here")
    if "bad" in src.name:
        raise formats.FormatError("not a nitrogen file")
    with formats.create(dst, "truth", inputs=[src]) as f:
        formats.write_actions(f, Actions.zeros(3))
        formats.write_overlay(f, {"found": False})


def test_batch_goes_on_past_failures_and_notes_skips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ["a.mp4", "bad.mp4", "skip.mp4", "b.mp4", "missing.mp4"]
    for n in names[:-1]:
        (tmp_path / n).write_text(n)
    inputs = [str(tmp_path / n) for n in names]
    code = batch.run_batch(inputs, "truth", _write, batch.Reporter())
    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines() == [str(tmp_path / "a.truth.h5"), str(tmp_path / "b.truth.h5")]
    assert err.splitlines() == [
        f"Error: {tmp_path / 'bad.mp4'}: not a nitrogen file",
        f"note: {tmp_path / 'skip.mp4'}: nothing to do here",
        f"Error: {tmp_path / 'missing.mp4'}: no such file",
    ]


def test_quiet_silences_notes_but_not_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in ("skip.mp4", "bad.mp4"):
        (tmp_path / n).write_text(n)
    code = batch.run_batch(
        [str(tmp_path / "skip.mp4"), str(tmp_path / "bad.mp4")],
        "truth",
        _write,
        batch.Reporter(quiet=True),
    )
    err = capsys.readouterr().err
    assert code == 1 and "note:" not in err and err.startswith("Error: ")


def test_complete_outputs_are_reused_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "a.mp4"
    src.write_text("a")
    calls: list[Path] = []

    def process(s: Path, d: Path) -> None:
        calls.append(s)
        _write(s, d)

    assert batch.run_batch([str(src)], "truth", process, batch.Reporter()) == 0
    assert batch.run_batch([str(src)], "truth", process, batch.Reporter()) == 0
    assert len(calls) == 1
    # A damaged output is not "complete": the rerun rewrites it.
    out = tmp_path / "a.truth.h5"
    out.write_bytes(out.read_bytes()[:100])
    assert batch.run_batch([str(src)], "truth", process, batch.Reporter()) == 0
    assert len(calls) == 2
    assert batch.run_batch([str(src)], "truth", process, batch.Reporter(), force=True) == 0
    assert len(calls) == 3
    # Reused or rewritten, the output path is always printed for the next stage.
    assert capsys.readouterr().out.splitlines() == [str(out)] * 4


def test_verbose_shows_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.mp4").write_text("x")
    batch.run_batch([str(tmp_path / "bad.mp4")], "truth", _write, batch.Reporter(verbose=1))
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().endswith("not a nitrogen file")


def test_outputs_that_collide_are_an_error(tmp_path: Path) -> None:
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "a.mp4").write_text(d)
    inputs = [str(tmp_path / "x" / "a.mp4"), str(tmp_path / "y" / "a.mp4")]
    out = tmp_path / "out"
    assert batch.run_batch(inputs, "truth", _write, batch.Reporter(), output_dir=out) == 1
    assert (out / "a.truth.h5").exists()


def test_describe_is_one_line() -> None:
    assert batch.describe(ValueError("a\nb")) == "a b"
    assert batch.describe(RuntimeError()) == "RuntimeError"
    assert batch.describe(ZeroDivisionError("x")) == "ZeroDivisionError: x"
