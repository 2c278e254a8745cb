"""Video reading: the errors a user sees for files PyAV cannot open."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nitrogen_cli import video
from tests.helpers import run_cli


def _clip(path: Path) -> Path:
    frames = np.random.default_rng(0).integers(0, 255, (12, 64, 96, 3), dtype=np.uint8)
    return video.write_video(path, frames, 30.0)


def test_an_mp4_cut_short_is_named_as_such(tmp_path: Path) -> None:
    whole = _clip(tmp_path / "whole.mp4")
    assert video.probe(whole).frame_count == 12
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(video.VideoError, match="without its index"):
        video.probe(cut)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01 not a video at all " * 50)
    with pytest.raises(video.VideoError, match="no demuxer"):
        video.probe(garbage)


def test_the_cli_says_it_in_one_line(tmp_path: Path) -> None:
    whole = _clip(tmp_path / "whole.mp4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    r = run_cli("detect-overlay", "-o", str(tmp_path / "out"), str(cut))
    assert r.returncode == 1 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert lines == [
        f"Error: {cut}: MP4/MOV file without its index (no moov box): "
        "cut short while being written?"
    ]
