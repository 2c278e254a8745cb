"""extract-actions memory stays bounded on a long 1080p video.

The issue's bar is a 1-hour 1080p video under 2 GB RSS, made by stream-copying a 1-minute
clip 60 times. That takes many minutes to decode on CI's two cores, so this test
stream-copies a 2-second 1080p clip 8 and 16 times and asserts what makes the hour safe:
peak RSS of the real CLI (`nitrogen extract-actions`, a subprocess) does not grow with the
video's length (a leak of even a few kilobytes a frame would show over the 480 frames
between the two), and stays under the bound. Both are long enough for the frames decoded
ahead of the parser (extract.ReadAhead, at most AHEAD_BYTES of crops) to reach their
bound: with 4 copies they did not quite. Without extract.steady_heap() glibc's heap
grew by about 60 MB between the two. The full hour is measured by
tools/bench/bench_extract.py (`hour_1080p`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nitrogen_cli import formats, overlays, video
from nitrogen_cli.parser.synth import random_states
from nitrogen_cli.video import VideoWriter

REPO = Path(__file__).resolve().parents[1]
W, H, FPS, FRAMES = 1920, 1080, 30, 60


def clip_1080p(path: Path, template: overlays.Template) -> dict:
    """A 2-second 1080p30 H.264 clip: a panning noise background, the overlay drawn in
    random states at the bottom left. Returns the overlay file's /overlay attributes."""
    import cv2

    rng = np.random.default_rng(0)
    r = overlays.Renderer(template, 420 / template.size[0])
    x, y = 40, H - r.height - 40
    base = rng.integers(0, 256, (H // 16 + 8, W // 16 + 8, 3), dtype=np.uint8)
    base = cv2.resize(base, (W + 128, H + 128), interpolation=cv2.INTER_CUBIC)
    states = random_states(rng, template.shows, FRAMES)
    with VideoWriter(path, W, H, FPS, gop=FPS) as vw:
        for i, s in enumerate(states):
            frame = np.ascontiguousarray(base[i : i + H, 2 * i : 2 * i + W])
            r.draw(frame, s, x, y, 0.9)
            vw.write(frame)
    return {
        "found": True,
        "template": template.id,
        "layout": template.layout,
        "layout_json": template.layout_json,
        "bbox": [x, y, r.width, r.height],
        "transform": [[r.sx, 0.0, float(x)], [0.0, r.sy, float(y)]],
        "fps": float(FPS),
        "width": W,
        "height": H,
    }


def peak_rss_mb(overlay: Path, out: Path) -> tuple[float, int, int]:
    """Run the real CLI, `nitrogen extract-actions OVERLAY -o OUT`, as a child of a fresh
    Python that reports its children's peak RSS (so nothing else pytest ran counts).
    Returns (peak RSS in MB, rows written, frames decoded)."""
    code = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stderr.write(p.stderr)\n"
        "print(p.stdout.strip())\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(p.returncode)\n"
    )
    cli = [str(Path(sys.executable).with_name("nitrogen")), "extract-actions", "-q"]
    p = subprocess.run(
        [sys.executable, "-c", code, *cli, str(overlay), "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    written, kb = p.stdout.split()[-2:]
    with formats.open_file(written, "actions") as f:
        rows = len(f["actions/frame_index"])
        valid = formats.read_valid(f)
    decoded = rows if valid is None else int(valid.sum())
    return int(kb) / 1024, rows, decoded


@pytest.mark.slow
def test_memory_does_not_grow_with_a_long_1080p_video(tmp_path: Path) -> None:
    t = overlays.get_template("builtin/xbox-white")
    clip = tmp_path / "clip.mp4"
    info = clip_1080p(clip, t)
    rss = {}
    for times in (8, 16):
        mp4 = video.stream_copy(clip, tmp_path / f"x{times}.mp4", times)
        ov = tmp_path / f"x{times}.overlay.h5"
        attrs = info | {"video": str(mp4.resolve()), "frame_count": times * FRAMES}
        with formats.create(ov, "overlay", inputs=[mp4], command="test") as f:
            formats.write_overlay(f, attrs, atlas_png=t.atlas_png)
        mb, rows, decoded = peak_rss_mb(ov, tmp_path / f"out{times}")
        assert rows == decoded == times * FRAMES  # every copied frame was read
        rss[times] = mb
    assert rss[16] < 2048, rss
    # 480 more frames of 1080p: flat (a frame's worth of RGB alone is 6 MB)
    assert rss[16] - rss[8] < 48, rss
