"""The overlay library: how a state is drawn, the fast renderer, compositing, PNG quirks.

Synthetic layouts with flat-coloured atlas cells make each drawing rule checkable to
the pixel; the built-in skins and real presets are checked in their own modules.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest

from nitrogen_cli.actions import State
from nitrogen_cli.overlays import (
    Renderer,
    Template,
    TemplateError,
    composite,
    decode_png,
    encode_png,
    get_template,
    premultiply,
    render,
    resize_rgba,
)

RED = (255, 0, 0, 255)
GREEN = (0, 255, 0, 255)
BLUE = (0, 0, 255, 255)
WHITE = (255, 255, 255, 255)


def make(elements: list[dict], atlas: np.ndarray, size: tuple[int, int], **extra) -> Template:
    layout = {"overlay_width": size[0], "overlay_height": size[1], "elements": elements, **extra}
    return Template("test/synthetic", json.dumps(layout), atlas=atlas)


def cell(atlas: np.ndarray, rect: tuple[int, int, int, int], colour) -> None:
    x, y, w, h = rect
    atlas[y : y + h, x : x + w] = colour


def solid(img: np.ndarray, colour) -> np.ndarray:
    return np.all(img == np.array(colour, np.uint8), axis=-1)


# -- drawing rules -------------------------------------------------------------------------
def test_button_pressed_look_is_mapping_moved_down_by_h_plus_3() -> None:
    atlas = np.zeros((20, 10, 4), np.uint8)
    cell(atlas, (1, 1, 4, 5), RED)  # released
    cell(atlas, (1, 9, 4, 5), GREEN)  # pressed: y + h + 3
    t = make([{"type": 2, "pos": [3, 2], "mapping": [1, 1, 4, 5], "code": 0}], atlas, (12, 10))
    rest, down = render(t, State()), render(t, State(pressed=frozenset({"south"})))
    assert solid(rest, RED)[2:7, 3:7].all() and solid(rest, RED).sum() == 20
    assert solid(down, GREEN)[2:7, 3:7].all() and solid(down, GREEN).sum() == 20
    assert t.shows == ("south",) and t.boxes["south"] == (3, 2, 4, 5)


def test_buttons_drawn_alike_at_one_place_are_unknown_and_others_told_apart() -> None:
    # released looks clear (as n64-pixel's B and Y), so each press shows through the rest
    atlas = np.zeros((20, 10, 4), np.uint8)
    cell(atlas, (1, 9, 4, 5), GREEN)  # the pressed look two buttons share
    cell(atlas, (6, 9, 4, 5), BLUE)  # a pressed look of its own
    one = {"type": 2, "pos": [0, 0], "mapping": [1, 1, 4, 5]}
    own = {"type": 2, "pos": [0, 0], "mapping": [6, 1, 4, 5]}
    t = make([{**one, "code": 0}, {**one, "code": 2}, {**own, "code": 1}], atlas, (4, 5))
    assert t.shows == ("east", "south", "west")
    assert t.alike == ("south", "west") and t.told_apart == ("east",)
    t = make([{**one, "code": 0}, {**one, "code": 2, "pos": [5, 0]}], atlas, (10, 5))
    assert t.alike == () and t.told_apart == t.shows == ("south", "west")


@pytest.mark.parametrize("code", [15, 20, 60417, -5])
def test_codes_no_gamepad_state_lights_are_never_pressed(code: int) -> None:
    atlas = np.zeros((20, 10, 4), np.uint8)
    cell(atlas, (1, 1, 4, 5), RED)
    cell(atlas, (1, 9, 4, 5), GREEN)
    t = make([{"type": 2, "pos": [0, 0], "mapping": [1, 1, 4, 5], "code": code}], atlas, (4, 5))
    everything = State(
        pressed=frozenset({"south", "east", "guide", "start", "back", "dpad_up"}),
        triggers=(1.0, 1.0),
    )
    assert np.array_equal(render(t, everything), render(t, State()))
    assert t.shows == ()


def test_stick_moves_by_axis_times_radius_and_shows_pressed_look_when_clicked() -> None:
    atlas = np.zeros((30, 12, 4), np.uint8)
    cell(atlas, (0, 0, 6, 6), RED)
    atlas[2, 3] = WHITE  # a mark, to see the texture itself move
    cell(atlas, (0, 9, 6, 6), BLUE)
    el = {"type": 5, "pos": [10, 10], "mapping": [0, 0, 6, 6], "side": 0, "stick_radius": 7}
    t = make([el], atlas, (26, 26))
    rest = render(t, State())
    right = render(t, State(j_left=(1.0, 0.0)))
    assert np.array_equal(right[:, 7:], rest[:, :-7]) and not right[:, :7].any()
    up_left = render(t, State(j_left=(-1.0, -1.0)))
    assert np.array_equal(up_left[:-7, :-7], rest[7:, 7:])
    # the right stick does not move it; clicking the left one swaps in the pressed look
    assert np.array_equal(render(t, State(j_right=(1.0, 1.0))), rest)
    clicked = render(t, State(pressed=frozenset({"left_thumb"})))
    assert solid(clicked, BLUE).sum() == 36
    assert t.shows == ("left_thumb", "j_left")
    assert t.boxes["j_left"] == (3, 3, 20, 20)  # the whole travel area
    geo = t.stick("j_left")
    assert geo is not None and geo.center == (13.0, 13.0) and geo.radius == 7


def test_stick_at_half_deflection_lands_between_pixels() -> None:
    atlas = np.zeros((20, 4, 4), np.uint8)
    cell(atlas, (0, 0, 2, 2), WHITE)
    cell(atlas, (0, 5, 2, 2), WHITE)
    t = make(
        [{"type": 5, "pos": [4, 4], "mapping": [0, 0, 2, 2], "stick_radius": 1}], atlas, (10, 10)
    )
    img = render(t, State(j_left=(0.5, 0.0)))
    # half a pixel right: the two columns fully covered stay opaque, the edges are half
    assert list(img[4, 3:8, 3]) == [0, 128, 255, 128, 0]


@pytest.mark.parametrize(
    ("direction", "rows", "cols"),
    [
        (1, slice(5, 10), slice(0, 6)),
        (2, slice(0, 5), slice(0, 6)),
        (3, slice(0, 10), slice(3, 6)),
        (4, slice(0, 10), slice(0, 3)),
    ],
)
def test_trigger_at_half_fills_half_from_the_side_its_direction_names(
    direction, rows, cols
) -> None:
    atlas = np.zeros((30, 10, 4), np.uint8)
    cell(atlas, (0, 0, 6, 10), RED)
    cell(atlas, (0, 13, 6, 10), GREEN)
    el = {"type": 6, "pos": [0, 0], "mapping": [0, 0, 6, 10], "side": 1, "direction": direction}
    t = make([el], atlas, (6, 10))
    img = render(t, State(triggers=(0.0, 0.5)))
    expect = np.zeros((10, 6), bool)
    expect[rows, cols] = True
    assert np.array_equal(solid(img, GREEN), expect)
    assert np.array_equal(solid(img, RED), ~expect)
    assert solid(render(t, State.from_mapping({"right_trigger": True})), GREEN).all()
    assert solid(render(t, State(triggers=(1.0, 0.0))), RED).all()  # the other side
    assert t.shows == ("right_trigger",) and t.boxes["right_trigger"] == (0, 0, 6, 10)


def test_trigger_partial_fill_truncates_like_the_plugin() -> None:
    atlas = np.zeros((30, 10, 4), np.uint8)
    cell(atlas, (0, 13, 6, 10), GREEN)
    el = {"type": 6, "pos": [0, 0], "mapping": [0, 0, 6, 10], "side": 0, "direction": 1}
    t = make([el], atlas, (6, 10))
    for value, rows in ((0.05, 0), (0.1, 1), (0.19, 1), (0.35, 3), (0.99, 9), (1.0, 10)):
        filled = solid(render(t, State(triggers=(value, 0.0))), GREEN).all(axis=1)
        assert filled.sum() == rows and filled[10 - rows :].all()


def test_trigger_mode_is_a_button_pressed_at_one_tenth() -> None:
    atlas = np.zeros((30, 10, 4), np.uint8)
    cell(atlas, (0, 0, 6, 10), RED)
    cell(atlas, (0, 13, 6, 10), GREEN)
    el = {"type": 6, "pos": [0, 0], "mapping": [0, 0, 6, 10], "side": 0, "trigger_mode": True}
    t = make([el], atlas, (6, 10))
    assert solid(render(t, State(triggers=(0.09, 0.0))), RED).all()
    assert solid(render(t, State(triggers=(0.1, 0.0))), GREEN).all()


def _dpad() -> Template:
    atlas = np.zeros((4, 9 * 7, 4), np.uint8)
    for k in range(9):  # cell k is coloured k * 20 in red, so a pixel says which cell it is
        cell(atlas, (k * 7, 0, 4, 4), (k * 20 + 10, 0, 0, 255))
    return make([{"type": 8, "pos": [0, 0], "mapping": [0, 0, 4, 4]}], atlas, (4, 4))


@pytest.mark.parametrize(
    ("pressed", "cell_index"),
    [
        ((), 0),
        (("dpad_left",), 1),
        (("dpad_right",), 2),
        (("dpad_up",), 3),
        (("dpad_down",), 4),
        (("dpad_up", "dpad_left"), 5),
        (("dpad_up", "dpad_right"), 6),
        (("dpad_down", "dpad_left"), 7),
        (("dpad_down", "dpad_right"), 8),
        (("dpad_up", "dpad_down"), 3),  # up wins, as in the plugin
        (("dpad_left", "dpad_right"), 2),
    ],
)
def test_dpad_draws_one_of_nine_cells(pressed: tuple[str, ...], cell_index: int) -> None:
    img = render(_dpad(), State(pressed=frozenset(pressed)))
    assert (img[..., 0] == cell_index * 20 + 10).all()


def test_dpad_buttons_share_the_dpad_box() -> None:
    t = _dpad()
    assert t.shows == ("dpad_down", "dpad_left", "dpad_right", "dpad_up")
    assert {t.boxes[n] for n in t.shows} == {(0, 0, 4, 4)}


def test_guide_type7_draws_player_cell_and_pressed_cell_beneath() -> None:
    atlas = np.zeros((4, 5 * 7, 4), np.uint8)
    cell(atlas, (0, 0, 4, 4), RED)  # the base mapping: never drawn
    cell(atlas, (7, 0, 4, 4), (0, 255, 0, 128))  # player 1, half transparent
    cell(atlas, (28, 0, 4, 4), BLUE)  # drawn beneath while guide is held
    t = make([{"type": 7, "pos": [0, 0], "mapping": [0, 0, 4, 4]}], atlas, (4, 4))
    rest = render(t, State())
    held = render(t, State(pressed=frozenset({"guide"})))
    assert (rest[..., 0] == 0).all() and (rest[..., 1] == 255).all() and (rest[..., 3] == 128).all()
    # green at alpha 0.5 over opaque blue
    assert (
        (held[..., 3] == 255).all() and (held[..., 1] == 128).all() and (held[..., 2] == 127).all()
    )
    assert t.shows == ("guide",)


def test_z_order_and_over_compositing() -> None:
    atlas = np.zeros((4, 12, 4), np.uint8)
    cell(atlas, (0, 0, 4, 4), (255, 0, 0, 128))
    cell(atlas, (6, 0, 4, 4), (0, 0, 255, 128))
    els = [
        {"type": 0, "pos": [0, 0], "mapping": [0, 0, 4, 4], "z_level": "1"},  # a string level
        {"type": 0, "pos": [2, 0], "mapping": [6, 0, 4, 4], "z_level": 0},
    ]
    img = render(make(els, atlas, (6, 4)), State()).astype(int)
    # the red square (higher level) lies over the blue one although listed first
    a = 128 / 255
    out_a = a + a * (1 - a)
    red = 255 * a / out_a
    blue = 255 * a * (1 - a) / out_a
    np.testing.assert_allclose(img[0, 2], [red, 0, blue, out_a * 255], atol=1)
    assert list(img[0, 0]) == [255, 0, 0, 128] and list(img[0, 5]) == [0, 0, 255, 128]


def test_layout_quirks_are_tolerated() -> None:
    atlas = np.zeros((10, 10, 4), np.uint8)
    cell(atlas, (0, 0, 3, 3), WHITE)
    els = [{"type": 0, "pos": [1.0, 2], "mapping": [0, 0, 3, 3], "z_level": "0"}]
    t = make(els, atlas, (0, 0), default_width=0)  # no overlay size: what elements cover
    assert t.size == (4, 5)
    with pytest.raises(TemplateError):
        Template("x", "{not json", atlas=atlas)
    with pytest.raises(TemplateError, match="outside"):  # a look drawn at rest, off the atlas
        make([{"type": 2, "pos": [0, 0], "mapping": [0, 10, 3, 3], "code": 0}], atlas, (4, 4))


def test_cells_past_the_texture_draw_its_edge_as_the_plugin_samples_it() -> None:
    """OBS samples a sprite clamped to the texture's edge, so a preset whose pressed or
    d-pad cells run past its texture (gamecube's d-pad diagonals), or whose body runs a
    pixel over (switch-pro-controller's), still draws; only a look drawn at rest far off
    the texture says the layout was made for another one."""
    atlas = np.zeros((10, 10, 4), np.uint8)
    cell(atlas, (0, 5, 3, 3), RED)
    atlas[9] = BLUE  # the bottom row: what a cell below the texture repeats
    atlas[:, 9] = GREEN  # the right column
    button = {"type": 2, "pos": [0, 0], "mapping": [0, 5, 3, 3], "code": 0}  # pressed: y 11
    t = make([button], atlas, (3, 3))
    assert solid(render(t, State()), RED).all()
    assert solid(render(t, State(pressed=frozenset({"south"}))), BLUE).all()
    body = {"type": 0, "pos": [0, 0], "mapping": [8, 0, 3, 3]}  # one column past the edge
    img = render(make([body], atlas, (3, 3)), State())
    assert solid(img[:2, 1:], GREEN).all() and solid(img[:2, :1], (0, 0, 0, 0)).all()
    with pytest.raises(TemplateError, match="outside"):  # three columns past: not this atlas
        make([{**body, "mapping": [8, 0, 5, 3]}], atlas, (5, 3))


# -- the fast renderer ------------------------------------------------------------------------
STATES = [
    State(),
    State.from_mapping({"south": True, "j_left": [0.5, -1], "right_trigger": 0.6}),
    State.from_mapping(
        {
            "dpad_up": True,
            "dpad_left": True,
            "guide": True,
            "right_thumb": True,
            "j_right": [-0.31, 0.77],
            "left_trigger": 1.0,
            "left_shoulder": True,
        }
    ),
]


@pytest.mark.parametrize(
    ("tid", "scale"),
    [
        ("builtin/xbox-black", 0.6),
        ("builtin/ps-white", 0.31),
        ("builtin/minimal-bare", 1.4),
        ("builtin/gc-spice", 1.0),
        ("builtin/snes-pal", 0.77),
    ],
)
def test_scaled_render_matches_resized_exact_render(tid: str, scale: float) -> None:
    t = get_template(tid)
    r = Renderer(t, scale)
    assert r.size == (round(t.size[0] * scale), round(t.size[1] * scale))
    for state in STATES:
        fast = premultiply(r.render(state))
        ref = premultiply(resize_rgba(render(t, state), r.size, r.filter))
        diff = np.abs(fast - ref)
        assert diff.mean() < 0.01, (tid, scale, diff.mean())
        assert (diff.max(axis=-1) > 0.1).mean() < 0.01


def test_pixel_art_is_point_scaled_exactly() -> None:
    t = get_template("builtin/pixel-grey")
    r = t.renderer(12)
    assert r.filter == "nearest" and r.size == (216, 120)
    for state in STATES:
        assert np.array_equal(r.render(state), np.repeat(np.repeat(render(t, state), 12, 0), 12, 1))


def test_redrawing_only_what_changed_equals_drawing_everything() -> None:
    rng = np.random.default_rng(0)
    from nitrogen_cli.actions import BUTTONS

    for tid in ("builtin/xbox-white", "builtin/snes-us", "builtin/arcade-black"):
        r = Renderer(get_template(tid), 0.55)
        for _ in range(12):
            pressed = frozenset(b for b in BUTTONS if rng.random() < 0.3)
            state = State(
                pressed,
                tuple(rng.uniform(-1, 1, 2) * (rng.random() < 0.7)),
                tuple(rng.uniform(-1, 1, 2) * (rng.random() < 0.7)),
                tuple(rng.uniform(0, 1, 2) * (rng.random(2) < 0.5)),
            )
            full = r.premultiplied(state, (0, 0, r.width, r.height))
            assert np.array_equal(r.premultiplied(state), full)


def test_composite_changes_only_pixels_with_alpha() -> None:
    rng = np.random.default_rng(1)
    canvas = rng.integers(0, 256, (40, 50, 3), np.uint8)
    over = rng.integers(0, 256, (20, 30, 4), np.uint8)
    over[..., 3] = np.where(rng.random((20, 30)) < 0.4, 0, over[..., 3])
    over[0, 0, 3], over[0, 1, 3] = 255, 0
    before = canvas.copy()
    composite(canvas, over, 35, -5, 1.0)  # hangs over two edges: clipped
    changed = np.any(canvas != before, axis=-1)
    sub = over[5:, :15, 3] > 0
    assert not changed[20:].any() and not changed[:, :35].any()
    assert not changed[:15, 35:][~sub].any()
    # opaque pixels take the overlay's colour; others blend
    opaque = over[5:, :15, 3] == 255
    assert np.array_equal(canvas[:15, 35:][opaque], over[5:, :15, :3][opaque])
    canvas2 = before.copy()
    composite(canvas2, over, 0, 0, 0.5)
    a = over[..., 3:4] / 255 * 0.5
    expect = before[:20, :30] * (1 - a) + over[..., :3] * a
    np.testing.assert_allclose(canvas2[:20, :30], expect, atol=0.51)
    composite(canvas2, over, 0, 0, 0.0)
    composite(canvas2, over, 100, 100)  # wholly outside: nothing


def test_renderer_draw_matches_composite_of_render() -> None:
    r = Renderer(get_template("builtin/hitbox-clear"), 0.5)
    frame = np.random.default_rng(2).integers(0, 256, (200, 300, 3), np.uint8)
    a, b = frame.copy(), frame.copy()
    r.draw(a, STATES[1], 20, 30, 0.8)
    composite(b, r.render(STATES[1]), 20, 30, 0.8)
    assert np.abs(a.astype(int) - b).max() <= 1
    untouched = r.render(STATES[1])[..., 3] == 0
    assert np.array_equal(
        a[30 : 30 + r.height, 20 : 20 + r.width][untouched],
        frame[30 : 30 + r.height, 20 : 20 + r.width][untouched],
    )


def test_looks_and_boxes_scale_with_the_renderer() -> None:
    t = get_template("builtin/xbox-white")
    r = t.renderer(0.5)
    x, _, w, h = r.box("south")
    tx, _, tw, _ = t.boxes["south"]
    assert abs(x - tx * 0.5) <= 1 and abs(w - tw * 0.5) <= 2
    released, pressed = r.look("south"), r.look("south", pressed=True)
    assert released.shape == pressed.shape == (h, w, 4)
    assert np.abs(released.astype(int) - pressed).max() > 40


# -- PNG loading ------------------------------------------------------------------------------
def png(rows: np.ndarray, colour_type: int, depth: int = 8, plte=None, trns=None) -> bytes:
    """A PNG of any colour type, written by hand (cv2 cannot write palette PNGs)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    per = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour_type]
    width = rows.shape[1] * 8 // (depth * per)
    ihdr = struct.pack(">IIBBBBB", width, rows.shape[0], depth, colour_type, 0, 0, 0)
    raw = b"".join(b"\x00" + r.tobytes() for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    out += chunk(b"PLTE", plte) if plte else b""
    out += chunk(b"tRNS", trns) if trns is not None else b""
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_png_colour_types_load_as_rgba_keeping_transparency() -> None:
    plte = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255])
    pal = decode_png(png(np.array([[0, 1, 2]], np.uint8), 3, plte=plte, trns=bytes([255, 0])))
    assert pal.tolist() == [[[255, 0, 0, 255], [0, 255, 0, 0], [0, 0, 255, 255]]]
    pal4 = decode_png(png(np.array([[0x12]], np.uint8), 3, 4, plte=plte))
    assert pal4.tolist() == [[[0, 255, 0, 255], [0, 0, 255, 255]]]
    grey_key = decode_png(png(np.array([[10, 200]], np.uint8), 0, trns=struct.pack(">H", 200)))
    assert grey_key.tolist() == [[[10, 10, 10, 255], [200, 200, 200, 0]]]
    grey_alpha = decode_png(png(np.array([[10, 77, 200, 255]], np.uint8), 4))
    assert grey_alpha.tolist() == [[[10, 10, 10, 77], [200, 200, 200, 255]]]
    rgb16 = np.array([[0xFF, 0xFF, 0, 0, 0x80, 0x00]], np.uint8)
    assert decode_png(png(rgb16, 2, 16)).tolist() == [[[255, 0, 128, 255]]]
    rgba = np.random.default_rng(3).integers(0, 256, (5, 7, 4), np.uint8)
    assert np.array_equal(decode_png(encode_png(rgba)), rgba)


def test_template_rebuilds_from_layout_json_and_atlas_png() -> None:
    t = get_template("builtin/switch-neon")
    back = Template.from_bytes(t.layout_json.encode(), t.atlas_png, id=t.id, layout=t.layout)
    assert (back.id, back.layout, back.size) == (t.id, t.layout, t.size)
    for state in STATES:
        assert np.array_equal(render(back, state), render(t, state))
    assert back.shows == t.shows and back.boxes == t.boxes
    anon = Template.from_bytes(t.layout_json, t.atlas_png)
    assert anon.layout == Template.from_bytes(t.layout_json, b"" + t.atlas_png).layout
