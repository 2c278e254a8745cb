"""Overlay rendering speed: the built-in library's build time, and milliseconds per drawn
state at a streamer's size (about 300 px wide), per skin family and per real preset.

Run alone: `python tools/bench/bench_overlays.py [--quick]`; `make bench` collects it.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from nitrogen_cli.actions import BUTTONS, State  # noqa: E402
from nitrogen_cli.overlays import Renderer, load_templates, skins  # noqa: E402

WIDTH = 300  # output overlay width in pixels
PRESETS = REPO.parent / "shared" / "overlays" / "input-overlay"


def random_states(n: int, seed: int = 0) -> list[State]:
    """Gameplay-like states: a few buttons, sticks often deflected, triggers sometimes."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        pressed = frozenset(b for b in BUTTONS if rng.random() < 0.12)
        sticks = [
            tuple(float(v) for v in rng.uniform(-1, 1, 2) * (rng.random() < 0.7)) for _ in "lr"
        ]
        triggers = tuple(float(v) for v in rng.uniform(0, 1, 2) * (rng.random(2) < 0.3))
        out.append(State(pressed, sticks[0], sticks[1], triggers))  # type: ignore[arg-type]
    return out


def per_state_ms(fn, states: list[State]) -> float:
    """Median milliseconds of fn(state) over the states (after one warm-up call)."""
    fn(states[0])
    times = []
    for s in states:
        t0 = time.perf_counter()
        fn(s)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 3)


def measure(template, states: list[State]) -> dict:
    t0 = time.perf_counter()
    r = Renderer(template, WIDTH / template.size[0])
    build = time.perf_counter() - t0
    frame = np.zeros((720, 1280, 3), np.uint8)
    return {
        "size": list(r.size),
        "filter": r.filter,
        "build_ms": round(build * 1000, 1),
        "render_rgba_ms": per_state_ms(r.render, states),
        "premultiplied_ms": per_state_ms(r.premultiplied, states),
        "draw_on_frame_ms": per_state_ms(lambda s: r.draw(frame, s, 40, 400, 0.85), states),
    }


def run(quick: bool = False) -> dict:
    for fn in (skins.builtin_template, skins._layout, skins._geometry):
        fn.cache_clear()
    t0 = time.perf_counter()
    builtins = skins.builtin_templates()
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in builtins:
        t.shows  # noqa: B018 - computing what each skin shows is part of loading it
    shows_s = time.perf_counter() - t0

    states = random_states(40 if quick else 300)
    families: dict[str, dict] = {}
    for t in builtins:
        family = t.layout.removeprefix("builtin/")
        if family not in families:  # one variant per family: variants share geometry
            families[family] = {"template": t.id, **measure(t, states)}
    presets: dict[str, dict] = {}
    if PRESETS.is_dir():
        seen = set()
        for t in load_templates([PRESETS], builtin=False):
            if t.layout not in seen:
                seen.add(t.layout)
                presets[t.id] = measure(t, states[: 40 if quick else 150])
    render_ms = [f["render_rgba_ms"] for f in [*families.values(), *presets.values()]]
    return {
        "output_width_px": WIDTH,
        "states_per_template": len(states),
        "builtin_skins": len(builtins),
        "builtin_build_s": round(build_s, 3),
        "builtin_shows_s": round(shows_s, 3),
        "render_rgba_ms_median": round(statistics.median(render_ms), 3),
        "render_rgba_ms_max": max(render_ms),
        "families": families,
        "presets": presets,
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
