"""extract-actions on videos made here: known states in, the same states out.

Each case draws a template into real H.264 video with the overlay library, in states
chosen by the test, writes the overlay file that detection would (template, placement,
video hash), and reads it back with the shipped parser.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nitrogen_cli import formats, overlays
from nitrogen_cli.actions import BUTTON_INDEX, ELEMENTS, Actions, State
from nitrogen_cli.batch import NitrogenError
from nitrogen_cli.parser import extract as ex
from nitrogen_cli.parser.synth import random_states
from nitrogen_cli.video import VideoWriter


def background(rng: np.random.Generator, n: int, w: int, h: int) -> np.ndarray:
    """A moving, busy background: smooth colour noise panning across the frame."""
    import cv2

    base = rng.integers(0, 256, (h // 12 + 4, w // 12 + 4, 3), dtype=np.uint8)
    base = cv2.resize(base, (w + 48, h + 48), interpolation=cv2.INTER_CUBIC)
    return np.stack([base[i % 40 : i % 40 + h, i % 40 : i % 40 + w] for i in range(n)])


def make_case(
    tmp: Path,
    template: overlays.Template,
    states: list[State],
    width: int = 220,
    opacity: float = 1.0,
    size: tuple[int, int] = (480, 320),
    crf: int = 23,
    seed: int = 0,
    name: str = "case",
    ext: str = "mp4",
    frames: np.ndarray | None = None,
) -> tuple[Path, Path, Actions]:
    """Draw `states` into `<name>.<ext>` over `frames` (a moving `background` unless
    given); write `<name>.overlay.h5`; return both and truth."""
    rng = np.random.default_rng(seed)
    scale = width / template.size[0]
    r = overlays.Renderer(template, scale)
    w, h = size
    x, y = 16, h - r.height - 12
    frames = background(rng, len(states), w, h) if frames is None else frames.copy()
    mp4 = tmp / f"{name}.{ext}"
    with VideoWriter(mp4, w, h, 30, crf=crf) as vw:
        for f, s in zip(frames, states, strict=True):
            r.draw(f, s, x, y, opacity)
            vw.write(f)
    transform = [[r.sx, 0.0, float(x)], [0.0, r.sy, float(y)]]
    info = {
        "found": True,
        "template": template.id,
        "layout": template.layout,
        "layout_json": template.layout_json,
        "bbox": [x, y, r.width, r.height],
        "transform": transform,
        "video": str(mp4.resolve()),
        "fps": 30.0,
        "frame_count": len(states),
        "width": w,
        "height": h,
    }
    ov = tmp / f"{name}.overlay.h5"
    with formats.create(ov, "overlay", inputs=[mp4], command="test") as f:
        formats.write_overlay(f, info, atlas_png=template.atlas_png)
    truth = Actions.concatenate([s.to_actions() for s in states])
    return mp4, ov, truth


def r2(pred: np.ndarray, true: np.ndarray) -> float:
    return 1 - float(((pred - true) ** 2).sum()) / float(((true - true.mean()) ** 2).sum())


@pytest.fixture(scope="module")
def xbox_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Actions, Path]:
    """90 frames of a full pad: 20 at rest, then random human-like play."""
    tmp = tmp_path_factory.mktemp("xbox")
    t = overlays.get_template("builtin/xbox-white")
    states = [State()] * 20 + random_states(np.random.default_rng(3), t.shows, 70)
    mp4, ov, truth = make_case(tmp, t, states, opacity=0.85)
    dst = tmp / "case.actions.h5"
    ex.extract(ov, dst)
    return mp4, ov, truth, dst


def test_extraction_reads_buttons_and_sticks(xbox_case) -> None:
    _, _, truth, dst = xbox_case
    with formats.open_file(dst, "actions") as f:
        got, index = formats.read_actions(f)
        conf = formats.read_confidence(f)
        valid = formats.read_valid(f)
        shown = formats.read_shown(f)
        overlay = formats.read_overlay(f)
    assert np.array_equal(index, np.arange(len(truth)))
    assert valid.all() and shown.all()
    assert overlay["template"] == "builtin/xbox-white"
    assert (got.buttons == truth.buttons).mean() >= 0.98
    assert r2(got.j_left, truth.j_left) >= 0.9
    assert conf.min() >= 0 and conf.max() <= 1 and conf.mean() > 0.5


def test_a_held_stick_reads_within_a_tenth(tmp_path: Path) -> None:
    t = overlays.get_template("builtin/ps-white")
    held = State(j_left=(0.6, -0.35), j_right=(-0.8, 0.2))
    states = [State()] * 30 + [held] * 30
    _, ov, _ = make_case(tmp_path, t, states, width=200, opacity=1.0)
    dst = tmp_path / "held.actions.h5"
    ex.extract(ov, dst)
    got, _ = formats.read_actions_file(dst)
    assert np.abs(got.j_left[35:] - held.j_left).max() < 0.1
    assert np.abs(got.j_right[35:] - held.j_right).max() < 0.1
    assert np.abs(got.j_left[:30]).max() < 0.1  # at rest, centred


def test_a_trigger_pressed_part_way_reads_pressed(tmp_path: Path) -> None:
    # the contract presses a trigger from 0.1 on; short of 1 it is drawn part-filled,
    # which the full pressed look alone leaves nearer to released (corpus c26-0029)
    t = overlays.get_template("builtin/xbox-white")
    states = [State()] * 20
    for v in (0.3, 0.45, 0.6, 0.75, 0.9):
        states += [State(triggers=(0.0, v))] * 8 + [State()] * 8
    _, ov, truth = make_case(tmp_path, t, states, opacity=0.85)
    dst = tmp_path / "fill.actions.h5"
    ex.extract(ov, dst)
    got, _ = formats.read_actions_file(dst)
    rt = BUTTON_INDEX["right_trigger"]
    pressed = truth.buttons[:, rt]
    assert pressed.sum() == 40
    assert got.buttons[pressed, rt].mean() >= 0.9
    assert not got.buttons[~pressed, rt].any()


def test_a_click_shown_by_a_label_apart_from_its_stick_is_read_at_the_label(
    tmp_path: Path,
) -> None:
    """minimal-bare lights an "L3" label for a click and leaves the stick as it is (no
    pixel changes by 0.1): read at the stick, a click was noise (corpus V1 c31-0012: 255
    false clicks of a stick that never moved)."""
    from nitrogen_cli.parser.looks import build_looks

    t = overlays.get_template("builtin/minimal-bare")
    looks = build_looks(t, 0.5)
    assert [s.thumb for s in looks.sticks] == [None, None]
    label = {s.name: s.box for s in looks.buttons}
    assert {"left_thumb", "right_thumb"} <= set(label)
    stick = {s.name: s.box for s in looks.sticks}
    assert label["left_thumb"][1] > stick["j_left"][1] + stick["j_left"][3] * 0.9  # below it
    xbox = build_looks(overlays.get_template("builtin/xbox-white"), 0.5)
    assert [s.thumb for s in xbox.sticks] == ["left_thumb", "right_thumb"]

    rng = np.random.default_rng(5)
    states = [State()] * 20
    for _ in range(8):
        push = (float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)))
        states += [State(j_right=push)] * 6
        states += [State(pressed=frozenset(["left_thumb"]), j_right=push)] * 4
        states += [State(pressed=frozenset(["right_thumb"]), j_right=push)] * 4
    # (at 164 px wide the filled label over this busy, saturated background reads weakly:
    # 3 of the left's 8 clicks were missed)
    _, ov, truth = make_case(tmp_path, t, states, width=240, size=(400, 240))
    dst = tmp_path / "label.actions.h5"
    ex.extract(ov, dst)
    got, _ = formats.read_actions_file(dst)
    for name in ("left_thumb", "right_thumb"):
        j = BUTTON_INDEX[name]
        true, pred = truth.buttons[:, j], got.buttons[:, j]
        assert true.sum() == 32
        f1 = 2 * (true & pred).sum() / (true.sum() + pred.sum())
        assert f1 >= 0.9, (name, f1)


def test_a_game_moved_on_behind_see_through_buttons_is_not_read_as_presses(
    tmp_path: Path,
) -> None:
    """An outline skin calibrated over a dark, moving game, then a grey wall behind it:
    the calibration's background under the see-through buttons is the dark game, and
    the grey crops fit the pressed looks better (P2 c34-0006, an outline d-pad: 2778
    errors). Drawn over the game around each button in the same frame, the released
    look explains them (bound.Surround)."""
    t = overlays.get_template("builtin/minimal-bare")
    rng = np.random.default_rng(0)
    w, h = 480, 320
    dark = (background(rng, 70, w, h) * 0.25).astype(np.uint8)
    wall = 150 + rng.integers(0, 6, (80, h, w, 3), dtype=np.uint8)
    states = [State()] * 150
    _, ov, _ = make_case(
        tmp_path, t, states, width=240, opacity=0.8, frames=np.concatenate([dark, wall])
    )
    pressed = {}
    for bound in (False, True):
        dst = tmp_path / f"wall-{bound}.actions.h5"
        ex.extract(ov, dst, ex.ExtractConfig(bound=bound))
        with formats.open_file(dst, "actions") as f:
            pressed[bound] = int(formats.read_actions(f)[0].buttons.sum())
    assert pressed[False] >= 50, pressed  # measured 240 (3 buttons through the wall)
    assert pressed[True] == 0, pressed


def extract_shown(ov: Path, dst: Path) -> tuple[Actions, np.ndarray]:
    """Extract an overlay file to `dst`: its actions and its shown mask."""
    ex.extract(ov, dst)
    with formats.open_file(dst, "actions") as f:
        got, _ = formats.read_actions(f)
        return got, formats.read_shown(f)


def test_a_template_without_sticks_masks_them(tmp_path: Path) -> None:
    t = overlays.get_template("builtin/nes-classic")
    states = [State()] * 10 + [State(pressed=frozenset(["south"]))] * 10
    _, ov, truth = make_case(tmp_path, t, states, width=200)
    got, shown = extract_shown(ov, tmp_path / "nes.actions.h5")
    assert not shown[ELEMENTS.index("j_left")] and not shown[ELEMENTS.index("j_right")]
    assert shown[ELEMENTS.index("south")] and not shown[ELEMENTS.index("west")]
    assert not got.j_left.any() and not got.j_right.any()
    south = BUTTON_INDEX["south"]
    assert (got.buttons[:, south] == truth.buttons[:, south]).mean() >= 0.95


def test_buttons_the_template_draws_alike_are_masked_and_released(tmp_path: Path) -> None:
    # nes-classic plus two buttons lit at one place with one look (as n64-pixel's B and
    # Y): a reader sees that one of them is pressed, never which
    import json

    t = overlays.get_template("builtin/nes-classic")
    h, w = t.atlas.shape[:2]
    atlas = np.zeros((h + 50, w, 4), np.uint8)
    atlas[:h] = t.atlas
    atlas[h + 25 : h + 47, 0:22] = (40, 220, 60, 255)  # pressed look; the released one is clear
    layout = json.loads(t.layout_json)
    lit = {"type": 2, "pos": [180, 40], "mapping": [0, h, 22, 22], "z_level": 2}
    layout["elements"] += [{**lit, "id": "y", "code": 2}, {**lit, "id": "rb", "code": 10}]
    t = overlays.Template("test/alike", json.dumps(layout), atlas=atlas)
    assert t.alike == ("right_shoulder", "west")
    press = [State(pressed=frozenset([b])) for b in ("west", "right_shoulder", "east")]
    states = ([State()] * 8 + [s for s in press for _ in range(8)]) * 2
    _, ov, truth = make_case(tmp_path, t, states, width=200)
    got, shown = extract_shown(ov, tmp_path / "alike.actions.h5")
    assert not shown[ELEMENTS.index("west")] and not shown[ELEMENTS.index("right_shoulder")]
    assert shown[ELEMENTS.index("east")] and shown[ELEMENTS.index("south")]
    assert not got.buttons[:, BUTTON_INDEX["west"]].any()
    assert not got.buttons[:, BUTTON_INDEX["right_shoulder"]].any()
    east = BUTTON_INDEX["east"]
    assert (got.buttons[:, east] == truth.buttons[:, east]).mean() >= 0.95


def test_a_truncated_video_keeps_what_decoded(tmp_path: Path) -> None:
    t = overlays.get_template("builtin/snes-us")
    states = random_states(np.random.default_rng(1), t.shows, 90)
    # MPEG-TS, as recorders write: a file cut short is still readable up to the cut
    mp4, ov, _ = make_case(tmp_path, t, states, width=200, ext="ts")
    data = mp4.read_bytes()
    # cut the file short and re-record it as the overlay file's input
    mp4.write_bytes(data[: int(len(data) * 0.55)])
    ov2 = tmp_path / "cut.overlay.h5"
    with formats.open_file(ov, "overlay") as src:
        info = formats.read_overlay(src)
        atlas = formats.read_atlas_png(src)
    with formats.create(ov2, "overlay", inputs=[mp4], command="test") as f:
        formats.write_overlay(f, info, atlas_png=atlas)
    dst = tmp_path / "cut.actions.h5"
    result = ex.extract(ov2, dst)
    with formats.open_file(dst, "actions") as f:
        valid = formats.read_valid(f)
        conf = formats.read_confidence(f)
    assert len(valid) == 90
    assert 0 < valid.sum() < 90
    assert not valid[-1] and (conf[~valid] == 0).all()
    assert result.note


def test_a_changed_or_missing_video_is_a_clear_error(tmp_path: Path) -> None:
    t = overlays.get_template("builtin/nes-dark")
    mp4, ov, _ = make_case(tmp_path, t, [State()] * 12, width=160)
    with open(mp4, "ab") as fh:
        fh.write(b"\0" * 16)
    with pytest.raises(NitrogenError, match="changed"):
        ex.extract(ov, tmp_path / "x.actions.h5")
    mp4.unlink()
    with pytest.raises(NitrogenError, match="missing"):
        ex.extract(ov, tmp_path / "x.actions.h5")
    assert not (tmp_path / "x.actions.h5").exists()


def test_samples_that_show_the_overlay_elsewhere_give_the_frames_to_read_there() -> None:
    home, away = [10.0, 400.0, 300.0, 150.0], [900.0, 20.0, 290.0, 145.0]
    none = [0.0, 0.0, 0.0, 0.0]

    def spans(*where: list[float]) -> list[tuple[list[int], tuple[int, int | None]]]:
        samples = [(100 * i, w is not none, np.asarray(w, np.float64)) for i, w in enumerate(where)]
        ov = ex.OverlayInfo(None, np.eye(2, 3), Path("v.mp4"), {"bbox": home}, [], [], samples)
        return [([round(v) for v in box], span) for box, span in ex.elsewhere(ov)]

    # two samples in a row away: the frames from the sample before to the one after
    assert spans(home, home, away, away, home) == [([900, 20, 290, 145], (101, 400))]
    # one sample found nowhere among them does not part them; to the end, no stop
    assert spans(home, away, none, away) == [([900, 20, 290, 145], (1, None))]
    # away from the first frame: from 0
    assert spans(away, away, home, home) == [([900, 20, 290, 145], (0, 200))]
    # one sample alone is not enough, nor is a box within the usual one's overlap
    near = [12.0, 401.0, 298.0, 149.0]
    assert spans(home, away, home, home) == []
    assert spans(home, near, near, home) == []


def rows_of(looks, buttons: np.ndarray, thumbs: np.ndarray) -> ex.Rows:
    """Post-processing (`_rows`) of readings given per frame: button and stick-click
    logits; the overlay shown throughout, sticks centred."""
    n, nb = buttons.shape
    ns = thumbs.shape[1]
    reads = ex.Readings(
        index=[np.arange(n)],
        button=[buttons],
        stick=[np.zeros((n, ns, 2), np.float32)],
        thumb=[thumbs],
        peak=[np.ones((n, ns), np.float32)],
        presence=[np.full(n, 0.9, np.float32)],
        bound=[np.zeros((n, nb), np.float32)],
    )
    run = ex.Placed(
        np.array([0.0, 0.0, 100.0, 60.0]),
        (0, None),
        reads,
        looks,
        None,
        [],
        np.zeros((2, 0)),
        "",
        n,
        0,
        None,
    )
    return ex._rows(run, n, ex.ExtractConfig())


def test_a_face_button_the_video_never_presses_is_not_pressed_by_readings_just_over_0() -> None:
    """A game moving behind a see-through skin scatters a never-pressed button's readings
    up to a little over the network's boundary (corpus E2 c25-0027, SNES west: 36 false
    frames at 0.0-1.9). Where the video's readings give no boundary of their own, a face
    or menu button is pressed above QUIET_BAR; a d-pad arm still at 0. A press of a frame
    or two that never reads BLIP_PEAK is dropped too; a longer or a clear one is kept."""
    from nitrogen_cli.parser.looks import build_looks

    t = overlays.get_template("builtin/snes-outline")
    looks = build_looks(t, 0.5)
    names = [s.name for s in looks.buttons]
    n = 600
    rng = np.random.default_rng(0)
    logits = rng.normal(-7.0, 1.0, (n, len(names))).astype(np.float32)
    south, west, up = names.index("south"), names.index("west"), names.index("dpad_up")
    logits[100:110, south] = 8.0  # a press, read as presses are
    blips = np.arange(200, 560, 30)
    logits[blips, west] = 0.4  # the game behind, just over 0
    logits[blips, up] = 0.4
    east = names.index("east")
    logits[300:302, east] = 1.5  # a frame or two brushing the boundary: the game
    logits[400:402, east] = 6.0  # a short press, read as presses are
    logits[500:503, east] = 1.5  # held three frames: kept
    rows = rows_of(looks, logits, np.zeros((n, 0), np.float32))
    assert rows.buttons[100:110, BUTTON_INDEX["south"]].all()
    assert rows.buttons[:, BUTTON_INDEX["south"]].sum() == 10
    assert not rows.buttons[:, BUTTON_INDEX["west"]].any()
    assert rows.buttons[blips, BUTTON_INDEX["dpad_up"]].all()
    pressed_east = np.flatnonzero(rows.buttons[:, BUTTON_INDEX["east"]])
    assert pressed_east.tolist() == [400, 401, 500, 501, 502]


def test_a_stick_click_of_a_frame_or_two_that_never_reads_clearly_is_dropped() -> None:
    """The same for a click read at its stick: nes-pixel and snes-pixel analog skins over
    a moving game read left_thumb pressed in runs of a frame or two (corpus H2 c24-0043:
    75 false frames)."""
    from nitrogen_cli.parser.looks import build_looks

    looks = build_looks(overlays.get_template("builtin/xbox-white"), 0.3)
    nb, ns = len(looks.buttons), len(looks.sticks)
    n = 400
    thumbs = np.full((n, ns), -7.0, np.float32)
    thumbs[100:102, 0] = 1.5  # brushing the boundary
    thumbs[200:206, 0] = 6.0  # a click
    rows = rows_of(looks, np.full((n, nb), -7.0, np.float32), thumbs)
    assert np.flatnonzero(rows.buttons[:, BUTTON_INDEX["left_thumb"]]).tolist() == list(
        range(200, 206)
    )
