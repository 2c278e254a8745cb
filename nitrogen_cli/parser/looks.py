"""What the parser compares a template's crops with: its own looks, rendered from the atlas.

For one template at one working scale, `Looks` holds, in canvas pixels:
  - a slot per element the parser reads: buttons (every shown button but the stick clicks
    whose stick is shown) and sticks (with their click, when shown);
  - each button's released and pressed look over its box, resized to S x S;
  - each stick's look at every cell of a G x G grid over its travel, released and
    clicked, resized to Ss x Ss (the candidates a frame is correlated with) and to S x S
    (what the click is judged against);
  - the whole overlay at rest, and the pixels no state ever changes.
Looks are premultiplied RGBA float32 in [0, 1]. Because the looks come from the template
itself, the network that compares them with a crop never has to know the skin.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from nitrogen_cli.actions import BUTTONS, STICKS, TRIGGERS, State
from nitrogen_cli.overlays import Renderer, Template, press_state

THUMB_OF = {"j_left": "left_thumb", "j_right": "right_thumb"}
FILL_LEVELS = (0.25, 0.5, 0.75)  # trigger values whose part-filled looks are compared too
FILL_PIXELS = 32  # ... where they change at least this many canvas pixels
# a press of another button that changes at least this share of the pixels a button's own
# press changes, in a box that differs from its own (XBox-KBA lights its d-pad's centre
# square for every arm: half of each arm's press)
SHARED_PRESS = 0.3


def fit(img: np.ndarray, size: int) -> np.ndarray:
    """Resize an image (h, w, c) to (size, size): area averaging along an axis that
    shrinks, linear along one that grows. Crops and looks go through this same function."""
    h, w = img.shape[:2]
    if h == size and w == size:
        return img
    if w >= size and h >= size:
        return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    if w <= size and h <= size:
        return cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
    if w > size:  # shrink x, grow y
        img = cv2.resize(img, (size, h), interpolation=cv2.INTER_AREA)
    else:
        img = cv2.resize(img, (w, size), interpolation=cv2.INTER_AREA)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)


def fit_many(img: np.ndarray, boxes: list[tuple[int, int, int, int]], size: int) -> np.ndarray:
    """(n, size, size, c) crops of `img` at `boxes`, each resized by `fit`; float32 in
    [0, 1] (a uint8 image is resized as uint8, then scaled)."""
    c = img.shape[2]
    out = np.empty((len(boxes), size, size, c), img.dtype)
    for i, (x, y, w, h) in enumerate(boxes):
        out[i] = fit(img[y : y + h, x : x + w], size).reshape(size, size, c)
    if img.dtype == np.uint8:
        return out.astype(np.float32) * np.float32(1 / 255)
    return out.astype(np.float32, copy=False)


@dataclass
class Slot:
    name: str  # a contract element: a button, or j_left / j_right
    kind: str  # "button" or "stick"
    box: tuple[int, int, int, int]  # x, y, w, h in canvas pixels
    thumb: str | None = None  # a stick's click, when the template shows it


@dataclass
class Looks:
    """A template's looks at one working scale (see the module docstring)."""

    template_id: str
    scale: float
    canvas: tuple[int, int]  # (width, height)
    size: int  # S: button crops
    stick_size: int  # Ss: stick crops
    grid: int  # G
    buttons: list[Slot]
    sticks: list[Slot]
    button_looks: np.ndarray  # (nb, 2, S, S, 4): released, pressed
    stick_looks: np.ndarray  # (ns, 2, G, G, Ss, Ss, 4): released, clicked; [gy, gx]
    thumb_looks: np.ndarray  # (ns, 2, G, G, S, S, 4)
    rest: np.ndarray  # (h, w, 4) the whole overlay at rest
    static: np.ndarray  # (h, w) bool: pixels outside every slot's box
    radius: dict[str, float] = field(default_factory=dict)  # stick travel in canvas px
    pressed: list[np.ndarray] = field(default_factory=list)  # per button, (h, w, 4) at its box
    # a trigger drawn as a partial fill: its pressed look at lower fills, (slot, (S, S, 4))
    fills: list[tuple[int, np.ndarray]] = field(default_factory=list)
    partial: tuple[int, ...] = ()  # button slots of triggers drawn part-filled
    fill_regions: list[tuple[int, np.ndarray]] = field(default_factory=list)  # fills, (h, w, 4)
    # another button's press as it shows in a button's box, where it lights part of what
    # that button's own press does (SHARED_PRESS): (slot, (S, S, 4))
    neighbours: list[tuple[int, np.ndarray]] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.buttons] + [s.name for s in self.sticks]

    @property
    def button_boxes(self) -> list[tuple[int, int, int, int]]:
        return [s.box for s in self.buttons]

    @property
    def stick_boxes(self) -> list[tuple[int, int, int, int]]:
        return [s.box for s in self.sticks]

    @property
    def crop_groups(self) -> list[tuple[list[tuple[int, int, int, int]], int]]:
        """The boxes cropped and the size each is resized to: buttons, sticks, clicks."""
        return [
            (self.button_boxes, self.size),
            (self.stick_boxes, self.stick_size),
            (self.stick_boxes, self.size),
        ]

    def crops(self, canvas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One canvas (h, w, 3) -> (button crops (nb, S, S, 3), stick crops (ns, Ss, Ss, 3),
        click crops (ns, S, S, 3)), by area resizing (`fit`); geometry.CropReader gives
        the same straight from video crops."""
        b, s, t = (fit_many(canvas, boxes, size) for boxes, size in self.crop_groups)
        return b, s, t


def level_only(bg: np.ndarray) -> np.ndarray:
    """Backgrounds (n, h, w, 3) under stick crops with the level of each kept and its
    texture dropped. What a calibration saw under a stick's travel area is the game of
    that time; the game moves on, and a fixed pattern in every candidate that the crops
    no longer show skews the correlation towards the candidates it weighs least against
    (nes-pixel's stick at opacity 0.45 over Doom, corpus c24-0013: full pushes read as
    half). Extraction and the parser's training data build their stick banks alike."""
    bg = np.asarray(bg, np.float32)
    return np.ascontiguousarray(np.broadcast_to(bg.mean(axis=(1, 2), keepdims=True), bg.shape))


def grid_axis(grid: int) -> np.ndarray:
    """The stick deflections of the grid's cells along one axis, -1 to 1."""
    return np.linspace(-1.0, 1.0, grid, dtype=np.float32)


def build_looks(
    template: Template,
    scale: float,
    size: int = 16,
    stick_size: int = 32,
    grid: int = 15,
    renderer: Renderer | None = None,
    also: Sequence[Template] = (),
) -> Looks:
    """Render every look the parser needs for `template` at canvas `scale`. A button's
    box also covers where templates `also` (twin layouts over the same canvas) draw it,
    so that their looks of it are cut from one box and can be compared."""
    r = renderer or template.renderer(scale)
    twins = [t.renderer(scale) for t in also if t is not template]
    twins = [t for t in twins if (t.width, t.height) == (r.width, r.height)]
    shows = set(template.shows)
    sticks = [n for n in STICKS if n in shows]
    # a click drawn apart from its stick (a label) is read as a button, at the label
    apart = {THUMB_OF[n]: b for n in sticks if (b := template.click_apart(n)) is not None}
    read_by_stick = {THUMB_OF[n] for n in sticks} - set(apart)
    buttons = [n for n in BUTTONS if n in shows and n not in read_by_stick]

    def box(name: str) -> tuple[int, int, int, int]:
        x, y, w, h = r.out_box(apart[name]) if name in apart else r.box(name)
        x1, y1 = x + max(1, w), y + max(1, h)
        if name not in apart:
            for t in twins:
                if name in t.template.boxes:
                    tx, ty, tw, th = t.box(name)
                    x, y = min(x, tx), min(y, ty)
                    x1, y1 = max(x1, tx + max(1, tw)), max(y1, ty + max(1, th))
        return (int(x), int(y), int(x1 - x), int(y1 - y))

    def region(state: State, b: tuple[int, int, int, int]) -> np.ndarray:
        return np.ascontiguousarray(r.premultiplied(state, b), dtype=np.float32)

    b_slots = [Slot(n, "button", box(n)) for n in buttons]
    s_slots = [
        Slot(n, "stick", box(n), THUMB_OF[n] if THUMB_OF[n] in read_by_stick & shows else None)
        for n in sticks
    ]
    rest_state = State()
    bl = np.zeros((len(b_slots), 2, size, size, 4), np.float32)
    pressed_looks = []
    for i, s in enumerate(b_slots):
        bl[i, 0] = fit(region(rest_state, s.box), size)
        pressed_looks.append(region(press_state(s.name), s.box))
        bl[i, 1] = fit(pressed_looks[-1], size)

    # A trigger pressed past the contract's 0.1 but not fully is drawn part-filled: from
    # the bottom up, a trigger at 0.9 lacks the top of its pressed look (f710's blue
    # rim), and one at 0.5 lacks half of it. Its crops are also compared with these.
    fills: list[tuple[int, np.ndarray]] = []
    fill_regions: list[tuple[int, np.ndarray]] = []
    partial: list[int] = []
    for i, s in enumerate(b_slots):
        if s.name not in TRIGGERS:
            continue
        seen = [bl[i, 0], bl[i, 1]]
        released = region(rest_state, s.box)
        for v in FILL_LEVELS:
            value = (v, 0.0) if s.name == TRIGGERS[0] else (0.0, v)
            img = region(State(triggers=value), s.box)
            if float(np.abs(img - pressed_looks[i]).max()) > 0.1 and i not in partial:
                partial.append(i)
            # one that changes a few pixels only (game-pad's 9 x 9 px trigger half
            # filled: 12) lets noise read as a press (corpus c24-0005: in every frame)
            if int((np.abs(img - released).max(axis=2) > 0.1).sum()) < FILL_PIXELS:
                continue
            look = fit(img, size)
            if min(float(np.abs(look - other).mean()) for other in seen) > 1 / 255:
                fills.append((i, look))
                fill_regions.append((i, img))
                seen.append(look)

    neighbours: list[tuple[int, np.ndarray]] = []
    for i, s in enumerate(b_slots):
        released = region(rest_state, s.box)
        own = np.abs(pressed_looks[i] - released).max(axis=2) > 0.1
        if not own.any():
            continue
        for k, other in enumerate(b_slots):
            if k == i or other.box == s.box:
                continue
            img = region(press_state(other.name), s.box)
            lit = np.abs(img - released).max(axis=2) > 0.1
            if (lit & own).sum() >= SHARED_PRESS * own.sum():
                neighbours.append((i, fit(img, size)))

    axis = grid_axis(grid)
    sl = np.zeros((len(s_slots), 2, grid, grid, stick_size, stick_size, 4), np.float32)
    tl = np.zeros((len(s_slots), 2, grid, grid, size, size, 4), np.float32)
    radius: dict[str, float] = {}
    for i, s in enumerate(s_slots):
        geo = template.stick(s.name)
        radius[s.name] = float(geo.radius * (r.sx + r.sy) / 2) if geo else 0.0
        thumb = THUMB_OF[s.name]
        for c, pressed in enumerate((frozenset(), frozenset([thumb]))):
            for gy, ay in enumerate(axis):
                for gx, ax in enumerate(axis):
                    st = State(pressed=pressed, **{s.name: (float(ax), float(ay))})
                    img = region(st, s.box)
                    sl[i, c, gy, gx] = fit(img, stick_size)
                    tl[i, c, gy, gx] = fit(img, size)

    rest = np.ascontiguousarray(r.premultiplied(rest_state), dtype=np.float32)
    static = np.ones(rest.shape[:2], bool)
    for s in b_slots + s_slots:
        x, y, w, h = s.box
        static[y : y + h, x : x + w] = False
    return Looks(
        template.id,
        float(scale),
        (r.width, r.height),
        size,
        stick_size,
        grid,
        b_slots,
        s_slots,
        bl,
        sl,
        tl,
        rest,
        static,
        radius,
        pressed_looks,
        fills,
        tuple(partial),
        fill_regions,
        neighbours,
    )


# -- comparing with looks ------------------------------------------------------------------
def expected(looks: np.ndarray, gain: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Premultiplied looks (..., 4) as the video would show them: (..., 3), drawn with the
    video's gain (opacity) over its mean background."""
    g = np.asarray(gain, np.float32)
    return looks[..., :3] * g + (1 - looks[..., 3:4] * g) * np.asarray(bg, np.float32)


HIGHPASS = 2.0  # sigma (stick-crop pixels) of the blur a stick's crops lose before matching


@functools.cache
def _blur_matrix(n: int, sigma: float) -> np.ndarray:
    """(n, n) B with line @ B = cv2.GaussianBlur of a line of n pixels (its borders too)."""
    out = np.empty((n, n), np.float32)
    for j in range(n):
        img = np.zeros((n, n), np.float32)
        img[:, j] = 1  # constant down the column: the vertical pass leaves it be
        out[j] = cv2.GaussianBlur(img, (0, 0), sigma)[0]
    return out


class StickBank:
    """A stick's candidates (drawn at every grid cell, released then clicked), ready to be
    correlated with crops of its travel area.

    The correlation is zero-normalised and weighted towards the pixels the stick can
    change (where the candidates differ): the body around the travel area says nothing
    about the stick's position, and where the overlay is translucent it only lets the
    game's own texture in.
    """

    def __init__(
        self,
        looks: Looks,
        i: int,
        gain: np.ndarray,
        bg: np.ndarray,
        floor: float = 0.1,
        highpass: float = HIGHPASS,
    ):
        e = expected(looks.stick_looks[i].astype(np.float32), gain, bg)
        Ss = looks.stick_size
        self._setup(e.reshape(-1, Ss, Ss, 3), looks.grid, floor, highpass)

    @classmethod
    def from_candidates(
        cls, cands: np.ndarray, grid: int, floor: float = 0.1, highpass: float = HIGHPASS
    ) -> StickBank:
        """A bank over any candidates (n, Ss, Ss, 3), as the video shows them (overlap.py
        adds pressed buttons under the stick)."""
        bank = cls.__new__(cls)
        bank._setup(cands, grid, floor, highpass)
        return bank

    def _setup(self, cands: np.ndarray, grid: int, floor: float, highpass: float) -> None:
        self.grid = grid
        self.highpass = highpass
        flat = self._filter(cands).reshape(len(cands), -1)
        w = flat.std(axis=0)
        w = w / max(float(w.max()), 1e-6)
        w = np.maximum(w, floor).astype(np.float32)
        self.w = w / w.sum()
        self.sw = np.sqrt(w).astype(np.float32)
        self.bank = self._normed(flat)

    def _normed(self, x: np.ndarray) -> np.ndarray:
        x = x - (x @ self.w)[:, None]
        x = x * self.sw
        n = np.linalg.norm(x, axis=1, keepdims=True)
        return np.ascontiguousarray(x / np.maximum(n, 1e-4), dtype=np.float32)

    def _filter(self, imgs: np.ndarray) -> np.ndarray:
        """Detail only (minus a blur): a smooth background behind a translucent overlay
        drops out, the stick's edges stay."""
        if self.highpass <= 0:
            return imgs
        imgs = np.asarray(imgs, dtype=np.float32)
        h = _blur_matrix(imgs.shape[1], self.highpass)
        w = _blur_matrix(imgs.shape[2], self.highpass)
        # cv2.GaussianBlur of every crop at once: rows, then columns, as matrix products
        x = imgs.transpose(0, 3, 1, 2)  # (n, c, rows, cols)
        blur = np.matmul(np.matmul(h.T, x), w)
        return imgs - blur.transpose(0, 2, 3, 1)

    def correlate(self, obs: np.ndarray) -> np.ndarray:
        """Crops (F, Ss, Ss, 3) -> correlations (F, n) with every candidate, in [-1, 1]."""
        x = self._normed(self._filter(obs.astype(np.float32)).reshape(len(obs), -1))
        return x @ self.bank.T

    def scores(self, obs: np.ndarray) -> np.ndarray:
        """Crops (F, Ss, Ss, 3) -> correlations (F, 2, G, G) in [-1, 1]."""
        return self.correlate(obs).reshape(len(obs), 2, self.grid, self.grid)


def nearest_cell(xy: np.ndarray, grid: int) -> np.ndarray:
    """(..., 2) stick axes -> (..., 2) int grid cell (gx, gy) nearest to them."""
    c = np.rint((np.asarray(xy, np.float32) + 1) * (grid - 1) / 2)
    return np.clip(c, 0, grid - 1).astype(np.int64)
