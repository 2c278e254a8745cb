"""Corpus speed: seconds of work per minute of video, by canvas and frame rate, and where
the time goes (playing, compositing, colour conversion, x264 encoding).

Each case renders one video of an Atari game and one of a Doom scenario in this process,
with x264 single-threaded (as make-corpus runs it with -j > 1), and reports wall and
CPU seconds per minute of video. The 10-minute `make corpus` budget is about
15 min x 2 cores = 180 CPU-seconds per minute of video, all included.

Run alone: `python tools/bench/bench_corpus.py [--quick]`; `make bench` collects it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402

from nitrogen_cli import corpus  # noqa: E402

GAMES = ("Breakout", "DoomDefendTheCenter")
CASES = ((1280, 720, 30), (1280, 720, 60), (1920, 1080, 30), (1920, 1080, 60))
SKIN = "builtin/xbox-white"


def spec_for(game: str, canvas: tuple[int, int], fps: int, seconds: float) -> corpus.VideoSpec:
    """A plain video: the game played throughout, a 25%-wide overlay in a corner."""
    base = corpus.plan_corpus(
        game, seconds / 60, seed=0, canvas=canvas, fps=fps, video_seconds=(seconds, seconds)
    )[0]
    from nitrogen_cli.overlays import get_template

    t = get_template(SKIN)
    scale = 0.25 * canvas[0] / t.size[0]
    h = round(t.size[1] * scale)
    n = base.frames
    return dataclasses.replace(
        base,
        template=SKIN,
        opacity=0.8,
        placements=(corpus.Placement(20, canvas[1] - h - 20, scale),),
        segments=(corpus.Segment(0, n, 0, corpus.PLAY, 0),),
        background={"kind": "black", "colour": [0, 0, 0]},
        display={"aspect": "4:3", "zoom": 1.0, "align": "center", "filter": "nearest"},
        crf=25,
    )


def run(quick: bool = False) -> dict:
    cv2.setNumThreads(1)
    seconds = 4.0 if quick else 20.0
    out: dict = {"video_seconds_per_case": seconds, "skin": SKIN, "games": list(GAMES)}
    cases = {}
    with tempfile.TemporaryDirectory() as tmp:
        for w, h, fps in CASES:
            wall = cpu = 0.0
            stages: dict[str, float] = {}
            for game in GAMES:
                spec = spec_for(game, (w, h), fps, seconds)
                t0, c0 = time.perf_counter(), time.process_time()
                corpus.make_video(spec, tmp, threads=1, stats=stages)
                wall += time.perf_counter() - t0
                cpu += time.process_time() - c0
            minutes = seconds * len(GAMES) / 60
            frames = round(seconds * fps) * len(GAMES)
            cases[f"{w}x{h}@{fps}"] = {
                "wall_s_per_video_minute": round(wall / minutes, 1),
                "cpu_s_per_video_minute": round(cpu / minutes, 1),
                "ms_per_frame": {k: round(v / frames * 1000, 2) for k, v in stages.items()},
            }
    out["cases"] = cases
    # The default corpus draws 1280x720 70% of the time and 60 fps 40% of the time.
    mix = 0.0
    for (w, h, fps), weight in zip(
        CASES, (0.7 * 0.6, 0.7 * 0.4, 0.3 * 0.6, 0.3 * 0.4), strict=True
    ):
        mix += weight * cases[f"{w}x{h}@{fps}"]["cpu_s_per_video_minute"]
    out["default_mix_cpu_s_per_video_minute"] = round(mix, 1)
    out["make_corpus_estimate_s_on_2_cores"] = round(mix * 10 / 2, 0)
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
