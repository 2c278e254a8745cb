"""The whole chain, as a user types it: detect-overlay | extract-actions | filter | mask."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nitrogen_cli import corpus, formats
from nitrogen_cli.corpus import PLAY, Placement, Segment
from nitrogen_cli.dataset import ChunkDataset
from nitrogen_cli.overlays import get_template
from tests.helpers import REPO


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """12 s of Breakout at 640x360@30 with a built-in skin in the bottom-left corner."""
    base = corpus.plan_corpus("Breakout", 0.2, seed=11, canvas=(640, 360), fps=30)[0]
    t = get_template("builtin/ps-white")
    spec = dataclasses.replace(
        base,
        games=("nitrogen/Breakout-v0",),
        frames=360,
        template=t.id,
        opacity=0.85,
        placements=(Placement(16, 360 - 16 - 105, 170 / t.size[0]),),
        segments=(Segment(0, 360, 0, PLAY, 0),),
        player="auto",
    )
    return corpus.make_video(spec, tmp_path_factory.mktemp("pipeline"))


@pytest.mark.slow
def test_the_chain_runs_as_a_shell_pipeline(video: tuple[Path, Path], tmp_path: Path) -> None:
    mp4, truth = video
    py = f"{sys.executable} -m nitrogen_cli"
    cmd = (
        f"ls {mp4.parent}/*.mp4 | {py} detect-overlay -o {tmp_path} | {py} extract-actions"
        f" | {py} filter --chunk-seconds 4 --min-tail 2 | {py} mask --size 64"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    (out,) = proc.stdout.split()
    dataset = Path(out)
    assert dataset == tmp_path / f"{mp4.stem}.dataset.h5"
    for kind in ("overlay", "actions", "filtered"):
        assert (tmp_path / f"{mp4.stem}.{kind}.h5").is_file()

    with formats.open_file(tmp_path / f"{mp4.stem}.overlay.h5", "overlay") as f:
        found = formats.read_overlay(f)
    with formats.open_file(truth, "truth") as f:
        real = formats.read_overlay(f)
        true_acts, _ = formats.read_actions(f)
    assert found["found"] and found["layout"] == real["layout"]

    ds = ChunkDataset([dataset], chunk=4)
    assert len(ds) > 0 and ds.info.frame_size == (64, 64)
    with formats.open_file(dataset, "dataset") as f:
        acts, frame_index = formats.read_actions(f)
        frames = f["frames"][:8]
    # The rows kept are the video's own frames, and the actions read off the overlay
    # agree with what the player pressed on nearly all of them.
    agree = (acts.buttons == true_acts.buttons[frame_index]).all(axis=1).mean()
    assert agree > 0.9
    # The overlay's corner is black in the masked frames.
    x, y, w, h = (int(v * 64 / s) for v, s in zip(real["bbox"], (640, 360, 640, 360), strict=True))
    assert np.all(frames[:, y + 1 : y + h - 1, x + 1 : x + w - 1] == 0)
