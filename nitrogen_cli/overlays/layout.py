"""The input-overlay layout format: parse a layout JSON into elements, and say which atlas
cells each element reads and which contract elements light it.

The facts follow the plugin's element classes (see ../shared/overlays/README.md): a
pressed look is the mapping moved down by h + 3; d-pad and gamepad-id cells step right by
w + 3; sticks move by axis * stick_radius; triggers fill by direction. Real files carry
quirks that are smoothed here: z_level as a string, missing or zero default sizes,
keyboard-style codes on gamepad buttons.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Element types of the format.
TEXTURE, KEY, PAD_BUTTON, MOUSE_BUTTON, WHEEL, STICK, TRIGGER, GAMEPAD_ID, DPAD, MOUSE_MOVE = range(
    10
)
INNER_BORDER = 3  # pixels between atlas cells of one element
ATLAS_SLACK = 2  # pixels a rest look may run past its texture (`Layout.check_atlas`)

# SDL gamepad button codes that a state in the action contract can light.
SDL_BUTTONS: dict[int, str] = {
    0: "south",
    1: "east",
    2: "west",
    3: "north",
    4: "back",
    5: "guide",
    6: "start",
    7: "left_thumb",
    8: "right_thumb",
    9: "left_shoulder",
    10: "right_shoulder",
    11: "dpad_up",
    12: "dpad_down",
    13: "dpad_left",
    14: "dpad_right",
}
SDL_CODE: dict[str, int] = {name: code for code, name in SDL_BUTTONS.items()}
SIDES = ("left", "right")
# Trigger fill directions.
DIR_UP, DIR_DOWN, DIR_LEFT, DIR_RIGHT = 1, 2, 3, 4
DPAD_NAMES = ("dpad_up", "dpad_down", "dpad_left", "dpad_right")
# D-pad cells after the centred one, in atlas order.
DPAD_CELLS = ("left", "right", "up", "down", "up_left", "up_right", "down_left", "down_right")
GUIDE_PLAYER1_CELL = 1  # type 7: the texture drawn for the first player
GUIDE_PRESSED_CELL = 4  # type 7: drawn beneath it while guide is held

Rect = tuple[int, int, int, int]  # x, y, w, h


class LayoutError(ValueError):
    """A layout JSON that cannot be drawn."""


def _int(value: Any, default: int = 0) -> int:
    """Numbers and numeric strings alike (z_level is "1" in some real files)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return default
    return default


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True)
class Element:
    """One drawn element of a layout, with the plugin's reading of its fields."""

    index: int  # position in the file: ties in z_level keep file order
    type: int
    name: str  # the layout's own "id" string
    pos: tuple[float, float]
    mapping: Rect
    z: int = 0
    code: int = -1
    side: int = 0
    radius: int = 0
    direction: int = 0
    trigger_mode: bool = False

    @property
    def size(self) -> tuple[int, int]:
        return self.mapping[2], self.mapping[3]

    def cell(self, k: int) -> Rect:
        """The k-th cell to the right of the mapping (d-pad directions, gamepad ids)."""
        x, y, w, h = self.mapping
        return (x + k * (w + INNER_BORDER), y, w, h)

    @property
    def pressed(self) -> Rect:
        x, y, w, h = self.mapping
        return (x, y + h + INNER_BORDER, w, h)

    @property
    def button(self) -> str | None:
        """The contract button that lights a gamepad button; None for foreign codes."""
        return SDL_BUTTONS.get(self.code) if self.type == PAD_BUTTON else None

    @property
    def fills(self) -> bool:
        """A trigger drawn as a partial fill (not `trigger_mode`)."""
        return self.type == TRIGGER and not self.trigger_mode

    def rest_rect(self) -> Rect:
        """The atlas rectangle drawn for this element at rest."""
        return self.cell(GUIDE_PLAYER1_CELL) if self.type == GAMEPAD_ID else self.mapping

    def responds_to(self) -> tuple[str, ...]:
        """The contract elements whose state can change how this element is drawn."""
        if self.type == PAD_BUTTON:
            return (self.button,) if self.button else ()
        if self.type == STICK:  # the plugin reads any side but 0 as the right stick
            side = "left" if self.side == 0 else "right"
            return (f"j_{side}", f"{side}_thumb")
        if self.type == TRIGGER and self.side in (0, 1):  # other sides never move
            return (f"{SIDES[self.side]}_trigger",)
        if self.type == GAMEPAD_ID:
            return ("guide",)
        if self.type == DPAD:
            return DPAD_NAMES
        return ()

    def reach(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) in overlay pixels that any state can draw this element into."""
        x, y = self.pos
        w, h = self.size
        r = abs(self.radius) if self.type == STICK else 0
        return (x - r, y - r, x + w + r, y + h + r)


def parse_element(index: int, obj: Mapping[str, Any]) -> Element | None:
    """One element; None for one the plugin would not draw (unknown type, empty mapping)."""
    etype = _int(obj.get("type"), -1)
    if not 0 <= etype <= 9:
        return None
    mapping = obj.get("mapping") or [0, 0, 0, 0]
    pos = obj.get("pos") or [0, 0]
    try:
        rect = tuple(_int(v) for v in list(mapping)[:4])
        px, py = list(pos)[:2]
        xy = (_float(px), _float(py))
    except (TypeError, IndexError, ValueError):
        raise LayoutError(f"element {index}: bad pos or mapping") from None
    if len(rect) != 4:
        raise LayoutError(f"element {index}: mapping needs [x, y, w, h]")
    if rect[2] <= 0 or rect[3] <= 0:
        return None
    trigger_mode = obj.get("trigger_mode") is True  # Qt's toBool: only a JSON true counts
    return Element(
        index=index,
        type=etype,
        name=str(obj.get("id", "")),
        pos=xy,
        mapping=rect,  # type: ignore[arg-type]
        z=_int(obj.get("z_level")),
        code=_int(obj.get("code"), -1),
        side=_int(obj.get("side")),  # missing reads as 0 (left), as in the plugin
        radius=_int(obj.get("stick_radius")),
        direction=0 if trigger_mode else _int(obj.get("direction")),
        trigger_mode=trigger_mode,
    )


@dataclass(frozen=True)
class Layout:
    """A parsed layout: the overlay's size and its elements in drawing order."""

    width: int
    height: int
    elements: tuple[Element, ...]

    def check_atlas(self, atlas_w: int, atlas_h: int) -> str | None:
        """Why this layout is not meant for an atlas of that size, or None if it is.

        Only the looks drawn at rest must lie inside, give or take ATLAS_SLACK pixels: the
        plugin samples the texture clamped to its edge, so a cell that runs past it still
        draws (switch-pro-controller's body runs 1 px past its texture; gamecube's d-pad
        diagonals lie wholly beyond it), and the renderer does the same
        (`render.atlas_cell`).
        A rest look far outside says the layout was made for another texture of its
        folder (inphic's mouse layouts)."""
        s = ATLAS_SLACK
        for el in self.elements:
            x, y, w, h = el.rest_rect()
            if x < -s or y < -s or x + w > atlas_w + s or y + h > atlas_h + s:
                return (
                    f"element {el.name or el.index!r} reads atlas cell {[x, y, w, h]} "
                    f"outside the {atlas_w}x{atlas_h} texture"
                )
        return None


def parse_layout(text: str | bytes | Mapping[str, Any]) -> Layout:
    """A layout JSON (text or already decoded) -> Layout, elements sorted by z_level."""
    if isinstance(text, Mapping):
        data: Any = text
    else:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise LayoutError(f"not JSON: {exc}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("elements"), list):
        raise LayoutError("not an input-overlay layout (no elements list)")
    elements = []
    for i, obj in enumerate(data["elements"]):
        if not isinstance(obj, Mapping):
            raise LayoutError(f"element {i} is not an object")
        el = parse_element(i, obj)
        if el is not None:
            elements.append(el)
    if not elements:
        raise LayoutError("layout has no drawable elements")
    # Lowest z_level first; equal levels keep file order (the plugin's own order).
    elements.sort(key=lambda e: (e.z, e.index))
    width, height = _int(data.get("overlay_width")), _int(data.get("overlay_height"))
    if width <= 0 or height <= 0:  # fall back to what the elements cover
        x1 = max(e.pos[0] + e.size[0] for e in elements)
        y1 = max(e.pos[1] + e.size[1] for e in elements)
        width = width if width > 0 else max(1, round(x1))
        height = height if height > 0 else max(1, round(y1))
    return Layout(width, height, tuple(elements))


def is_layout(data: Any) -> bool:
    """True for a decoded JSON that looks like an input-overlay layout."""
    return isinstance(data, Mapping) and isinstance(data.get("elements"), list)
