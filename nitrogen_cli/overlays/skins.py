"""Built-in skins: controller overlays drawn by code into the input-overlay format.

Each family is one layout (one geometry: body shape and element positions); each
variant of a family is a colour, outline, transparency and pressed-look style drawn on
that same layout, so variants share a layout name (`builtin/<family>`) and differ only in
the atlas. Everything goes through the same layout JSON + RGBA atlas as a real preset:
the body is a type 0 texture, buttons are type 2 with SDL codes, sticks type 5, triggers
type 6, d-pads type 8 or four buttons, the Xbox-like guide type 7. Pressed looks sit
h + 3 below the released ones, d-pad cells w + 3 apart, exactly as the plugin reads them.

Generation is deterministic (no randomness) and cached per skin.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from nitrogen_cli.overlays import draw as D
from nitrogen_cli.overlays.draw import Canvas, Colour, mix, rgb
from nitrogen_cli.overlays.layout import INNER_BORDER
from nitrogen_cli.overlays.template import Template

WHITE: Colour = (1.0, 1.0, 1.0)
BLACK: Colour = (0.0, 0.0, 0.0)
# d-pad cells in atlas order after the centred one: (dx, dy) of the pushed direction
DPAD_DIRS = ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, -1), (-1, 1), (1, 1))
PRESS_STYLES = ("darken", "light", "glow", "shift", "fill", "invert", "accent")


@dataclass(frozen=True)
class Style:
    """How one variant paints a family's layout."""

    body: tuple[str, str]  # vertical gradient, top to bottom
    body_alpha: float = 1.0
    outline: str = "#000000"
    outline_w: float = 2.0
    well: str = "#202020"  # stick wells and recesses
    button: str = "#303030"
    label: str = "#ffffff"
    face: tuple[str, str, str, str] | None = None  # south, east, west, north
    face_mode: str = "fill"  # "fill": buttons in face colours; "letter": coloured labels
    stick: str = "#404040"
    trigger: str = "#505050"
    accent: str = "#ffcc00"
    press: str = "darken"
    shadow: bool = True
    body_right: tuple[str, str] | None = None  # a second colour for the right half


@dataclass(frozen=True)
class Part:
    """One element of a family's layout, in overlay pixels."""

    kind: str  # button, stick, trigger, dpad, lever, guide
    id: str
    cx: float
    cy: float
    w: int
    h: int
    shape: str = "circle"  # circle, pill, rrect, trigger, bumper_l/r, arm_*, cross
    code: int = -1
    side: int = 0
    label: str = ""
    radius: int = 0
    direction: int = 1
    trigger_mode: bool = False
    z: int = 1


@dataclass(frozen=True)
class Geometry:
    family: str
    width: int
    height: int
    parts: tuple[Part, ...]
    body: Callable[[Canvas, Style, Geometry], None]
    margin: int = 4  # room around each look for glows and shifts
    body_z: int = 0
    body_first: bool = True  # False: the body is drawn over the parts listed before it


# -- colour helpers -------------------------------------------------------------------------
def _c(hex_colour: str) -> Colour:
    return rgb(hex_colour)


def _face_colour(part: Part, st: Style) -> tuple[Colour, Colour]:
    """(fill, label) colours of a button."""
    fill, label = _c(st.button), _c(st.label)
    if st.face and 0 <= part.code <= 3:  # face is (south, east, west, north): SDL order
        face = _c(st.face[part.code])
        if st.face_mode == "fill":
            fill = face
        else:
            label = face
    return fill, label


def _luma(c: Colour) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _pressed_colours(fill: Colour, label: Colour, st: Style) -> tuple[Colour, Colour]:
    """A pressed button's (fill, label): each style changes the look plainly, and a style
    that darkens lightens what is already near black instead."""
    accent = _c(st.accent)
    dark = _luma(fill) < 0.22
    if st.press == "darken":
        return (mix(fill, label, 0.45) if dark else D.scale(fill, 0.5)), D.scale(label, 0.8)
    if st.press == "light":
        return mix(fill, WHITE, 0.6), label
    if st.press in ("glow", "accent", "fill"):
        return mix(fill, accent, 0.75), mix(label, WHITE, 0.5)
    if st.press == "invert":
        return label, fill
    if st.press == "shift":
        return (mix(fill, label, 0.3) if dark else D.scale(fill, 0.7)), label
    raise ValueError(f"unknown press style {st.press!r}")


# -- shapes, in a look's local frame (centred on 0, 0) ------------------------------------
def _shape(c: Canvas, shape: str, w: float, h: float, dx: float = 0, dy: float = 0) -> np.ndarray:
    hw, hh = w / 2, h / 2
    if shape == "circle":
        return D.circle(c, dx, dy, min(hw, hh))
    if shape == "pill":
        return D.box(c, dx, dy, hw, hh, min(hw, hh))
    if shape == "rrect":
        return D.box(c, dx, dy, hw, hh, min(hw, hh) * 0.35)
    if shape in ("arm_up", "arm_down", "arm_left", "arm_right"):
        return D.box(c, dx, dy, hw, hh, min(hw, hh) * 0.25)
    if shape == "trigger":
        return D.smooth_union(
            D.box(c, dx, dy + hh * 0.2, hw, hh * 0.8, min(hw, hh) * 0.3),
            D.ellipse(c, dx, dy - hh * 0.25, hw * 0.92, hh * 0.75),
            3.0,
        )
    if shape == "bumper_l":
        return D.smooth_union(
            D.box(c, dx + hw * 0.1, dy, hw * 0.9, hh, hh * 0.9),
            D.circle(c, dx - hw + hh, dy + hh * 0.15, hh * 0.95),
            4.0,
        )
    if shape == "bumper_r":
        return D.smooth_union(
            D.box(c, dx - hw * 0.1, dy, hw * 0.9, hh, hh * 0.9),
            D.circle(c, dx + hw - hh, dy + hh * 0.15, hh * 0.95),
            4.0,
        )
    if shape == "cross":
        a = min(hw, hh) * 0.68
        return D.union(D.box(c, dx, dy, hw, a / 2, a * 0.18), D.box(c, dx, dy, a / 2, hh, a * 0.18))
    raise ValueError(f"unknown shape {shape!r}")


def _arrow(c: Canvas, shape: str, size: float) -> np.ndarray:
    """A small triangle pointing the way a d-pad arm points."""
    s = size
    pts = {
        "arm_up": [(0, -s), (s, s * 0.6), (-s, s * 0.6)],
        "arm_down": [(0, s), (-s, -s * 0.6), (s, -s * 0.6)],
        "arm_left": [(-s, 0), (s * 0.6, -s), (s * 0.6, s)],
        "arm_right": [(s, 0), (-s * 0.6, s), (-s * 0.6, -s)],
    }[shape]
    return D.polygon(c, pts)


def _ps_symbol(c: Canvas, symbol: str, r: float) -> np.ndarray:
    """Outline of a PlayStation face symbol, as a distance field for stroking."""
    if symbol == "ps_triangle":
        pts = [(0, -r), (r * 0.9, r * 0.6), (-r * 0.9, r * 0.6)]
        return np.abs(D.polygon(c, pts))
    if symbol == "ps_circle":
        return np.abs(D.circle(c, 0, 0, r * 0.85))
    if symbol == "ps_square":
        return np.abs(D.box(c, 0, 0, r * 0.72, r * 0.72, 1.0))
    if symbol == "ps_cross":
        k = r * 0.75
        return D.union(D.capsule(c, -k, -k, k, k, 0), D.capsule(c, -k, k, k, -k, 0))
    raise ValueError(symbol)


def _look_canvas(part: Part, m: int) -> Canvas:
    cw, ch = part.w + 2 * m, part.h + 2 * m
    return Canvas(cw, ch, -cw / 2, -ch / 2)


def _button_look(part: Part, st: Style, m: int, pressed: bool) -> np.ndarray:
    c = _look_canvas(part, m)
    fill, label = _face_colour(part, st)
    if pressed:
        fill, label = _pressed_colours(fill, label, st)
    shift = m * 0.6 if (pressed and st.press == "shift") else 0.0
    d = _shape(c, part.shape, part.w, part.h, 0, shift)
    outline = _c(st.outline)
    if st.shadow and not (pressed and st.press == "shift"):
        c.fill(_shape(c, part.shape, part.w, part.h, 0, m * 0.6), BLACK, 0.35)
    if pressed and st.press == "glow":
        c.glow(d, m * 1.2, _c(st.accent), 0.9)
    if st.press == "fill" and not pressed:
        c.fill(d, fill, 0.18)  # released: outline only, a faint tint inside
    else:
        grad = c.vgrad(mix(fill, WHITE, 0.18), D.scale(fill, 0.85), -part.h / 2, part.h / 2)
        c.fill(d, grad)
    c.stroke(d, st.outline_w, outline if st.press != "fill" else mix(fill, WHITE, 0.3))
    _label(c, part, label, shift)
    return c.rgba()


def _label(c: Canvas, part: Part, colour: Colour, dy: float = 0.0) -> None:
    size = min(part.w, part.h)
    if part.shape.startswith("arm_"):
        c.fill(_arrow(_moved(c, 0, dy), part.shape, size * 0.18), colour, 0.8)
    elif part.label.startswith("ps_"):
        dist = _ps_symbol(_moved(c, 0, dy), part.label, size * 0.3)
        c.paint(D.cover(dist - max(1.0, size * 0.05)), colour)
    elif part.label:
        height = size * (0.5 if len(part.label) == 1 else 0.32)
        c.text(part.label, 0, dy, height, colour)


def _moved(c: Canvas, dx: float, dy: float) -> Canvas:
    """The same canvas with its grid moved, so a shape built at (0, 0) lands at (dx, dy).

    Only for building distance fields: paint on the original canvas.
    """
    view = Canvas.__new__(Canvas)
    view.__dict__.update(c.__dict__)
    view.X = c.X - np.float32(dx)
    view.Y = c.Y - np.float32(dy)
    return view


def _stick_look(part: Part, st: Style, m: int, pressed: bool) -> np.ndarray:
    c = _look_canvas(part, m)
    r = min(part.w, part.h) / 2
    base = _c(st.stick)
    if pressed:
        base, _ = _pressed_colours(base, WHITE, st)
    d = D.circle(c, 0, 0, r)
    if st.shadow:
        c.fill(D.circle(c, 0, m * 0.5, r), BLACK, 0.35)
    if pressed and st.press == "glow":
        c.glow(d, m * 1.2, _c(st.accent), 0.9)
    c.fill(d, c.radial(mix(base, WHITE, 0.25), D.scale(base, 0.7), -r * 0.3, -r * 0.3, r * 1.6))
    c.stroke(D.circle(c, 0, 0, r * 0.62), max(1.0, r * 0.1), D.scale(base, 0.6), 0.8)
    c.stroke(d, st.outline_w, _c(st.outline))
    if pressed:
        c.stroke(D.circle(c, 0, 0, r * 0.8), max(1.5, r * 0.12), _c(st.accent))
    return c.rgba()


def _trigger_look(part: Part, st: Style, m: int, pressed: bool) -> np.ndarray:
    c = _look_canvas(part, m)
    fill = _c(st.trigger)
    label = _c(st.label)
    if pressed:
        fill = mix(fill, _c(st.accent), 0.85) if st.press != "invert" else label
        label = mix(label, BLACK, 0.4)
    d = _shape(c, part.shape, part.w, part.h)
    if st.press == "fill" and not pressed:
        c.fill(d, fill, 0.18)  # released: outline only
    else:
        c.fill(d, c.vgrad(mix(fill, WHITE, 0.2), D.scale(fill, 0.8), -part.h / 2, part.h / 2))
    c.stroke(d, st.outline_w, _c(st.outline) if st.press != "fill" else fill)
    if part.label:
        c.text(part.label, 0, 0, min(part.h * 0.45, part.w * 0.3), label, 0.85)
    return c.rgba()


def _dpad_looks(part: Part, st: Style, m: int) -> list[np.ndarray]:
    """Cell 0: the d-pad at rest; cells 1-8: the arms of one direction pushed. The shapes
    are built once and painted into all nine cells."""
    base = _look_canvas(part, m)
    fill, label = _c(st.button), _c(st.label)
    pfill, _ = _pressed_colours(fill, label, st)
    d = _shape(base, "cross", part.w, part.h)
    if st.shadow:
        base.fill(_shape(base, "cross", part.w, part.h, 0, m * 0.6), BLACK, 0.35)
    grad = base.vgrad(mix(fill, WHITE, 0.15), D.scale(fill, 0.85), -part.h / 2, part.h / 2)
    base.fill(d, grad)
    a = min(part.w, part.h) * 0.34
    arms = {  # the half-arm each direction pushes down, cut to the cross
        (1, 0): D.box(base, part.w / 4 + a / 4, 0, part.w / 4, a / 2),
        (-1, 0): D.box(base, -part.w / 4 - a / 4, 0, part.w / 4, a / 2),
        (0, 1): D.box(base, 0, part.h / 4 + a / 4, a / 2, part.h / 4),
        (0, -1): D.box(base, 0, -part.h / 4 - a / 4, a / 2, part.h / 4),
    }
    arrows = [
        _arrow(_moved(base, ax * part.w * 0.33, ay * part.h * 0.33), shape, a * 0.22)
        for shape, (ax, ay) in (
            ("arm_up", (0, -1)),
            ("arm_down", (0, 1)),
            ("arm_left", (-1, 0)),
            ("arm_right", (1, 0)),
        )
    ]
    looks = []
    for cell in range(9):
        c = base.copy()
        if cell:
            dx, dy = DPAD_DIRS[cell - 1]
            pushed = [arms[(dx, 0)]] if dx else []
            pushed += [arms[(0, dy)]] if dy else []
            region = D.intersect(d, D.union(*pushed))
            if st.press == "glow":
                c.glow(region, m * 1.2, _c(st.accent), 0.9)
            c.fill(region, pfill)
        c.stroke(d, st.outline_w, _c(st.outline))
        for arrow in arrows:
            c.fill(arrow, mix(label, fill, 0.35), 0.9)
        looks.append(c.rgba())
    return looks


def _lever_look(part: Part, st: Style, m: int, cell: int) -> np.ndarray:
    """An arcade lever seen from above: the ball top leans the way it is pushed."""
    c = _look_canvas(part, m)
    r = min(part.w, part.h) * 0.27
    travel = min(part.w, part.h) / 2 - r - 1
    dx, dy = (0, 0) if cell == 0 else DPAD_DIRS[cell - 1]
    norm = math.hypot(dx, dy) or 1.0
    bx, by = dx / norm * travel, dy / norm * travel
    ball = _c(st.stick)
    if cell and st.press in ("glow", "accent", "light", "invert"):
        ball = mix(ball, _c(st.accent), 0.5)
    c.fill(D.capsule(c, 0, 0, bx, by, r * 0.35), D.scale(_c(st.well), 1.4))
    if st.shadow:
        c.fill(D.circle(c, bx, by + r * 0.25, r), BLACK, 0.35)
    d = D.circle(c, bx, by, r)
    c.fill(
        d,
        c.radial(mix(ball, WHITE, 0.45), D.scale(ball, 0.7), bx - r * 0.35, by - r * 0.35, r * 1.5),
    )
    c.stroke(d, st.outline_w, _c(st.outline))
    return c.rgba()


def _guide_look(part: Part, st: Style, m: int, cell: int) -> np.ndarray:
    """Type 7 cells: 0 base (never drawn), 1-3 player textures, 4 drawn beneath when held.

    The player texture is a ring with a logo and a clear centre, so the held cell beneath
    shows through it.
    """
    c = _look_canvas(part, m)
    r = min(part.w, part.h) / 2
    ring = _c(st.label)
    if cell == 4:
        c.glow(D.circle(c, 0, 0, r * 0.9), m * 1.2, _c(st.accent), 0.9)
        c.fill(D.circle(c, 0, 0, r * 0.95), c.radial(WHITE, _c(st.accent), 0, 0, r))
        return c.rgba()
    width = max(1.5, r * 0.14)
    c.stroke(D.circle(c, 0, 0, r * 0.88), width, ring)
    if cell:
        c.text(part.label or "X", 0, 0, r * 0.9, ring)
        # a lit quarter of the ring says which player this texture is for
        target = -math.pi / 2 + (cell - 1) * math.pi / 2
        turn = np.angle(np.exp(1j * (np.arctan2(c.Y, c.X) - target)))
        arc = D.cover(np.abs(D.circle(c, 0, 0, r * 0.88)) - width / 2) * (np.abs(turn) < 0.6)
        c.paint(arc, _c(st.accent))
    return c.rgba()


def _looks(part: Part, st: Style, m: int) -> list[np.ndarray]:
    """Every atlas cell of one part, in the order the layout reads them."""
    if part.kind == "button":
        return [_button_look(part, st, m, False), _button_look(part, st, m, True)]
    if part.kind == "stick":
        return [_stick_look(part, st, m, False), _stick_look(part, st, m, True)]
    if part.kind == "trigger":
        if part.trigger_mode:
            return [_button_look(part, st, m, False), _button_look(part, st, m, True)]
        return [_trigger_look(part, st, m, False), _trigger_look(part, st, m, True)]
    if part.kind == "dpad":
        return _dpad_looks(part, st, m)
    if part.kind == "lever":
        return [_lever_look(part, st, m, k) for k in range(9)]
    if part.kind == "guide":
        return [_guide_look(part, st, m, k) for k in range(5)]
    raise ValueError(part.kind)


def _cells(part: Part) -> tuple[int, int]:
    """(columns, rows) of cells a part's block holds in the atlas."""
    if part.kind in ("dpad", "lever"):
        return 9, 1
    if part.kind == "guide":
        return 5, 1
    return 1, 2


# -- bodies --------------------------------------------------------------------------------
def _shell(c: Canvas, d: np.ndarray, st: Style, g: Geometry) -> None:
    """Fill a body shape with its gradient (split in two colours if asked) and outline."""
    top, bottom = _c(st.body[0]), _c(st.body[1])
    grad = c.vgrad(top, bottom, 0, g.height)
    if st.body_right:
        right = c.vgrad(_c(st.body_right[0]), _c(st.body_right[1]), 0, g.height)
        grad = c.split(grad, right, g.width / 2)
    c.fill(d, grad, st.body_alpha)
    # a soft highlight along the upper inside edge
    c.paint(D.cover(np.maximum(d + 3, -d - 6)) * (g.height * 0.5 > c.Y), WHITE, 0.12)
    c.stroke(d, st.outline_w * 1.5, _c(st.outline))


def _well(c: Canvas, x: float, y: float, r: float, st: Style) -> None:
    """The recess a stick sits in."""
    d = D.circle(c, x, y, r)
    c.fill(d, c.radial(D.scale(_c(st.well), 0.7), _c(st.well), x, y, r), 0.95)
    c.stroke(d, max(1.0, st.outline_w), _c(st.outline), 0.8)


def _part(g: Geometry, id: str) -> Part:
    return next(p for p in g.parts if p.id == id)


def _wells(c: Canvas, g: Geometry, st: Style, k: float = 1.45) -> None:
    for p in g.parts:
        if p.kind == "stick":
            _well(c, p.cx, p.cy, p.w / 2 * k + p.radius * 0.5, st)


def _grip_body(
    shell_box: tuple[float, float, float, float, float],
    grips: tuple[tuple[float, float, float, float, float], ...],
    k: float,
) -> Callable[[Canvas], np.ndarray]:
    def shape(c: Canvas) -> np.ndarray:
        cx, cy, hw, hh, r = shell_box
        d = D.box(c, cx, cy, hw, hh, r)
        for ax, ay, bx, by, gr in grips:
            d = D.smooth_union(d, D.capsule(c, ax, ay, bx, by, gr), k)
        return d

    return shape


def _mirror(ax: float, ay: float, bx: float, by: float, r: float, w: float):
    return ((ax, ay, bx, by, r), (w - ax, ay, w - bx, by, r))


# -- families ------------------------------------------------------------------------------
def _dpad_arms(cx: float, cy: float, a: int, length: int) -> tuple[Part, ...]:
    off = a / 2 + length / 2
    return (
        Part("button", "dpad_up", cx, cy - off, a, length, "arm_up", code=11),
        Part("button", "dpad_down", cx, cy + off, a, length, "arm_down", code=12),
        Part("button", "dpad_left", cx - off, cy, length, a, "arm_left", code=13),
        Part("button", "dpad_right", cx + off, cy, length, a, "arm_right", code=14),
    )


def _diamond(
    cx: float, cy: float, gap: float, size: int, labels: tuple[str, str, str, str], shape="circle"
) -> tuple[Part, ...]:
    """Face buttons: south, east, west, north around (cx, cy)."""
    return (
        Part("button", "south", cx, cy + gap, size, size, shape, code=0, label=labels[0]),
        Part("button", "east", cx + gap, cy, size, size, shape, code=1, label=labels[1]),
        Part("button", "west", cx - gap, cy, size, size, shape, code=2, label=labels[2]),
        Part("button", "north", cx, cy - gap, size, size, shape, code=3, label=labels[3]),
    )


def _hub(c: Canvas, g: Geometry, st: Style, a: float) -> None:
    """The fixed centre square between four d-pad arm buttons."""
    arm = _part(g, "dpad_up")
    cy = arm.cy + arm.h / 2 + a / 2
    c.fill(D.box(c, arm.cx, cy, a / 2 + 0.5, a / 2 + 0.5, 1), _c(st.button))
    c.fill(D.circle(c, arm.cx, cy, a * 0.2), D.scale(_c(st.button), 0.7))
    c.stroke(D.box(c, arm.cx, cy, a * 1.6, a * 1.6, a * 0.6), 1.5, _c(st.outline), 0.35)


def _xbox() -> Geometry:
    W, H = 480, 300
    shape = _grip_body((240, 122, 176, 72, 64), _mirror(122, 150, 96, 246, 60, W), 34)

    def body(c: Canvas, st: Style, g: Geometry) -> None:
        _shell(c, shape(c), st, g)
        _wells(c, g, st)
        _hub(c, g, st, 22)
        c.fill(D.circle(c, 240, 86, 20), D.scale(_c(st.well), 1.2), 0.9)

    parts = (
        Part("trigger", "lt", 116, 20, 62, 34, "trigger", side=0, label="LT", direction=1),
        Part("trigger", "rt", 364, 20, 62, 34, "trigger", side=1, label="RT", direction=1),
        Part("button", "lb", 132, 48, 126, 24, "bumper_l", code=9, label="LB"),
        Part("button", "rb", 348, 48, 126, 24, "bumper_r", code=10, label="RB"),
        *_dpad_arms(178, 200, 22, 24),
        *_diamond(362, 128, 27, 28, ("A", "B", "X", "Y")),
        Part("button", "view", 204, 128, 18, 18, "circle", code=4, label="="),
        Part("button", "menu", 276, 128, 18, 18, "circle", code=6, label="="),
        Part("button", "share", 240, 156, 18, 10, "pill", code=15),  # a code no pad state lights
        Part("stick", "left_stick", 136, 128, 46, 46, side=0, radius=14),
        Part("stick", "right_stick", 302, 202, 46, 46, side=1, radius=14),
        Part("guide", "guide", 240, 86, 34, 34, label="X"),
    )
    return Geometry("xbox", W, H, parts, body)


def _ps() -> Geometry:
    W, H = 500, 300
    shape = _grip_body((250, 124, 170, 70, 44), _mirror(124, 150, 104, 262, 54, W), 30)

    def body(c: Canvas, st: Style, g: Geometry) -> None:
        _shell(c, shape(c), st, g)
        _wells(c, g, st, 1.35)
        pad = D.box(c, 250, 96, 76, 40, 10)
        c.fill(pad, D.scale(_c(st.well), 1.3), 0.85)
        c.stroke(pad, 1.5, _c(st.outline), 0.7)
        c.fill(D.circle(c, 116, 132, 44), D.scale(_c(st.well), 1.5), 0.5)
        c.fill(D.circle(c, 384, 132, 48), D.scale(_c(st.well), 1.5), 0.5)

    parts = (
        Part("trigger", "l2", 116, 17, 92, 30, "trigger", side=0, label="L2", direction=1),
        Part("trigger", "r2", 384, 17, 92, 30, "trigger", side=1, label="R2", direction=1),
        Part("button", "l1", 116, 45, 108, 20, "pill", code=9, label="L1"),
        Part("button", "r1", 384, 45, 108, 20, "pill", code=10, label="R1"),
        Part("dpad", "dpad", 116, 132, 72, 72, "cross"),
        *_diamond(384, 132, 31, 30, ("ps_cross", "ps_circle", "ps_square", "ps_triangle")),
        Part("button", "share", 166, 78, 10, 22, "pill", code=4),
        Part("button", "options", 334, 78, 10, 22, "pill", code=6),
        Part("button", "ps", 250, 178, 26, 26, "circle", code=5, label="P"),
        Part("stick", "left_stick", 186, 212, 48, 48, side=0, radius=14),
        Part("stick", "right_stick", 314, 212, 48, 48, side=1, radius=14),
    )
    return Geometry("ps", W, H, parts, body)


def _switch() -> Geometry:
    W, H = 480, 320
    shape = _grip_body((240, 134, 168, 84, 76), _mirror(124, 176, 104, 270, 62, W), 36)

    def body(c: Canvas, st: Style, g: Geometry) -> None:
        _shell(c, shape(c), st, g)
        _wells(c, g, st, 1.3)
        c.fill(D.box(c, 212, 150, 8, 8, 2), D.scale(_c(st.well), 1.3))  # capture, never lit

    parts = (
        Part("trigger", "zl", 120, 18, 88, 30, "rrect", side=0, label="ZL", trigger_mode=True),
        Part("trigger", "zr", 360, 18, 88, 30, "rrect", side=1, label="ZR", trigger_mode=True),
        Part("button", "l", 126, 48, 118, 24, "bumper_l", code=9, label="L"),
        Part("button", "r", 354, 48, 118, 24, "bumper_r", code=10, label="R"),
        Part("stick", "left_stick", 134, 128, 50, 50, side=0, radius=15),
        Part("dpad", "dpad", 190, 206, 62, 62, "cross"),
        Part("stick", "right_stick", 300, 212, 50, 50, side=1, radius=15),
        *_diamond(362, 128, 28, 27, ("B", "A", "Y", "X")),
        Part("button", "minus", 196, 92, 18, 8, "pill", code=4),
        Part("button", "plus", 284, 92, 18, 18, "circle", code=6, label="+"),
        Part("button", "home", 266, 150, 20, 20, "circle", code=5, label="H"),
    )
    return Geometry("switch", W, H, parts, body)


def _snes() -> Geometry:
    W, H = 440, 210

    def shape(c: Canvas) -> np.ndarray:
        d = D.box(c, 220, 118, 112, 66, 20)
        d = D.smooth_union(d, D.circle(c, 112, 118, 88), 22)
        return D.smooth_union(d, D.circle(c, 328, 118, 88), 22)

    def body(c: Canvas, st: Style, g: Geometry) -> None:
        _shell(c, shape(c), st, g)
        c.fill(D.circle(c, 112, 118, 54), D.scale(_c(st.well), 1.6), 0.55)
        c.fill(D.box(c, 328, 118, 64, 26, 26), D.scale(_c(st.well), 1.6), 0.4)
        c.text("SELECT  START", 220, 142, 8, _c(st.outline), 0.6)

    parts = (
        # the shoulders sit behind the shell: listed before the body, same z level
        Part("button", "l", 112, 20, 156, 26, "bumper_l", code=9, label="L", z=0),
        Part("button", "r", 328, 20, 156, 26, "bumper_r", code=10, label="R", z=0),
        Part("dpad", "dpad", 112, 118, 86, 86, "cross"),
        *_diamond(328, 118, 34, 34, ("B", "A", "Y", "X")),
        Part("button", "select", 196, 124, 30, 12, "pill", code=4),
        Part("button", "start", 244, 124, 30, 12, "pill", code=6),
    )
    return Geometry("snes", W, H, parts, body, body_first=False)


def _nes() -> Geometry:
    W, H = 400, 170

    def body(c: Canvas, st: Style, g: Geometry) -> None:
        d = D.box(c, 200, 85, 194, 80, 8)
        _shell(c, d, st, g)
        panel = D.box(c, 200, 96, 178, 56, 4)
        c.fill(panel, D.scale(_c(st.well), 1.0), 0.9)
        c.fill(D.box(c, 200, 40, 178, 6, 2), _c(st.accent), 0.6)
        c.fill(D.box(c, 198, 118, 36, 22, 4), D.scale(_c(st.well), 1.8), 0.8)
        c.text("SELECT", 172, 100, 7, _c(st.accent), 0.9)
        c.text("START", 226, 100, 7, _c(st.accent), 0.9)
        c.text("B", 290, 140, 10, _c(st.accent), 0.9)
        c.text("A", 342, 140, 10, _c(st.accent), 0.9)

    parts = (
        *_dpad_arms(82, 96, 24, 26),
        Part("button", "b", 290, 108, 38, 38, "circle", code=0),
        Part("button", "a", 342, 108, 38, 38, "circle", code=1),
        Part("button", "select", 172, 118, 30, 11, "pill", code=4),
        Part("button", "start", 226, 118, 30, 11, "pill", code=6),
    )

    def nes_body(c: Canvas, st: Style, g: Geometry) -> None:
        body(c, st, g)
        _hub(c, g, st, 24)

    return Geometry("nes", W, H, parts, nes_body)


def _panel_body(title: str) -> Callable[[Canvas, Style, Geometry], None]:
    def body(c: Canvas, st: Style, g: Geometry) -> None:
        d = D.box(c, g.width / 2, g.height / 2, g.width / 2 - 4, g.height / 2 - 4, 22)
        _shell(c, d, st, g)
        top = D.box(c, g.width / 2, 30, g.width / 2 - 22, 16, 8)
        c.fill(top, D.scale(_c(st.well), 1.4), 0.6)
        c.text(title, 70, 30, 12, _c(st.accent), 0.9)
        for p in g.parts:  # a ring around every round button hole
            if p.kind in ("button", "trigger") and p.shape == "circle" and p.w >= 30:
                c.fill(D.circle(c, p.cx, p.cy, p.w / 2 + 4), _c(st.well), 0.8)
            if p.kind == "lever":
                c.fill(D.circle(c, p.cx, p.cy, p.w / 2 * 0.62), _c(st.well), 0.9)
                c.stroke(D.circle(c, p.cx, p.cy, p.w / 2 * 0.62), 2, _c(st.outline), 0.6)

    return body


def _arcade() -> Geometry:
    W, H = 520, 260
    b = 46
    parts = (
        Part("lever", "lever", 120, 146, 124, 124),
        Part("button", "x", 262, 112, b, b, code=2),
        Part("button", "y", 318, 102, b, b, code=3),
        Part("button", "rb", 374, 102, b, b, code=10),
        Part("button", "lb", 430, 108, b, b, code=9),
        Part("button", "a", 254, 170, b, b, code=0),
        Part("button", "b", 310, 160, b, b, code=1),
        Part("trigger", "rt", 366, 160, b, b, "circle", side=1, trigger_mode=True),
        Part("trigger", "lt", 422, 166, b, b, "circle", side=0, trigger_mode=True),
        Part("button", "guide", 378, 30, 20, 20, code=5),
        Part("button", "back", 420, 30, 20, 20, code=4),
        Part("button", "start", 462, 30, 20, 20, code=6),
    )
    return Geometry("arcade", W, H, parts, _panel_body("ARCADE"))


def _hitbox() -> Geometry:
    W, H = 520, 260
    b = 44
    parts = (
        Part("button", "left", 74, 124, b, b, code=13),
        Part("button", "down", 128, 112, b, b, code=12),
        Part("button", "right", 184, 126, b, b, code=14),
        Part("button", "up", 246, 206, 50, 50, code=11),
        Part("button", "x", 274, 100, b, b, code=2),
        Part("button", "y", 328, 92, b, b, code=3),
        Part("button", "rb", 382, 92, b, b, code=10),
        Part("button", "lb", 436, 98, b, b, code=9),
        Part("button", "a", 268, 154, b, b, code=0),
        Part("button", "b", 322, 146, b, b, code=1),
        Part("trigger", "rt", 376, 146, b, b, "circle", side=1, trigger_mode=True),
        Part("trigger", "lt", 430, 152, b, b, "circle", side=0, trigger_mode=True),
        Part("button", "guide", 378, 30, 18, 18, code=5),
        Part("button", "back", 418, 30, 18, 18, code=4),
        Part("button", "start", 458, 30, 18, 18, code=6),
    )
    return Geometry("hitbox", W, H, parts, _panel_body("LEVERLESS"))


def _minimal() -> Geometry:
    W, H = 360, 200

    def body(c: Canvas, st: Style, g: Geometry) -> None:
        d = D.box(c, W / 2, H / 2, W / 2 - 2, H / 2 - 2, 18)
        c.fill(d, c.vgrad(_c(st.body[0]), _c(st.body[1]), 0, H), st.body_alpha)
        for p in g.parts:
            if p.kind == "stick":
                ring = D.circle(c, p.cx, p.cy, p.radius + p.w / 2 + 2)
                c.stroke(ring, 2.0, _c(st.outline), 0.9)
                c.fill(D.circle(c, p.cx, p.cy, 2.5), _c(st.outline), 0.9)

    parts = (
        Part("trigger", "lt", 92, 14, 150, 14, "pill", side=0, direction=4),
        Part("trigger", "rt", 268, 14, 150, 14, "pill", side=1, direction=3),
        Part("button", "lb", 92, 34, 150, 10, "pill", code=9),
        Part("button", "rb", 268, 34, 150, 10, "pill", code=10),
        Part("stick", "left_stick", 70, 124, 22, 22, side=0, radius=28),
        Part("stick", "right_stick", 290, 124, 22, 22, side=1, radius=28),
        *_dpad_arms(140, 78, 14, 14),
        *_diamond(220, 78, 18, 18, ("A", "B", "X", "Y")),
        Part("button", "back", 158, 130, 16, 10, "pill", code=4),
        Part("button", "start", 202, 130, 16, 10, "pill", code=6),
        Part("button", "guide", 180, 160, 18, 18, "circle", code=5),
        Part("button", "l3", 140, 176, 22, 10, "pill", code=7, label=""),
        Part("button", "r3", 220, 176, 22, 10, "pill", code=8, label=""),
    )
    return Geometry("minimal", W, H, parts, body)


def _gc() -> Geometry:
    W, H = 460, 300
    shape = _grip_body((230, 130, 160, 70, 60), _mirror(120, 160, 108, 256, 56, W), 34)

    def body(c: Canvas, st: Style, g: Geometry) -> None:
        _shell(c, shape(c), st, g)
        for p in g.parts:  # octagonal gates around the sticks
            if p.kind == "stick":
                r = p.w / 2 + p.radius + 4
                pts = [
                    (
                        p.cx + r * math.cos(k * math.pi / 4 + math.pi / 8),
                        p.cy + r * math.sin(k * math.pi / 4 + math.pi / 8),
                    )
                    for k in range(8)
                ]
                gate = D.polygon(c, pts)
                c.fill(gate, _c(st.well), 0.9)
                c.stroke(gate, 1.5, _c(st.outline), 0.8)
        c.fill(D.circle(c, 340, 124, 46), D.scale(_c(st.well), 1.5), 0.45)

    parts = (
        Part("trigger", "l", 112, 22, 96, 34, "rrect", side=0, label="L", direction=2),
        Part("trigger", "r", 348, 22, 96, 34, "rrect", side=1, label="R", direction=2),
        Part("button", "z", 352, 52, 70, 16, "pill", code=10, label="Z"),
        Part("stick", "left_stick", 118, 128, 40, 40, side=0, radius=16),
        Part("button", "up", 166, 192, 14, 16, "arm_up", code=11),
        Part("button", "down", 166, 222, 14, 16, "arm_down", code=12),
        Part("button", "left", 151, 207, 16, 14, "arm_left", code=13),
        Part("button", "right", 181, 207, 16, 14, "arm_right", code=14),
        Part("stick", "c_stick", 290, 206, 32, 32, side=1, radius=14),
        Part("button", "a", 340, 126, 44, 44, "circle", code=0, label="A"),
        Part("button", "b", 304, 154, 24, 24, "circle", code=2, label="B"),
        Part("button", "x", 384, 112, 22, 36, "pill", code=1, label="X"),
        Part("button", "y", 334, 88, 38, 18, "pill", code=3, label="Y"),
        Part("button", "start", 230, 124, 18, 18, "circle", code=6),
    )
    return Geometry("gc", W, H, parts, body)


# A tiny pixel-art pad, 18 x 10: '.' clear, '#' outline, 'b' body, 'd' dark panel.
_PIXEL_ART = (
    "..##############..",
    ".#bbbbbbbbbbbbbb#.",
    "#bbbbbbbbbbbbbbbb#",
    "#bbbbbbbbbbbbbbbb#",
    "#bbbbbbbbbbbbbbbb#",
    "#bbbbbbbbdddbbbbb#",
    "#bbbbbbbbdddbbbbb#",
    ".#bbbbbbbdddbbbb#.",
    "..#bbbb####bbbb#..",
    "...####....####...",
)


def _pixel() -> Geometry:
    W, H = 18, 10

    def body(c: Canvas, st: Style, g: Geometry) -> None:
        colours = {
            "#": _c(st.outline),
            "b": _c(st.body[0]),
            "d": _c(st.well),
        }
        for y, row in enumerate(_PIXEL_ART):
            for x, ch in enumerate(row):
                if ch in colours:
                    c.set_pixel(x, y, colours[ch], 1.0 if ch == "#" else st.body_alpha)

    parts = (
        Part("dpad", "dpad", 4.5, 4.5, 3, 3, "pixel_cross"),
        Part("stick", "stick", 10.5, 6.5, 1, 1, "pixel", side=0, radius=1),
        Part("button", "b", 12.5, 4.5, 1, 1, "pixel", code=0),
        Part("button", "a", 14.5, 3.5, 1, 1, "pixel", code=1),
        Part("button", "select", 7.0, 3.5, 2, 1, "pixel", code=4),
        Part("button", "start", 10.0, 3.5, 2, 1, "pixel", code=6),
    )
    return Geometry("pixel", W, H, parts, body, margin=0)


def _pixel_looks(part: Part, st: Style) -> list[np.ndarray]:
    """Hard-edged 1-pixel looks: no anti-aliasing, no margins."""
    on, off = _c(st.accent), _c(st.button)

    def solid(w: int, h: int, colour: Colour) -> np.ndarray:
        img = np.zeros((h, w, 4), np.uint8)
        img[..., :3] = np.round(np.asarray(colour) * 255).astype(np.uint8)
        img[..., 3] = 255
        return img

    if part.kind == "dpad":
        cells = []
        for k in range(9):
            img = np.zeros((3, 3, 4), np.uint8)
            for y, x in ((0, 1), (1, 0), (1, 1), (1, 2), (2, 1)):
                img[y, x, :3] = np.round(np.asarray(off) * 255)
                img[y, x, 3] = 255
            if k:
                dx, dy = DPAD_DIRS[k - 1]
                for y, x in ((1 + dy, 1), (1, 1 + dx)):
                    if (y, x) != (1, 1):
                        img[y, x, :3] = np.round(np.asarray(on) * 255)
            cells.append(img)
        return cells
    if part.kind == "stick":
        return [solid(1, 1, _c(st.stick)), solid(1, 1, on)]
    return [solid(part.w, part.h, off), solid(part.w, part.h, on)]


FAMILIES: dict[str, Callable[[], Geometry]] = {
    "xbox": _xbox,
    "ps": _ps,
    "switch": _switch,
    "snes": _snes,
    "nes": _nes,
    "arcade": _arcade,
    "hitbox": _hitbox,
    "minimal": _minimal,
    "gc": _gc,
    "pixel": _pixel,
}

XBOX_FACE = ("#3fb43a", "#e0352b", "#2d6fd6", "#f2c40f")
SNES_FACE = ("#f2c40f", "#d7262e", "#2f9b48", "#3d4fc4")

VARIANTS: dict[str, dict[str, Style]] = {
    "xbox": {
        "white": Style(
            ("#f4f4f2", "#d9d9d6"),
            outline="#5a5a5a",
            well="#2b2b2b",
            button="#2c2c2e",
            face=XBOX_FACE,
            face_mode="letter",
            stick="#333336",
            trigger="#e4e4e2",
            label="#f0f0f0",
            accent="#7ce35a",
            press="darken",
        ),
        "black": Style(
            ("#34363a", "#16171a"),
            outline="#050505",
            well="#0c0c0d",
            button="#1f2023",
            face=XBOX_FACE,
            face_mode="letter",
            stick="#2a2b2f",
            trigger="#2a2b2f",
            accent="#49f25a",
            press="glow",
        ),
        "clear": Style(
            ("#9ec9ff", "#4f7fc7"),
            body_alpha=0.55,
            outline="#cfe6ff",
            well="#1b2f52",
            button="#c9ddf7",
            face=XBOX_FACE,
            face_mode="fill",
            stick="#a9c4ec",
            trigger="#b7d1f5",
            label="#ffffff",
            accent="#ffffff",
            press="light",
            shadow=False,
        ),
    },
    "ps": {
        "white": Style(
            ("#fbfbfb", "#e3e3e6"),
            outline="#2a2a35",
            well="#202028",
            button="#f5f5f7",
            face=None,
            stick="#24242c",
            trigger="#f0f0f3",
            label="#2a2a35",
            accent="#5b8cff",
            press="invert",
        ),
        "midnight": Style(
            ("#20263a", "#0b0e18"),
            outline="#000000",
            well="#05070d",
            button="#1a1f2e",
            face=("#8fb4ff", "#ff6b7a", "#ff8fd6", "#4fe0c0"),
            face_mode="letter",
            stick="#151926",
            trigger="#1a1f2e",
            label="#c8d2ff",
            accent="#3ff0ff",
            press="glow",
        ),
        "red": Style(
            ("#c4222e", "#7e0f18"),
            outline="#2a0306",
            well="#3d0409",
            button="#26070a",
            face=None,
            stick="#1c0407",
            trigger="#a81d27",
            label="#f3d1d4",
            accent="#ffd0a0",
            press="darken",
        ),
    },
    "switch": {
        "black": Style(
            ("#2d2e31", "#151517"),
            outline="#000000",
            well="#0a0a0b",
            button="#3a3b3f",
            stick="#232326",
            trigger="#2b2c30",
            label="#e9e9e9",
            accent="#e60012",
            press="light",
        ),
        "neon": Style(
            ("#17b5e6", "#0a7fa8"),
            body_right=("#ff4f4f", "#c8262d"),
            outline="#101010",
            well="#141414",
            button="#242424",
            stick="#1c1c1c",
            trigger="#303030",
            label="#f2f2f2",
            accent="#fff36a",
            press="shift",
        ),
        "grey": Style(
            ("#c9cbcf", "#9ea1a8"),
            outline="#3c3e44",
            outline_w=2.5,
            well="#4a4c52",
            button="#65686f",
            stick="#50535a",
            trigger="#8b8e95",
            label="#ffffff",
            accent="#ffb100",
            press="darken",
        ),
    },
    "snes": {
        "pal": Style(
            ("#d8d6dc", "#b9b7bf"),
            outline="#55535c",
            well="#6c6a73",
            button="#3c3b42",
            face=SNES_FACE,
            face_mode="fill",
            label="#ffffff",
            accent="#ffffff",
            press="darken",
        ),
        "us": Style(
            ("#b9b5cc", "#8e89a8"),
            outline="#4d4b58",
            well="#5d5b6a",
            button="#3f3c4f",
            face=("#7f79b5", "#7f79b5", "#c3c0e6", "#c3c0e6"),
            face_mode="fill",
            label="#2c2940",
            accent="#ffffff",
            press="shift",
        ),
        "outline": Style(
            ("#000000", "#000000"),
            body_alpha=0.0,
            outline="#ffffff",
            outline_w=2.5,
            well="#ffffff",
            button="#ffffff",
            face=SNES_FACE,
            face_mode="fill",
            label="#ffffff",
            accent="#ffe14d",
            press="fill",
            shadow=False,
        ),
    },
    "nes": {
        "classic": Style(
            ("#c9c9c9", "#a9a9a9"),
            outline="#2a2a2a",
            well="#1d1d1d",
            button="#d21f2b",
            label="#ffffff",
            accent="#d21f2b",
            press="light",
        ),
        "famicom": Style(
            ("#b3262d", "#8b1a20"),
            outline="#2c0608",
            well="#e8d6a8",
            button="#c9a94a",
            label="#3c2b05",
            accent="#6b0f14",
            press="darken",
        ),
        "dark": Style(
            ("#2b2b30", "#18181b"),
            outline="#000000",
            well="#3b3b42",
            button="#3f7de0",
            label="#ffffff",
            accent="#7fffd4",
            press="glow",
        ),
    },
    "arcade": {
        "vewlix": Style(
            ("#f3f3f3", "#d4d4d4"),
            outline="#3a3a3a",
            well="#1c1c1c",
            button="#e23b3b",
            stick="#e23b3b",
            label="#ffffff",
            accent="#ffe45c",
            press="light",
        ),
        "black": Style(
            ("#1d1d20", "#0c0c0e"),
            outline="#000000",
            well="#2c2c30",
            button="#1a1a1d",
            stick="#c31d1d",
            label="#ffffff",
            accent="#ff3838",
            press="glow",
        ),
        "retro": Style(
            ("#8a5a36", "#5e3a20"),
            outline="#2b1608",
            well="#2e1b0c",
            button="#f2c230",
            stick="#1b1b1b",
            label="#3a2606",
            accent="#fff4c0",
            press="darken",
        ),
    },
    "hitbox": {
        "black": Style(
            ("#222226", "#101012"),
            outline="#000000",
            well="#303036",
            button="#3a3a40",
            label="#ffffff",
            accent="#28d7ff",
            press="glow",
        ),
        "white": Style(
            ("#f6f6f6", "#dcdcdc"),
            outline="#4a4a4a",
            well="#bdbdbd",
            button="#fafafa",
            label="#333333",
            accent="#ff7a00",
            press="darken",
        ),
        "clear": Style(
            ("#d0e8ff", "#9cc3ea"),
            body_alpha=0.5,
            outline="#ffffff",
            well="#ffffff",
            button="#ffffff",
            label="#ffffff",
            accent="#ff4fa3",
            press="fill",
            shadow=False,
        ),
    },
    "minimal": {
        "bare": Style(
            ("#000000", "#000000"),
            body_alpha=0.0,
            outline="#ffffff",
            outline_w=1.5,
            button="#ffffff",
            stick="#ffffff",
            trigger="#ffffff",
            label="#ffffff",
            accent="#ffffff",
            press="fill",
            shadow=False,
        ),
        "panel": Style(
            ("#1b1f27", "#0f1217"),
            body_alpha=0.75,
            outline="#8a94a6",
            outline_w=1.5,
            button="#3b4352",
            stick="#cfd6e2",
            trigger="#3b4352",
            label="#e8edf5",
            accent="#ff9f1c",
            press="accent",
            shadow=False,
        ),
        "mono": Style(
            ("#ffffff", "#e9e9e9"),
            body_alpha=0.85,
            outline="#111111",
            outline_w=1.5,
            button="#ffffff",
            stick="#111111",
            trigger="#ffffff",
            label="#111111",
            accent="#111111",
            press="invert",
            shadow=False,
        ),
    },
    "gc": {
        "indigo": Style(
            ("#5b4f9e", "#3a3072"),
            outline="#1d173f",
            well="#2a2452",
            button="#c9c6d9",
            face=("#2fc26b", "#c9c6d9", "#d8362f", "#c9c6d9"),
            face_mode="fill",
            stick="#d9d6e6",
            trigger="#a9a3cf",
            label="#1d173f",
            accent="#ffffff",
            press="darken",
        ),
        "black": Style(
            ("#2e2e33", "#141416"),
            outline="#000000",
            well="#0b0b0c",
            button="#9b9ba3",
            face=("#2fc26b", "#9b9ba3", "#d8362f", "#9b9ba3"),
            face_mode="fill",
            stick="#b0b0b8",
            trigger="#5a5a61",
            label="#111111",
            accent="#ffffff",
            press="light",
        ),
        "spice": Style(
            ("#f28a1d", "#c45f0a"),
            outline="#4a2100",
            well="#6b3006",
            button="#fff0dd",
            face=("#2fc26b", "#fff0dd", "#d8362f", "#fff0dd"),
            face_mode="fill",
            stick="#fff0dd",
            trigger="#ffd2a1",
            label="#4a2100",
            accent="#ffffff",
            press="glow",
        ),
    },
    "pixel": {
        "grey": Style(
            ("#c4c5c7", "#c4c5c7"),
            outline="#35373f",
            well="#82858c",
            button="#181b23",
            stick="#35373f",
            accent="#bf051a",
        ),
        "red": Style(
            ("#b3262d", "#b3262d"),
            outline="#3c0a0d",
            well="#e6d3a3",
            button="#f0e0b0",
            stick="#3c0a0d",
            accent="#2f7fff",
        ),
        "glass": Style(
            ("#9fd3ff", "#9fd3ff"),
            body_alpha=0.5,
            outline="#ffffff",
            well="#ffffff",
            button="#ffffff",
            stick="#ffffff",
            accent="#ffe14d",
        ),
    },
}


# -- assembling a template -----------------------------------------------------------------
def _pack(g: Geometry) -> tuple[dict[str, tuple[int, int]], int, int]:
    """Atlas origin of each part's block (sticks of one size share theirs), atlas size."""
    m = g.margin
    gap = INNER_BORDER
    blocks: list[tuple[str, int, int]] = []
    shared: dict[tuple, str] = {}
    alias: dict[str, str] = {}
    for p in g.parts:
        key = (p.kind, p.shape, p.w, p.h) if p.kind == "stick" else None
        if key is not None and key in shared:
            alias[p.id] = shared[key]
            continue
        if key is not None:
            shared[key] = p.id
        cols, rows = _cells(p)
        cw, ch = p.w + 2 * m, p.h + 2 * m
        blocks.append((p.id, cols * cw + (cols - 1) * gap, rows * ch + (rows - 1) * gap))
    width = max([g.width] + [b[1] for b in blocks])
    origin: dict[str, tuple[int, int]] = {}
    x, y, row_h = 0, g.height + gap, 0
    for pid, bw, bh in blocks:
        if x + bw > width:
            x, y, row_h = 0, y + row_h + gap, 0
        origin[pid] = (x, y)
        x += bw + gap
        row_h = max(row_h, bh)
    for pid, target in alias.items():
        origin[pid] = origin[target]
    return origin, width, y + row_h


def _element(p: Part, g: Geometry, origin: tuple[int, int]) -> dict:
    m = g.margin
    cw, ch = p.w + 2 * m, p.h + 2 * m
    pos = [round(p.cx - cw / 2), round(p.cy - ch / 2)]
    el: dict = {"id": p.id, "pos": pos, "mapping": [origin[0], origin[1], cw, ch], "z_level": p.z}
    if p.kind == "button":
        el.update(type=2, code=p.code)
    elif p.kind == "stick":
        el.update(type=5, side=p.side, stick_radius=p.radius)
    elif p.kind == "trigger":
        el.update(type=6, side=p.side, direction=p.direction, trigger_mode=p.trigger_mode)
    elif p.kind in ("dpad", "lever"):
        el.update(type=8)
    elif p.kind == "guide":
        el.update(type=7)
    return el


@cache
def _geometry(family: str) -> Geometry:
    return FAMILIES[family]()


@cache
def _layout(family: str) -> tuple[str, dict[str, tuple[int, int]], int, int]:
    """The family's layout JSON (shared by its variants), block origins and atlas size."""
    g = _geometry(family)
    origin, aw, ah = _pack(g)
    body = {
        "id": "body",
        "type": 0,
        "pos": [0, 0],
        "mapping": [0, 0, g.width, g.height],
        "z_level": g.body_z,
    }
    parts = [_element(p, g, origin[p.id]) for p in g.parts]
    elements = [body, *parts] if g.body_first else [*parts, body]
    layout = {
        "version": 507,
        "overlay_width": g.width,
        "overlay_height": g.height,
        "default_width": 0,
        "default_height": 0,
        "space_h": 0,
        "space_v": 0,
        "flags": 4,
        "elements": elements,
    }
    return json.dumps(layout, indent=1), origin, aw, ah


def _atlas(family: str, style: Style) -> np.ndarray:
    g = _geometry(family)
    _, origin, aw, ah = _layout(family)
    atlas = np.zeros((ah, aw, 4), np.uint8)
    body = Canvas(g.width, g.height)
    g.body(body, style, g)
    atlas[: g.height, : g.width] = body.rgba()
    done: set[tuple[int, int]] = set()
    for p in g.parts:
        ox, oy = origin[p.id]
        if (ox, oy) in done:  # a shared block is drawn once
            continue
        done.add((ox, oy))
        looks = _pixel_looks(p, style) if family == "pixel" else _looks(p, style, g.margin)
        rows = _cells(p)[1]
        h, w = looks[0].shape[:2]
        for k, look in enumerate(looks):
            col, row = (k, 0) if rows == 1 else (0, k)
            x, y = ox + col * (w + INNER_BORDER), oy + row * (h + INNER_BORDER)
            atlas[y : y + h, x : x + w] = look
    return atlas


def skin_ids() -> list[str]:
    """Every built-in template id, `builtin/<family>-<variant>`."""
    return [f"builtin/{f}-{v}" for f in FAMILIES for v in VARIANTS[f]]


@cache
def builtin_template(id: str) -> Template | None:
    """One built-in skin by id (drawn on first use, then cached); None if unknown."""
    if not id.startswith("builtin/"):
        return None
    family, _, variant = id.removeprefix("builtin/").partition("-")
    if family not in FAMILIES or variant not in VARIANTS[family]:
        return None
    layout_json = _layout(family)[0]
    atlas = _atlas(family, VARIANTS[family][variant])
    return Template(id, layout_json, atlas=atlas, layout=f"builtin/{family}", source="builtin")


def builtin_templates() -> list[Template]:
    """All built-in skins, in a fixed order."""
    out = []
    for tid in skin_ids():
        t = builtin_template(tid)
        assert t is not None
        out.append(t)
    return out
