"""Small builders shared by tests: real files made through the real library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from nitrogen_cli import formats
from nitrogen_cli.actions import Actions

REPO = Path(__file__).resolve().parents[1]
NITROGEN = [sys.executable, "-m", "nitrogen_cli"]


def run_cli(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """The real `nitrogen` in a subprocess, as a shell would run it."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [*NITROGEN, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def make_actions(n: int, seed: int = 0, active: float = 0.5) -> Actions:
    rng = np.random.default_rng(seed)
    a = Actions.zeros(n)
    a.buttons[:] = rng.random((n, 17)) < active * 0.2
    a.j_left[:] = np.where(rng.random((n, 1)) < active, rng.uniform(-1, 1, (n, 2)), 0)
    return a


def write_truth(path: Path, n: int = 60, seed: int = 0, fps: float = 30.0) -> Path:
    """A small truth file (no video behind it): enough for show and format tests."""
    with formats.create(path, "truth", command="test") as f:
        formats.write_actions(f, make_actions(n, seed))
        formats.write_overlay(
            f,
            {
                "found": True,
                "template": "builtin/test",
                "bbox": [10, 20, 100, 60],
                "fps": fps,
                "frame_count": n,
                "width": 640,
                "height": 360,
                "video": str(path.with_suffix("").with_suffix(".mp4")),
            },
        )
        formats.write_meta(f, fps=fps, game="nitrogen/Test-v0")
    return path
