"""The built-in skins: enough of them, varied, deterministic, and drawn by the rules."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import numpy as np
import pytest

from nitrogen_cli.actions import STICKS, State
from nitrogen_cli.overlays import Template, builtin_templates, encode_png, press_state, skins

TEMPLATES = builtin_templates()
DEFLECTIONS = ((1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0), (0.37, -0.61))


def check_presses_stay_in_boxes(t: Template, min_changed: int = 1, level: float = 0.1) -> None:
    """Every element a template shows changes pixels when pressed (sticks: deflected),
    and only inside its box; at least `min_changed` pixels change by more than `level`."""
    r = t.renderer(1.0)
    rest = r.premultiplied(State())
    assert t.shows, t.id
    for name in t.shows:
        x, y, w, h = t.boxes[name]
        if name in STICKS:
            states = [State(**{name: d}) for d in DEFLECTIONS]  # clicks: left/right_thumb
        else:
            states = [press_state(name)]
        clear = 0
        for s in states:
            img = r.premultiplied(s)
            inside = np.abs(img[y : y + h, x : x + w] - rest[y : y + h, x : x + w])
            clear = max(clear, int((inside.max(axis=-1) > level).sum()))
            changed = img != rest
            changed[y : y + h, x : x + w] = False
            assert not changed.any(), f"{t.id}: {name} changes pixels outside its box"
        assert clear >= min_changed, f"{t.id}: pressing {name} hardly shows ({clear} px)"


def test_there_are_enough_skins_in_enough_families() -> None:
    assert len(TEMPLATES) >= 24
    layouts = Counter(t.layout for t in TEMPLATES)
    assert len(layouts) >= 5
    assert all(n >= 2 for n in layouts.values())  # every layout has colour variants
    for t in TEMPLATES:
        family, variant = t.id.removeprefix("builtin/").split("-")
        assert t.id == f"builtin/{family}-{variant}" and t.layout == f"builtin/{family}"
    assert len({t.id for t in TEMPLATES}) == len(TEMPLATES)


def test_generation_is_deterministic() -> None:
    for i, t in enumerate(TEMPLATES):
        family, variant = t.id.removeprefix("builtin/").split("-")
        again = skins._atlas(family, skins.VARIANTS[family][variant])
        assert np.array_equal(again, t.atlas), t.id
        assert skins._layout.__wrapped__(family)[0] == t.layout_json
        if i % 7 == 0:  # and the stored bytes (PNG encoding is the slow part)
            assert encode_png(again) == t.atlas_png


def test_colour_variants_share_the_layout_and_differ_in_the_atlas() -> None:
    by_layout: dict[str, list[Template]] = {}
    for t in TEMPLATES:
        by_layout.setdefault(t.layout, []).append(t)
    for group in by_layout.values():
        assert len({t.layout_json for t in group}) == 1
        for a, b in itertools.pairwise(group):
            diff = np.abs(a.render().astype(int) - b.render().astype(int)).mean()
            assert diff > 8, (a.id, b.id, diff)


def test_skins_vary_the_way_they_are_drawn() -> None:
    styles = [s for v in skins.VARIANTS.values() for s in v.values()]
    assert len({s.press for s in styles}) >= 5  # how a press looks
    assert any(s.body_alpha < 1 for s in styles) and any(s.body_alpha == 0 for s in styles)
    elements = [el for t in TEMPLATES for el in t.elements]
    triggers = [el for el in elements if el.type == 6]
    assert {el.direction for el in triggers if not el.trigger_mode} == {1, 2, 3, 4}
    assert any(el.trigger_mode for el in triggers)
    assert {el.type for el in elements} >= {0, 2, 5, 6, 7, 8}
    sizes = {t.layout: max(t.size) for t in TEMPLATES}
    assert min(sizes.values()) <= 24 and max(sizes.values()) >= 400  # pixel art too


@pytest.mark.parametrize("tid", sorted({t.layout for t in TEMPLATES}))
def test_what_each_family_shows(tid: str) -> None:
    family = tid.removeprefix("builtin/")
    shows = {t.layout: set(t.shows) for t in TEMPLATES}[tid]
    assert {"south", "east", "start", "dpad_up", "dpad_down", "dpad_left", "dpad_right"} <= shows
    has_sticks = family in ("xbox", "ps", "switch", "minimal", "gc")
    assert ({"j_left", "j_right"} <= shows) == has_sticks
    if family in ("snes", "nes", "pixel"):
        assert not shows & {"left_trigger", "right_trigger", "guide"}


@pytest.mark.parametrize("t", TEMPLATES, ids=lambda t: t.id)
def test_presses_change_pixels_only_inside_their_boxes(t: Template) -> None:
    check_presses_stay_in_boxes(t, min_changed=1 if max(t.size) <= 64 else 12)


def test_layouts_are_plain_input_overlay_json() -> None:
    for t in TEMPLATES[:: len(TEMPLATES) // 5]:
        data = json.loads(t.layout_json)
        assert data["overlay_width"] == t.size[0] and data["elements"][0]["type"] in (0, 2)
        for el in data["elements"]:
            x, y, w, h = el["mapping"]
            assert x >= 0 and x + w <= t.atlas.shape[1] and y >= 0 and y + h <= t.atlas.shape[0]
