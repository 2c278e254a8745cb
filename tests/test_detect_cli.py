"""detect-overlay through the real CLI: bad inputs get one line each and the batch goes on."""

from __future__ import annotations

import fractions
import os
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from nitrogen_cli import formats, overlays
from nitrogen_cli.actions import State
from nitrogen_cli.cli import app
from nitrogen_cli.video import write_video


@pytest.fixture(scope="module", autouse=True)
def _feature_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Template features go to a cache of this module, not the user's."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


def _frames(n: int, size: tuple[int, int], template: str | None) -> list[np.ndarray]:
    """n frames of moving noise blobs (a stand-in game) with an overlay drawn at (20, 200)."""
    rng = np.random.default_rng(0)
    W, H = size
    r = None
    if template is not None:
        t = overlays.get_template(template)
        r = overlays.Renderer(t, 0.3 * W / t.size[0])
    out = []
    for i in range(n):
        frame = np.full((H, W, 3), 20, np.uint8)
        for _ in range(6):
            x, y = rng.integers(0, W - 40), rng.integers(0, H - 40)
            frame[y : y + 40, x : x + 40] = rng.integers(0, 255, 3)
        if r is not None:
            r.draw(frame, State(frozenset({"south"} if i % 2 else set())), 20, 200, 1.0)
        out.append(frame)
    return out


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    good = write_video(d / "good.mp4", _frames(30, (640, 360), "builtin/ps-white"), 30, gop=2)
    truncated = d / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[:600])
    empty = d / "empty.mp4"
    empty.write_bytes(b"")
    text = d / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    audio = d / "audio.m4a"
    with av.open(str(audio), "w") as c:
        s = c.add_stream("aac", rate=16000)
        samples = np.zeros((1, 16000), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 16000, 0, fractions.Fraction(1, 16000)
        for packet in [*s.encode(frame), *s.encode(None)]:
            c.mux(packet)
    short = write_video(d / "short.mp4", _frames(5, (640, 360), None), 30)
    tiny = write_video(d / "tiny.mp4", [f[:16, :16] for f in _frames(30, (64, 64), None)], 30)
    return {
        "good": good,
        "truncated": truncated,
        "empty": empty,
        "text": text,
        "audio": audio,
        "short": short,
        "tiny": tiny,
        "missing": d / "missing.mp4",
    }


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("truncated", ""),
        ("empty", "empty file"),
        ("text", "not a video"),
        ("audio", "no video stream"),
        ("short", "only 5 frames"),
        ("tiny", "too small"),
        ("missing", "no such file"),
    ],
)
def test_a_bad_input_gets_one_line(videos, tmp_path: Path, name: str, says: str) -> None:
    result = CliRunner().invoke(app, ["detect-overlay", str(videos[name]), "-o", str(tmp_path)])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: {videos[name]}: "), lines[0]
    assert says in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert not list(tmp_path.glob("*.h5"))


@pytest.mark.slow
def test_a_batch_with_a_broken_file_writes_the_others(videos, tmp_path: Path) -> None:
    argv = [str(videos["empty"]), str(videos["good"]), str(videos["text"])]
    result = CliRunner().invoke(app, ["detect-overlay", *argv, "-o", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [str(tmp_path / "good.overlay.h5")]
    assert len([line for line in result.stderr.splitlines() if line.startswith("Error:")]) == 2
    with formats.open_file(tmp_path / "good.overlay.h5", "overlay") as f:
        info = formats.read_overlay(f)
    assert info["found"] and info["template"] == "builtin/ps-white"
    assert np.allclose(info["bbox"][:2], (20, 200), atol=4)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("suffix", "codec"),
    [("mkv", "libx264"), ("mov", "libx264"), ("webm", "libvpx-vp9"), ("mkv", "libsvtav1")],
)
def test_other_containers_and_codecs(tmp_path: Path, suffix: str, codec: str) -> None:
    """Thirty keyframes: sampling seeks through each container's own index, and the
    overlay is found in each."""
    frames = _frames(60, (640, 360), "builtin/ps-white")
    src = write_video(tmp_path / f"clip.{suffix}", frames, 30, codec=codec, gop=2)
    result = CliRunner().invoke(app, ["detect-overlay", str(src), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [str(tmp_path / "clip.overlay.h5")]
    with formats.open_file(tmp_path / "clip.overlay.h5", "overlay") as f:
        info = formats.read_overlay(f)
    assert info["found"] and info["template"] == "builtin/ps-white"
    assert np.allclose(info["bbox"][:2], (20, 200), atol=4)
