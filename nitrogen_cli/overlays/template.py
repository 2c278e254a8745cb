"""A template: one input-overlay layout paired with one texture atlas, under an id.

Built-in skins and real presets are both Templates, rebuilt alike from the two things a
file stores (the layout JSON text and the atlas PNG bytes). What a template shows and
where is computed by rendering it, once, and cached.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from nitrogen_cli.actions import ELEMENTS, STICKS, State
from nitrogen_cli.overlays.image import PNG_SIGNATURE, decode_png, encode_png
from nitrogen_cli.overlays.layout import STICK, Element, Layout, LayoutError, parse_layout
from nitrogen_cli.overlays.render import Renderer, press_state, resolve_filter

# A press "shows" when some pixel of the drawing moves by at least this much (of 255) in
# a premultiplied channel: an invisible re-encoding of a look does not count.
SHOW_THRESHOLD = 8 / 255
# Full deflections that test whether a stick is shown.
_DEFLECTIONS = ((1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0))
_RENDERER_CACHE = 8

Box = tuple[int, int, int, int]  # x, y, w, h in template pixels


def _apart(a: Box, b: Box) -> bool:
    """Two boxes share no pixel."""
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    return ax >= bx + bw or bx >= ax + aw or ay >= by + bh or by >= ay + ah


class TemplateError(ValueError):
    """A (layout, atlas) pair that cannot be drawn."""


@dataclass(frozen=True)
class StickGeometry:
    """Where a stick rests and how far it travels, in template pixels."""

    center: tuple[float, float]  # centre of the stick texture at rest
    radius: float  # stick_radius: offset at full deflection


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header, without decoding it."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise TemplateError("atlas is not a PNG file")
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


class Template:
    """One drawable overlay skin.

    id:      `<folder>/<texture-stem>[@<layout-stem>]` for presets, `builtin/<family>-<variant>`
    layout:  a name shared by every template drawn from the same layout (colour variants)
    size:    (overlay_width, overlay_height), the canvas a state is drawn on
    shows:   contract elements whose press or deflection visibly changes the drawing
    boxes:   each shown element's box (x, y, w, h) in template pixels
    """

    def __init__(
        self,
        id: str,
        layout_json: str,
        atlas_png: bytes | None = None,
        *,
        atlas: np.ndarray | None = None,
        layout: str | None = None,
        source: str = "",
    ) -> None:
        if atlas_png is None and atlas is None:
            raise TemplateError("a template needs an atlas (PNG bytes or an RGBA array)")
        self.id = id
        self.source = source
        self._layout_json = layout_json
        self._atlas_png = atlas_png
        self._atlas = None if atlas is None else np.ascontiguousarray(atlas, dtype=np.uint8)
        try:
            self.parsed: Layout = parse_layout(layout_json)
        except LayoutError as exc:
            raise TemplateError(f"layout: {exc}") from None
        if self._atlas is not None:
            if self._atlas.ndim != 3 or self._atlas.shape[2] != 4:
                raise TemplateError(f"atlas must be (H, W, 4) RGBA, got {self._atlas.shape}")
            aw, ah = self._atlas.shape[1], self._atlas.shape[0]
        else:
            aw, ah = png_size(atlas_png)  # type: ignore[arg-type]
        why = self.parsed.check_atlas(aw, ah)
        if why:
            raise TemplateError(why)
        self.layout = layout or default_layout_name(layout_json)
        self._renderers: OrderedDict[tuple[float, str], Renderer] = OrderedDict()

    @classmethod
    def from_bytes(
        cls,
        layout_json: str | bytes,
        atlas_png: bytes,
        id: str | None = None,
        layout: str | None = None,
    ) -> Template:
        """Rebuild a template from what a file stores: the layout JSON and the atlas PNG."""
        if isinstance(layout_json, bytes):
            layout_json = layout_json.decode("utf-8")
        layout = layout or default_layout_name(layout_json)
        return cls(id or layout, layout_json, bytes(atlas_png), layout=layout, source="bytes")

    def __repr__(self) -> str:
        return f"Template({self.id!r}, layout={self.layout!r}, size={self.size})"

    # -- the two stored things ------------------------------------------------------------
    @property
    def layout_json(self) -> str:
        return self._layout_json

    @property
    def atlas_png(self) -> bytes:
        if self._atlas_png is None:
            self._atlas_png = encode_png(self._atlas)  # type: ignore[arg-type]
        return self._atlas_png

    @property
    def atlas(self) -> np.ndarray:
        """(H, W, 4) uint8 straight RGBA texture atlas."""
        if self._atlas is None:
            self._atlas = decode_png(self._atlas_png)  # type: ignore[arg-type]
        return self._atlas

    @property
    def size(self) -> tuple[int, int]:
        return self.parsed.width, self.parsed.height

    @property
    def elements(self) -> tuple[Element, ...]:
        return self.parsed.elements

    # -- drawing --------------------------------------------------------------------------
    def renderer(self, scale: float = 1.0, filter: str = "auto") -> Renderer:
        """A Renderer at this scale, kept for reuse (the last few are cached)."""
        key = (float(scale), resolve_filter(self.size, scale, filter))
        r = self._renderers.get(key)
        if r is None:
            r = Renderer(self, scale, key[1])
            self._renderers[key] = r
            while len(self._renderers) > _RENDERER_CACHE:
                self._renderers.popitem(last=False)
        else:
            self._renderers.move_to_end(key)
        return r

    def render(self, state: State | None = None, scale: float = 1.0) -> np.ndarray:
        """uint8 RGBA of `state` (None: all released) at template scale or another."""
        return self.renderer(scale).render(state)

    # -- what it shows --------------------------------------------------------------------
    def responders(self, name: str) -> list[Element]:
        return [el for el in self.elements if name in el.responds_to()]

    def _reach(self, name: str, els: list[Element] | None = None) -> Box | None:
        """The box (clipped to the canvas) that any state of `name` (or of just `els`)
        can draw into."""
        els = self.responders(name) if els is None else els
        if not els:
            return None
        reach = [el.reach() for el in els]
        W, H = self.size
        x0 = max(0, math.floor(min(r[0] for r in reach)))
        y0 = max(0, math.floor(min(r[1] for r in reach)))
        x1 = min(W, math.ceil(max(r[2] for r in reach)))
        y1 = min(H, math.ceil(max(r[3] for r in reach)))
        if x0 >= x1 or y0 >= y1:
            return None
        return (x0, y0, x1 - x0, y1 - y0)

    @cached_property
    def _visibility(self) -> tuple[tuple[str, ...], dict[str, Box]]:
        # Not kept in the renderer cache: a full-size renderer of a 2048 px preset holds
        # ~100 MB, and listing templates needs only their boxes.
        exact = self._renderers.get((1.0, "linear")) or Renderer(self, 1.0, "linear")
        shows: list[str] = []
        boxes: dict[str, Box] = {}
        for name in ELEMENTS:
            box = self._reach(name)
            if box is None:
                continue
            if name in STICKS:
                states = [State(**{name: d}) for d in _DEFLECTIONS]  # type: ignore[arg-type]
            else:
                states = [press_state(name)]
            base = exact.premultiplied(State(), box)
            for s in states:
                img = exact.premultiplied(s, box)
                if float(np.abs(img - base).max()) >= SHOW_THRESHOLD:
                    shows.append(name)
                    boxes[name] = box
                    break
        return tuple(shows), boxes

    @property
    def shows(self) -> tuple[str, ...]:
        """Contract elements (actions.ELEMENTS order) a press or deflection visibly changes."""
        return self._visibility[0]

    @cached_property
    def alike(self) -> tuple[str, ...]:
        """Shown buttons whose press draws just what another shown button's press draws,
        so no reader can tell which was pressed (n64-pixel lights B and Y on one pixel
        with one look: read, every Y press was a false B). Their state is unknown."""
        exact = self._renderers.get((1.0, "linear")) or Renderer(self, 1.0, "linear")
        names = [n for n in self.shows if n not in STICKS]
        same: set[str] = set()
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                if _apart(self.boxes[a], self.boxes[b]):
                    continue  # a press changes a pixel inside its own box: apart, told apart
                (ax, ay, aw, ah), (bx, by, bw, bh) = self.boxes[a], self.boxes[b]
                x0, y0 = min(ax, bx), min(ay, by)
                box = (x0, y0, max(ax + aw, bx + bw) - x0, max(ay + ah, by + bh) - y0)
                ia = exact.premultiplied(press_state(a), box)
                ib = exact.premultiplied(press_state(b), box)
                if float(np.abs(ia - ib).max()) < SHOW_THRESHOLD:
                    same.update((a, b))
        return tuple(n for n in self.shows if n in same)

    @property
    def told_apart(self) -> tuple[str, ...]:
        """The shown elements a reader can give a state of their own (`shows` less
        `alike`): what an actions file marks as known."""
        return tuple(n for n in self.shows if n not in set(self.alike))

    @property
    def boxes(self) -> dict[str, Box]:
        """Each shown element's box (x, y, w, h) in template pixels: the rectangles its
        elements are drawn in (a stick's whole travel area; a d-pad button the d-pad's box;
        a trigger its rectangle), clipped to the canvas."""
        return self._visibility[1]

    def stick(self, name: str) -> StickGeometry | None:
        """Rest centre and travel radius of the stick drawn for j_left or j_right."""
        for el in self.responders(name):
            if el.type == STICK:
                (x, y), (w, h) = el.pos, el.size
                return StickGeometry((x + w / 2, y + h / 2), float(el.radius))
        return None

    def click_apart(self, stick: str) -> Box | None:
        """Where a stick's click (`left_thumb` for j_left) is drawn by an element of its own
        (a label such as "L3") apart from the stick's travel area, or None. The built-in
        minimal skins light such a label and barely change the stick: read at the stick,
        their clicks were noise (minimal-bare: no pixel changes by 0.1)."""
        click = "left_thumb" if stick == "j_left" else "right_thumb"
        own = [el for el in self.responders(click) if el.type != STICK]
        box, around = self._reach(click, own), self.boxes.get(stick)
        if box is None or around is None or click not in self.shows:
            return None
        return box if _apart(box, around) else None

    def look(self, name: str, pressed: bool = False, scale: float = 1.0) -> np.ndarray:
        """uint8 RGBA crop of a shown element's box, released or pressed (see Renderer.look)."""
        return self.renderer(scale).look(name, pressed)


def default_layout_name(layout_json: str) -> str:
    """A layout name for a layout that came without one: stable across colour variants."""
    digest = hashlib.sha1(layout_json.encode("utf-8")).hexdigest()[:12]
    return f"layout-{digest}"
