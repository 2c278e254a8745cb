"""Draw a gamepad state the way input-overlay draws it, at any output scale, fast.

A Renderer precomputes, once per (template, scale), every look of every element already
resampled to output pixels and premultiplied, the static background (the elements below
the first one that a state can change) and the whole overlay with everything released.
Drawing a state copies the released overlay and, for each element the state changes,
redraws the pixels that element can reach from the background up: one premultiplied
"over" per element, in z order,

    out = patch + out * (1 - patch_alpha)

which is what the plugin's GPU blend (ONE, INV_SRC_ALPHA on premultiplied textures)
computes. The result is the same, bit for bit, as drawing every element. Sticks are
shifted by a sub-pixel bilinear warp of their (small) patch; trigger fills weight the
pressed patch by how much of each output row or column the filled part covers, which at
scale 1 is exactly the plugin's crop.

Each element is resampled exactly as cv2.resize would resample it (area averaging when
shrinking, bilinear when enlarging), then laid over the others, as OBS draws sprites when
scale filtering is off. The result matches resizing the exact render except at the edge
pixels of elements drawn over detail (fine line art under a button bleeds into its
rim). Point sampling ("nearest", for pixel-art presets) draws at scale 1 and enlarges the
result, as OBS does with a point scale filter: that is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from nitrogen_cli.actions import State
from nitrogen_cli.overlays.layout import (
    DIR_DOWN,
    DIR_LEFT,
    DIR_RIGHT,
    DIR_UP,
    DPAD,
    GAMEPAD_ID,
    GUIDE_PLAYER1_CELL,
    GUIDE_PRESSED_CELL,
    PAD_BUTTON,
    STICK,
    TRIGGER,
    Element,
)

if TYPE_CHECKING:
    from nitrogen_cli.overlays.template import Template

FILTERS = ("auto", "area", "linear", "nearest")
PIXEL_ART_MAX = 64  # templates no larger than this (both sides) are point-scaled by "auto"
TRIGGER_BUTTON_THRESHOLD = 0.1  # trigger_mode: drawn pressed at >= 0.1, as the plugin does


# -- premultiplied images ---------------------------------------------------------------
def premultiply(rgba: np.ndarray) -> np.ndarray:
    """uint8 straight RGBA -> float32 premultiplied in [0, 1]."""
    out = np.ascontiguousarray(rgba, dtype=np.float32) * np.float32(1 / 255)
    a = np.ascontiguousarray(out[..., 3])
    return cv2.multiply(out, cv2.merge([a, a, a, np.ones_like(a)])).reshape(out.shape)


def atlas_cell(atlas: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    """The atlas pixels of one cell (x, y, w, h); where it runs past the texture, the
    nearest edge pixel, as OBS's default sampler (clamped addressing) reads them."""
    x, y, w, h = rect
    H, W = atlas.shape[:2]
    if x >= 0 and y >= 0 and x + w <= W and y + h <= H:
        return atlas[y : y + h, x : x + w]
    ys = np.clip(np.arange(y, y + h), 0, H - 1)
    xs = np.clip(np.arange(x, x + w), 0, W - 1)
    return atlas[np.ix_(ys, xs)]


def unpremultiply(prem: np.ndarray) -> np.ndarray:
    """float32 premultiplied -> uint8 straight RGBA (colour 0 where fully transparent)."""
    prem = np.ascontiguousarray(prem, dtype=np.float32)
    alpha = prem[..., 3]
    # Premultiplied colour is 0 where alpha is 0, so a tiny floor on alpha is harmless.
    gain = np.float32(255) / np.maximum(alpha, np.float32(1e-12))
    gain4 = cv2.merge([gain, gain, gain, np.full_like(gain, 255)])
    out = cv2.convertScaleAbs(cv2.multiply(prem, gain4))  # rounds and saturates
    return out.reshape(prem.shape)


def over(dst: np.ndarray, src: np.ndarray) -> None:
    """Premultiplied `src` over `dst`, in place; both the same shape."""
    dst *= 1 - src[..., 3:4]
    dst += src


def resize_rgba(rgba: np.ndarray, size: tuple[int, int], filter: str = "area") -> np.ndarray:
    """Resize straight uint8 RGBA to (w, h) through premultiplied alpha (no dark fringes).

    The reference the Renderer is tested against: its output at a scale matches this
    applied to the exact (scale 1) render.
    """
    interp = {
        "area": cv2.INTER_AREA,
        "linear": cv2.INTER_LINEAR,
        "nearest": cv2.INTER_NEAREST_EXACT,
    }[filter]
    if filter == "nearest":
        return cv2.resize(rgba, size, interpolation=interp)
    return unpremultiply(cv2.resize(premultiply(rgba), size, interpolation=interp))


def composite(
    canvas: np.ndarray, rgba: np.ndarray, x: int, y: int, opacity: float = 1.0
) -> np.ndarray:
    """Blend straight RGBA `rgba` onto the RGB uint8 `canvas` at (x, y), in place.

    Only canvas pixels under overlay pixels with alpha > 0 change. The overlay may hang
    over the canvas edges (it is clipped). Returns the canvas.
    """
    _check_frame(canvas)
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"overlay must be (H, W, 4) uint8 RGBA, got {rgba.shape} {rgba.dtype}")
    box = _clip(canvas.shape, rgba.shape, x, y)
    if box is None or opacity <= 0:
        return canvas
    (cy0, cy1, cx0, cx1), (py0, py1, px0, px1) = box
    src = np.ascontiguousarray(rgba[py0:py1, px0:px1])
    a = src[..., 3].astype(np.float32) * np.float32(min(opacity, 1.0) / 255)
    colour = cv2.multiply(
        cv2.cvtColor(src, cv2.COLOR_RGBA2RGB), cv2.merge([a, a, a]), dtype=cv2.CV_32F
    )
    _blend_rgb(canvas[cy0:cy1, cx0:cx1], colour, a, src[..., 3] > 0)
    return canvas


def _check_frame(canvas: np.ndarray) -> None:
    if canvas.dtype != np.uint8 or canvas.ndim != 3 or canvas.shape[2] != 3:
        raise ValueError(f"frame must be (H, W, 3) uint8 RGB, got {canvas.shape} {canvas.dtype}")


def _blend_rgb(region: np.ndarray, colour: np.ndarray, alpha: np.ndarray, mask: np.ndarray) -> None:
    """region (uint8 RGB view) = colour + region * (1 - alpha), written only where mask.

    OpenCV does the arithmetic: numpy's mixed uint8/float32 operations are several times
    slower at these sizes.
    """
    inv = 1 - alpha
    out = cv2.add(cv2.multiply(region, cv2.merge([inv, inv, inv]), dtype=cv2.CV_32F), colour)
    cv2.copyTo(cv2.convertScaleAbs(out), mask.view(np.uint8), region)


def _clip(
    canvas_shape: tuple[int, ...], patch_shape: tuple[int, ...], x: int, y: int
) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]] | None:
    """Canvas and patch slices where a patch placed at (x, y) overlaps the canvas."""
    ch, cw = canvas_shape[:2]
    ph, pw = patch_shape[:2]
    cx0, cy0 = max(x, 0), max(y, 0)
    cx1, cy1 = min(x + pw, cw), min(y + ph, ch)
    if cx0 >= cx1 or cy0 >= cy1:
        return None
    return (cy0, cy1, cx0, cx1), (cy0 - y, cy1 - y, cx0 - x, cx1 - x)


# -- resampling one element's patch -----------------------------------------------------
def _resample(src: np.ndarray, origin: float, scale: float, filter: str) -> tuple[int, np.ndarray]:
    """Resample axis 0 of `src`, whose pixels stand at template coordinates origin,
    origin + 1, ..., onto output pixels; returns (first output index, resampled array).

    "area": output pixel k averages the template span [k/s, (k+1)/s), computed from a
    prefix sum (exact, and no matrix product: small BLAS calls crawl on a busy machine).
    "linear": bilinear between source pixel centres. Outside `src` is transparent (0).
    """
    n = src.shape[0]
    if filter == "area":
        k0, k1 = math.floor(origin * scale), math.ceil((origin + n) * scale)
        t = np.clip(np.arange(k0, k1 + 1, dtype=np.float64) / scale - origin, 0, n)
        i = np.minimum(t.astype(np.int64), n - 1)
        frac = (t - i).reshape(-1, *([1] * (src.ndim - 1)))
        csum = np.concatenate([np.zeros_like(src[:1], np.float64), np.cumsum(src, 0, np.float64)])
        c = csum[i] + frac * src[i]  # the integral of src from 0 to t
        return k0, ((c[1:] - c[:-1]) * scale).astype(np.float32)
    k0 = math.floor((origin - 0.5) * scale - 0.5)
    k1 = math.ceil((origin + n + 0.5) * scale + 0.5)
    t = (np.arange(k0, k1, dtype=np.float64) + 0.5) / scale - origin - 0.5
    keep = np.flatnonzero((t > -1) & (t < n))
    if len(keep) == 0:
        return k0, np.zeros((0, *src.shape[1:]), np.float32)
    t = t[keep[0] : keep[-1] + 1]
    j0 = np.floor(t).astype(np.int64)
    frac = (t - j0).astype(np.float32).reshape(-1, *([1] * (src.ndim - 1)))
    padded = np.concatenate([np.zeros_like(src[:1]), src, np.zeros_like(src[:1])])
    lo, hi = padded[j0 + 1], padded[np.minimum(j0 + 2, n + 1)]
    return k0 + int(keep[0]), (lo * (1 - frac) + hi * frac).astype(np.float32)


@dataclass
class Patch:
    """A premultiplied look placed at integer output pixel (x, y)."""

    x: int
    y: int
    rgba: np.ndarray  # (h, w, 4) float32 premultiplied
    inv: np.ndarray  # (h, w, 4) float32: 1 - alpha, repeated (broadcasting is slower)

    @classmethod
    def make(cls, x: int, y: int, rgba: np.ndarray) -> Patch:
        """A patch trimmed to its pixels with alpha > 0 (an invisible one becomes empty)."""
        alpha = rgba[..., 3] > 0
        rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
        if len(rows) == 0:
            return cls(x, y, np.zeros((0, 0, 4), np.float32), np.zeros((0, 0, 4), np.float32))
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        rgba = np.ascontiguousarray(rgba[r0:r1, c0:c1], dtype=np.float32)
        inv = np.ascontiguousarray(np.repeat(1 - rgba[..., 3:4], 4, axis=2))
        return cls(x + int(c0), y + int(r0), rgba, inv)

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.rgba.shape[1], self.rgba.shape[0])


def place(prem: np.ndarray, pos: tuple[float, float], sx: float, sy: float, filter: str) -> Patch:
    """Resample a template-pixel premultiplied patch drawn at `pos` into output pixels."""
    if sx == 1 and sy == 1 and float(pos[0]).is_integer() and float(pos[1]).is_integer():
        return Patch.make(int(pos[0]), int(pos[1]), prem.copy())
    y0, rows = _resample(prem, pos[1], sy, filter)  # rows first, then columns
    x0, cols = _resample(rows.transpose(1, 0, 2), pos[0], sx, filter)
    return Patch.make(x0, y0, np.clip(cols.transpose(1, 0, 2), 0, 1))


def shift(patch: Patch, dx: float, dy: float) -> Patch:
    """The patch moved by a real-valued offset: whole pixels by placement, the rest by a
    bilinear warp (what a GPU does to a sprite drawn at a fractional position)."""
    ix, iy = math.floor(dx), math.floor(dy)
    fx, fy = dx - ix, dy - iy
    if (fx < 1e-6 and fy < 1e-6) or patch.rgba.size == 0:
        return Patch(patch.x + ix, patch.y + iy, patch.rgba, patch.inv)
    h, w = patch.rgba.shape[:2]
    m = np.array([[1, 0, fx], [0, 1, fy]], np.float32)
    moved = cv2.warpAffine(
        patch.rgba,
        m,
        (w + 1, h + 1),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0, 0),
    )
    return Patch.make(patch.x + ix, patch.y + iy, moved)


def blend(
    canvas: np.ndarray,
    patch: Patch,
    weight: np.ndarray | None = None,
    origin: tuple[int, int] = (0, 0),
) -> None:
    """Premultiplied `patch` over `canvas`, in place; `weight` scales its coverage
    (broadcast against (h, w, 1)): how trigger fills draw a part of a look. `origin` is
    the output pixel at the canvas's top-left corner (when drawing a region only)."""
    box = _clip(canvas.shape, patch.rgba.shape, patch.x - origin[0], patch.y - origin[1])
    if box is None:
        return
    (cy0, cy1, cx0, cx1), (py0, py1, px0, px1) = box
    region = canvas[cy0:cy1, cx0:cx1]
    src = patch.rgba[py0:py1, px0:px1]
    if weight is None:
        region *= patch.inv[py0:py1, px0:px1]
        region += src
        return
    wgt = np.broadcast_to(weight, (*patch.rgba.shape[:2], 1))
    part = src * wgt[py0:py1, px0:px1]
    region *= 1 - part[..., 3:4]
    region += part


def _coverage(start: int, n: int, lo: float, hi: float) -> np.ndarray:
    """How much of each output pixel start..start+n-1 lies inside [lo, hi)."""
    k = np.arange(start, start + n, dtype=np.float32)
    return np.clip(np.minimum(k + 1, hi) - np.maximum(k, lo), 0, 1).astype(np.float32)


def dpad_direction(state: State) -> int:
    """The d-pad cell the plugin draws: 0 centred, else 1 + (left, right, up, down,
    up-left, up-right, down-left, down-right); up wins over down, left over right."""
    up, down = state.is_pressed("dpad_up"), state.is_pressed("dpad_down")
    left, right = state.is_pressed("dpad_left"), state.is_pressed("dpad_right")
    if up:
        return 5 if left else 6 if right else 3
    if down:
        return 7 if left else 8 if right else 4
    if right:
        return 2
    if left:
        return 1
    return 0


# -- the renderer -----------------------------------------------------------------------
def _is_static(el: Element) -> bool:
    """Drawn the same in every state (a trigger that always fills full counts as changing,
    which is harmless)."""
    return not el.responds_to() and not (el.type == TRIGGER and el.fills)


class _Slot:
    """One element of the layout at the renderer's scale: its looks and how a state
    picks among them."""

    def __init__(self, el: Element, looks: list[Patch], sx: float, sy: float) -> None:
        self.el = el
        self.looks = looks
        # Every output pixel any state can draw this element into (x0, y0, x1, y1).
        boxes = [p.box for p in looks if p.rgba.size]
        if not boxes:
            self.reach = (0, 0, 0, 0)
            return
        x0 = min(b[0] for b in boxes)
        y0 = min(b[1] for b in boxes)
        x1 = max(b[0] + b[2] for b in boxes)
        y1 = max(b[1] + b[3] for b in boxes)
        if el.type == STICK:
            rx, ry = abs(el.radius) * sx, abs(el.radius) * sy
            x0, y0 = math.floor(x0 - rx), math.floor(y0 - ry)
            x1, y1 = math.ceil(x1 + rx) + 1, math.ceil(y1 + ry) + 1
        self.reach = (x0, y0, x1, y1)

    def active(self, state: State) -> bool:
        """Whether `state` draws this element differently from the all-released state."""
        el = self.el
        t = el.type
        if t == PAD_BUTTON:
            return bool(el.button) and state.is_pressed(el.button)  # type: ignore[arg-type]
        if t == STICK:
            side = "left" if el.side == 0 else "right"
            axes = state.j_left if side == "left" else state.j_right
            return state.is_pressed(f"{side}_thumb") or axes[0] != 0 or axes[1] != 0
        if t == TRIGGER:
            if el.side not in (0, 1):
                return False
            value = float(state.trigger(("left_trigger", "right_trigger")[el.side]))
            if el.trigger_mode:
                return value >= TRIGGER_BUTTON_THRESHOLD
            return el.direction in (DIR_UP, DIR_DOWN, DIR_LEFT, DIR_RIGHT) and value > 0
        if t == GAMEPAD_ID:
            return state.is_pressed("guide")
        if t == DPAD:
            return dpad_direction(state) != 0
        return False

    def draw(self, canvas: np.ndarray, state: State, r: Renderer, origin: tuple[int, int]) -> None:
        el = self.el
        t = el.type
        if t == PAD_BUTTON:
            name = el.button
            blend(canvas, self.looks[1 if name and state.is_pressed(name) else 0], None, origin)
        elif t == STICK:
            side = "left" if el.side == 0 else "right"
            look = self.looks[1 if state.is_pressed(f"{side}_thumb") else 0]
            ax, ay = state.j_left if side == "left" else state.j_right
            dx, dy = ax * el.radius * r.sx, ay * el.radius * r.sy
            blend(canvas, shift(look, dx, dy) if dx or dy else look, None, origin)
        elif t == TRIGGER:
            value = 0.0
            if el.side in (0, 1):
                value = float(state.trigger(("left_trigger", "right_trigger")[el.side]))
            if el.trigger_mode:
                pressed = value >= TRIGGER_BUTTON_THRESHOLD
                blend(canvas, self.looks[1 if pressed else 0], None, origin)
            else:
                blend(canvas, self.looks[0], None, origin)
                self._fill(canvas, value, r, origin)
        elif t == GAMEPAD_ID:
            blend(canvas, self.looks[1 if state.is_pressed("guide") else 0], None, origin)
        elif t == DPAD:
            blend(canvas, self.looks[dpad_direction(state)], None, origin)
        else:
            blend(canvas, self.looks[0], None, origin)

    def _fill(self, canvas: np.ndarray, value: float, r: Renderer, origin: tuple[int, int]) -> None:
        """The pressed look, cut to the part a trigger at `value` fills."""
        el, look = self.el, self.looks[1]
        (x, y), (w, h) = el.pos, el.size
        if el.direction not in (DIR_UP, DIR_DOWN, DIR_LEFT, DIR_RIGHT):
            blend(canvas, look, None, origin)  # the plugin leaves the pressed look uncut
            return
        if el.direction in (DIR_UP, DIR_DOWN):
            n = int(np.float32(h) * np.float32(value))  # C++: (int)((float)cy * progress)
            if n <= 0:
                return
            lo, hi = (y + h - n, y + h) if el.direction == DIR_UP else (y, y + n)
            ph = look.rgba.shape[0]
            weight = _coverage(look.y, ph, lo * r.sy, hi * r.sy)[:, None, None]
        else:
            n = int(np.float32(w) * np.float32(value))
            if n <= 0:
                return
            lo, hi = (x + w - n, x + w) if el.direction == DIR_LEFT else (x, x + n)
            pw = look.rgba.shape[1]
            weight = _coverage(look.x, pw, lo * r.sx, hi * r.sx)[None, :, None]
        blend(canvas, look, weight, origin)


def resolve_filter(size: tuple[int, int], scale: float, filter: str = "auto") -> str:
    """The resampling "auto" stands for: area below 1, nearest for pixel art, else linear."""
    if filter not in FILTERS:
        raise ValueError(f"filter must be one of {', '.join(FILTERS)}, got {filter!r}")
    if filter != "auto":
        return filter
    if scale < 1:
        return "area"
    if scale > 1 and max(size) <= PIXEL_ART_MAX:
        return "nearest"
    return "linear"


class Renderer:
    """Draws states of one template at one output scale from precomputed patches.

    `scale` maps template pixels to output pixels; the output is
    (round(W * scale), round(H * scale)). `filter`: "area" (shrink), "linear" (enlarge),
    "nearest" (point sampling, for pixel art) or "auto" (area below 1, nearest for
    templates at most 64 px a side, else linear).
    """

    def __init__(self, template: Template, scale: float = 1.0, filter: str = "auto") -> None:
        if not scale > 0 or not math.isfinite(scale):
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        W, H = template.size
        filter = resolve_filter(template.size, scale, filter)
        self.template = template
        self.scale = float(scale)
        self.filter = filter
        self.width = max(1, round(W * scale))
        self.height = max(1, round(H * scale))
        self.sx, self.sy = self.width / W, self.height / H
        self._base: Renderer | None = None
        if filter == "nearest" and (self.width, self.height) != (W, H):
            # Point scaling: draw at scale 1, then enlarge (OBS renders such a source to
            # a texture at its own size first).
            self._base = template.renderer(1.0, "linear")
            return
        self._build()

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def _build(self) -> None:
        tpl = self.template
        atlas = tpl.atlas
        resample = "area" if self.filter == "area" else "linear"

        def cut(rect: tuple[int, int, int, int]) -> np.ndarray:
            return premultiply(atlas_cell(atlas, rect))

        def look(el: Element, prem: np.ndarray) -> Patch:
            return place(prem, el.pos, self.sx, self.sy, resample)

        # Static elements below every changing one are drawn once, into the background,
        # at template scale; the canvas is then resized once.
        elements = tpl.elements
        first = next((i for i, el in enumerate(elements) if not _is_static(el)), len(elements))
        W, H = tpl.size
        bg = np.zeros((H, W, 4), np.float32)
        for i, el in enumerate(elements[:first]):
            prem = cut(el.mapping)
            x, y = el.pos
            if i == 0 and float(x).is_integer() and float(y).is_integer():
                dst = bg[max(int(y), 0) :, max(int(x), 0) :]  # onto nothing: a copy
                src = prem[max(-int(y), 0) :, max(-int(x), 0) :]
                h, w = min(dst.shape[0], src.shape[0]), min(dst.shape[1], src.shape[1])
                dst[:h, :w] = src[:h, :w]
            else:
                blend(bg, place(prem, el.pos, 1.0, 1.0, "linear"))
        if (self.width, self.height) != (W, H):
            interp = cv2.INTER_AREA if self.filter == "area" else cv2.INTER_LINEAR
            bg = cv2.resize(bg, (self.width, self.height), interpolation=interp)

        slots: list[_Slot] = []
        for el in elements[first:]:
            if el.type == GAMEPAD_ID:  # the base mapping itself is never drawn
                player = cut(el.cell(GUIDE_PLAYER1_CELL))
                held = cut(el.cell(GUIDE_PRESSED_CELL))
                over(held, player)
                looks = [look(el, player), look(el, held)]
            elif el.type == DPAD:
                looks = [look(el, cut(el.mapping))] + [
                    look(el, cut(el.cell(k))) for k in range(1, 9)
                ]
            elif el.type in (STICK, TRIGGER) or el.button:
                looks = [look(el, cut(el.mapping)), look(el, cut(el.pressed))]
            else:
                looks = [look(el, cut(el.mapping))]
            slots.append(_Slot(el, looks, self.sx, self.sy))
        self.background = np.ascontiguousarray(bg, dtype=np.float32)
        self.slots = slots
        # Everything released, drawn once: a state redraws only what it changes.
        self.rest = self._compose(State(), (0, 0, self.width, self.height))

    # -- drawing --------------------------------------------------------------------------
    def premultiplied(
        self, state: State | None = None, region: tuple[int, int, int, int] | None = None
    ) -> np.ndarray:
        """(h, w, 4) float32 premultiplied RGBA of `state` (None: everything released).

        `region` (x, y, w, h) draws only that part of the output (clipped to it).
        """
        state = state or State()
        if self._base is not None:
            full = cv2.resize(
                self._base.premultiplied(state),
                (self.width, self.height),
                interpolation=cv2.INTER_NEAREST_EXACT,
            )
            if region is None:
                return full
            x, y, w, h = region
            return full[y : y + h, x : x + w].copy()
        if region is not None:
            return self._compose(state, region)
        canvas = self.rest.copy()
        for slot in self.slots:
            if slot.active(state):
                # Redraw, from the background up, the pixels this element can touch.
                x0, y0, x1, y1 = slot.reach
                x0, y0 = max(x0, 0), max(y0, 0)
                x1, y1 = min(x1, self.width), min(y1, self.height)
                if x0 < x1 and y0 < y1:
                    canvas[y0:y1, x0:x1] = self._compose(state, (x0, y0, x1 - x0, y1 - y0))
        return canvas

    def _compose(self, state: State, region: tuple[int, int, int, int]) -> np.ndarray:
        """Draw `state` within one region of the output, from the background up."""
        x, y, w, h = region
        canvas = self.background[y : y + h, x : x + w].copy()
        for slot in self.slots:
            rx0, ry0, rx1, ry1 = slot.reach
            if rx0 < x + w and x < rx1 and ry0 < y + h and y < ry1:
                slot.draw(canvas, state, self, (x, y))
        return canvas

    def render(self, state: State | None = None) -> np.ndarray:
        """(h, w, 4) uint8 straight RGBA of `state`."""
        if self._base is not None:  # point scaling commutes with (un)premultiplying
            return cv2.resize(
                self._base.render(state),
                (self.width, self.height),
                interpolation=cv2.INTER_NEAREST_EXACT,
            )
        return unpremultiply(self.premultiplied(state))

    def draw(
        self,
        canvas: np.ndarray,
        state: State | None,
        x: int,
        y: int,
        opacity: float = 1.0,
    ) -> np.ndarray:
        """Blend the overlay in `state` onto an RGB uint8 frame at (x, y), in place.

        Only frame pixels under overlay pixels with alpha > 0 change.
        """
        _check_frame(canvas)
        box = _clip(canvas.shape, (self.height, self.width), x, y)
        if box is None or opacity <= 0:
            return canvas
        if self._base is not None:  # point-scaled: enlarging uint8 is the cheap way
            return composite(canvas, self.render(state), x, y, opacity)
        prem = self.premultiplied(state)
        (cy0, cy1, cx0, cx1), (py0, py1, px0, px1) = box
        src = np.ascontiguousarray(prem[py0:py1, px0:px1])
        op = float(min(opacity, 1.0))
        a = src[..., 3] * np.float32(op)
        colour = cv2.cvtColor(src, cv2.COLOR_RGBA2RGB) * np.float32(255 * op)
        _blend_rgb(canvas[cy0:cy1, cx0:cx1], colour, a, a > 0)
        return canvas

    # -- what the parser compares crops with ---------------------------------------------
    def box(self, name: str) -> tuple[int, int, int, int]:
        """A shown element's box in output pixels (x, y, w, h), covering every output pixel
        its template box touches."""
        return self.out_box(self.template.boxes[name])

    def out_box(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A template-pixel box (x, y, w, h) as the output pixels it touches."""
        x, y, w, h = box
        x0, y0 = math.floor(x * self.sx), math.floor(y * self.sy)
        x1 = min(self.width, math.ceil((x + w) * self.sx))
        y1 = min(self.height, math.ceil((y + h) * self.sy))
        return (x0, y0, x1 - x0, y1 - y0)

    def look(self, name: str, pressed: bool = False) -> np.ndarray:
        """uint8 RGBA crop of `name`'s box with everything else released: `name` released,
        or pressed (triggers full, sticks clicked at rest)."""
        x, y, w, h = self.box(name)
        img = self.render(press_state(name) if pressed else State())
        return img[y : y + h, x : x + w].copy()


def press_state(name: str) -> State:
    """The state that presses one contract element: a button, a full trigger, or a stick
    clicked at rest."""
    if name in ("left_trigger", "right_trigger"):
        triggers = (1.0, 0.0) if name == "left_trigger" else (0.0, 1.0)
        return State(triggers=triggers)  # type: ignore[arg-type]
    if name in ("j_left", "j_right"):
        name = "left_thumb" if name == "j_left" else "right_thumb"
    return State(pressed=frozenset([name]))
