"""The real input-overlay presets in ../shared/overlays/input-overlay (skipped without it).

Expected ids and counts are derived from the folder by the rules, not hard-coded lists,
so a preset added there is checked too; a few known facts pin the rules down.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nitrogen_cli.actions import ELEMENTS, State
from nitrogen_cli.overlays import (
    Template,
    get_template,
    load_folder,
    load_templates,
    premultiply,
    preset_folders,
    render,
    resize_rgba,
)
from nitrogen_cli.overlays.template import SHOW_THRESHOLD
from tests.test_overlays_skins import check_presses_stay_in_boxes


@pytest.fixture(scope="module")
def presets(shared_presets: Path) -> list[Template]:
    skipped: list[tuple[str, str]] = []
    out = load_templates(
        [shared_presets], builtin=False, skipped=lambda p, w: skipped.append((p, w))
    )
    assert not skipped, skipped  # every real pair fits its texture
    return out


def expected_ids(root: Path) -> set[str]:
    ids = set()
    for folder in preset_folders(root):
        layouts = [
            p
            for p in sorted(folder.glob("*.json"))
            if "elements" in json.loads(p.read_text("utf-8"))
        ]
        for png in folder.glob("*.png"):
            for lay in layouts:
                tid = f"{folder.name}/{png.stem}" + (f"@{lay.stem}" if len(layouts) > 1 else "")
                ids.add(tid.replace(" ", "_"))
    return ids


def test_every_pair_loads_under_the_id_rules(presets: list[Template], shared_presets: Path) -> None:
    ids = {t.id for t in presets}
    assert ids == expected_ids(shared_presets)
    assert "xbox-controller/xbox-controller-white" in ids
    kba = {i for i in ids if i.startswith("xbox-kba-minimal/")}
    assert kba == {
        "xbox-kba-minimal/XBox-KBA@XBox_KBA_Minimal_03_GID",
        "xbox-kba-minimal/XBox-KBA@XBox_KBA_Minimal_03_GIDless",
    }
    gameboy = [t for t in presets if t.id.startswith("gameboy-pixel/")]
    assert len(gameboy) == 16 and len({t.layout for t in gameboy}) == 4
    assert all("@" in t.id for t in gameboy)


def test_colour_variants_share_a_layout_name(presets: list[Template]) -> None:
    layout = {t.id: t.layout for t in presets}
    assert layout["ds3/ds3"] == layout["ds3/ds3_black"] == layout["ds3/ds3_white"] == "ds3@overlay"
    assert (
        layout["xbox-kba-minimal/XBox-KBA@XBox_KBA_Minimal_03_GID"]
        != (layout["xbox-kba-minimal/XBox-KBA@XBox_KBA_Minimal_03_GIDless"])
    )


def test_every_preset_renders(presets: list[Template]) -> None:
    state = State.from_mapping(
        {"south": True, "dpad_up": True, "j_left": [0.5, -1], "right_trigger": 0.6, "guide": True}
    )
    for t in presets:  # at a streamer's size: the exact size is drawn by the box checks
        r = t.renderer(200 / max(t.size))
        img = r.render(state)
        assert max(r.size) == 200 and img.dtype == np.uint8 and img.shape[2] == 4
        assert img[..., 3].any() and not np.array_equal(img, r.render(State())), t.id


def test_scaled_real_presets_match_their_resized_exact_render(presets: list[Template]) -> None:
    state = State.from_mapping(
        {"east": True, "dpad_down": True, "j_right": [-0.4, 0.9], "left_trigger": 0.45}
    )
    for tid, scale in (("xbox-controller/xbox-controller", 0.15), ("ds3/ds3_black", 0.45)):
        t = next(t for t in presets if t.id == tid)
        r = t.renderer(scale)
        fast = premultiply(r.render(state))
        ref = premultiply(resize_rgba(t.render(state), r.size, r.filter))
        # Elements are resampled one by one and then laid over each other (as OBS draws
        # sprites when scale filtering is off), not laid over each other and then
        # resampled: fine line art hidden under a button bleeds into the button's edge
        # pixels. Elsewhere the two agree.
        diff = np.abs(fast - ref)
        assert diff.mean() < 0.02 and (diff.max(axis=-1) > 0.25).mean() < 0.015, tid


def test_what_known_presets_show(presets: list[Template]) -> None:
    shows = {t.id: t.shows for t in presets}
    assert shows["arcade-stick/arcade-stick"] == ("dpad_down", "dpad_left", "dpad_right", "dpad_up")
    # hitbox buttons carry keyboard-style codes: only its two triggers answer a gamepad
    assert shows["hitbox/hitbox"] == ("left_trigger", "right_trigger")
    assert shows["xbox-controller/xbox-controller"] == ELEMENTS
    assert "guide" in shows["xbox-kba-minimal/XBox-KBA@XBox_KBA_Minimal_03_GID"]
    assert "guide" not in shows["xbox-kba-minimal/XBox-KBA@XBox_KBA_Minimal_03_GIDless"]
    assert "j_left" in shows["gameboy-pixel/gameboy@overlay-analog"]
    assert "j_left" not in shows["gameboy-pixel/gameboy@overlay"]


def test_palette_pixel_art_keeps_its_transparency(presets: list[Template]) -> None:
    t = next(t for t in presets if t.id == "nes-pixel/nes@overlay")
    alpha = t.atlas[..., 3]
    assert set(np.unique(alpha)) == {0, 255}
    assert alpha[:8, :17].all()  # the 17 x 8 pad body is opaque
    r = t.renderer(10)
    assert r.filter == "nearest" and r.size == (170, 80)


def test_stick_moves_by_its_radius_in_a_real_layout(presets: list[Template]) -> None:
    t = next(t for t in presets if t.id == "xbox-controller/xbox-controller-white")
    layout = json.loads(t.layout_json)
    layout["elements"] = [e for e in layout["elements"] if e.get("id") == "left_analog_stick"]
    stick = Template("test/stick", json.dumps(layout), t.atlas_png)
    radius = layout["elements"][0]["stick_radius"]
    rest, right = render(stick, State()), render(stick, State(j_left=(1.0, 0.0)))
    assert rest[..., 3].any()
    assert np.array_equal(right[:, radius:], rest[:, :-radius])


@pytest.mark.slow
def test_presses_stay_in_their_boxes(presets: list[Template]) -> None:
    for t in presets:  # at full size; colour variants too (an atlas decides what shows)
        # some real pressed looks are only a soft shade: the bar is what `shows` uses
        check_presses_stay_in_boxes(t, level=SHOW_THRESHOLD - 1e-6)


def test_templates_dir_may_be_one_preset_or_a_tree(shared_presets: Path, tmp_path: Path) -> None:
    one = load_templates([shared_presets / "nes"], builtin=False)
    assert [t.id for t in one] == ["nes/NES"]
    # nested two deep, with a space in the folder name, given twice: found once
    nested = tmp_path / "a" / "my pads"
    shutil.copytree(shared_presets / "snes-pixel", nested)
    ids = [t.id for t in load_templates([tmp_path, tmp_path / "a"], builtin=False)]
    assert sorted(ids) == ["my_pads/snes@overlay", "my_pads/snes@overlay-analog"]
    assert get_template("my_pads/snes@overlay", [tmp_path]).size == (16, 9)
    assert get_template("builtin/nes-dark", [tmp_path]).id == "builtin/nes-dark"


def test_pairs_that_read_outside_their_texture_are_skipped(
    shared_presets: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(shared_presets / "nes", folder)
    layout = json.loads((folder / "NES.json").read_text())
    layout["elements"][1]["mapping"][1] = 10_000  # select's look, far below the texture
    (folder / "NES.json").write_text(json.dumps(layout))
    (folder / "notes.json").write_text('{"not": "a layout"}')
    skipped: list[tuple[str, str]] = []
    assert load_folder(folder, lambda p, w: skipped.append((p, w))) == []
    assert len(skipped) == 1 and "outside" in skipped[0][1]


def test_linked_preset_folders_are_followed_once(shared_presets: Path, tmp_path: Path) -> None:
    """A folder of links to the presets one uses is a folder of presets; a link back up
    the tree is not followed round."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "pad").symlink_to(shared_presets / "nes", target_is_directory=True)
    (mine / "again").symlink_to(shared_presets / "nes", target_is_directory=True)
    (mine / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert [t.id for t in load_templates([mine], builtin=False)] == ["nes/NES"]
