"""A small synthetic dataset file in which each frame determines its actions.

For tests, benchmarks and smoke runs of `nitrogen train` where no corpus is at hand: it is a
real dataset file, written through formats.py like the output of `nitrogen mask`. Each
segment shows one of a few "scenes" (a fixed random image plus a little noise) and holds
that scene's action for its whole length, so the chunk of every frame is predictable from
the frame and a policy can drive the flow-matching loss towards zero.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nitrogen_cli import formats
from nitrogen_cli.actions import N_BUTTONS, Actions


def toy_actions(n: int, rng: np.random.Generator) -> Actions:
    """Random buttons (about one in five pressed) and sticks on a 0.1 grid."""
    return Actions(
        rng.random((n, N_BUTTONS)) < 0.2,
        np.round(rng.uniform(-1, 1, (n, 2)), 1),
        np.round(rng.uniform(-1, 1, (n, 2)), 1),
    )


def write_toy(
    path: str | Path,
    n_frames: int = 32,
    segment_len: int = 8,
    size: int = 32,
    fps: float = 30.0,
    seed: int = 0,
    scenes: int = 4,
    game: str = "toy",
) -> Path:
    """`n_frames` frames of `size`², cut into segments of `segment_len`, one scene each."""
    rng = np.random.default_rng(seed)
    segment = np.arange(n_frames) // max(1, segment_len)
    scene = segment % scenes
    looks = rng.integers(0, 256, (scenes, size, size, 3))
    grain = rng.integers(-8, 9, (n_frames, size, size, 3))
    frames = np.clip(looks[scene] + grain, 0, 255).astype(np.uint8)
    actions = toy_actions(scenes, rng)[scene]
    with formats.create(path, "dataset", command="nitrogen_cli.policy.toy") as f:
        d = formats.create_frames(f, n_frames, size, size)
        d[...] = frames
        formats.write_actions(f, actions)
        formats.write_segment_ids(f, segment)
        formats.write_meta(f, fps=float(fps), game=game)
    return Path(path)
