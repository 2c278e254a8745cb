"""Input overlays: load input-overlay presets and built-in skins, draw gamepad states.

A *template* is one input-overlay layout (JSON) paired with one texture atlas (PNG):
a real preset found under `--templates DIR`, or one of the built-in procedural skins.
It draws any `actions.State` exactly as the OBS input-overlay plugin does (see
../shared/overlays/README.md), and knows which contract elements it shows and where.

    from nitrogen_cli import overlays
    from nitrogen_cli.actions import State

    templates = overlays.load_templates(dirs=["presets/"], builtin=True)
    t = overlays.get_template("builtin/xbox-white")
    t.id, t.layout, t.size            # "builtin/xbox-white", "builtin/xbox", (480, 300)
    t.shows                           # ("back", "dpad_down", ..., "j_left", "j_right")
    t.boxes["south"]                  # (x, y, w, h) in template pixels
    t.stick("j_left")                 # StickGeometry(center=(x, y), radius)
    t.look("south", pressed=True)     # RGBA crop of the box, that element pressed
    rgba = overlays.render(t, State.from_mapping({"south": True, "right_trigger": 0.6}))

    r = overlays.Renderer(t, scale=0.6)   # precomputed: well under 2 ms a state
    r.size, r.box("south")                # output pixels
    r.render(state)                       # (h, w, 4) uint8 RGBA, straight alpha
    r.premultiplied(state)                # (h, w, 4) float32, premultiplied
    r.draw(frame, state, x, y, opacity)   # blend onto an RGB uint8 frame in place
    r.look("south", pressed=True)         # the crop a parser compares with
    overlays.composite(frame, rgba, x, y, opacity)

    t2 = overlays.Template.from_bytes(t.layout_json, t.atlas_png, id=t.id, layout=t.layout)

Ids and names:
  - presets: `<folder>/<texture-stem>`, or `<folder>/<texture-stem>@<layout-stem>` when the
    folder holds several layouts, spaces replaced by `_`; layout `<folder>@<layout-stem>`.
  - built-ins: `builtin/<family>-<variant>`; layout `builtin/<family>`. Colour variants of
    one layout share its layout name.

Boxes: a shown element's box is the union of the rectangles its layout elements can be
drawn in (a stick's whole travel area, a d-pad button the d-pad's box, a trigger its
rectangle), clipped to the canvas; a press changes pixels only inside it.

Images are RGB(A) in that channel order, uint8, straight alpha unless said otherwise.
Scaling: `scale` maps template pixels to output pixels, the output size is
round(size * scale); "area" shrinks, "linear" enlarges, "nearest" point-scales pixel-art
presets (chosen by "auto" for templates at most 64 px a side).
"""

from __future__ import annotations

import numpy as np

from nitrogen_cli.actions import State
from nitrogen_cli.overlays.image import ImageError, decode_png, encode_png, read_png, write_png
from nitrogen_cli.overlays.layout import SDL_BUTTONS, Element, Layout, LayoutError, parse_layout
from nitrogen_cli.overlays.library import (
    TemplateNotFound,
    get_template,
    load_dirs,
    load_folder,
    load_templates,
    preset_folders,
)
from nitrogen_cli.overlays.render import (
    FILTERS,
    Renderer,
    composite,
    premultiply,
    press_state,
    resize_rgba,
    unpremultiply,
)
from nitrogen_cli.overlays.skins import builtin_template, builtin_templates, skin_ids
from nitrogen_cli.overlays.template import StickGeometry, Template, TemplateError


def render(template: Template, state: State | None = None, scale: float = 1.0) -> np.ndarray:
    """(h, w, 4) uint8 RGBA of `state` drawn by `template` (None: everything released)."""
    return template.render(state, scale)


__all__ = [
    "FILTERS",
    "SDL_BUTTONS",
    "Element",
    "ImageError",
    "Layout",
    "LayoutError",
    "Renderer",
    "StickGeometry",
    "Template",
    "TemplateError",
    "TemplateNotFound",
    "builtin_template",
    "builtin_templates",
    "composite",
    "decode_png",
    "encode_png",
    "get_template",
    "load_dirs",
    "load_folder",
    "load_templates",
    "parse_layout",
    "premultiply",
    "preset_folders",
    "press_state",
    "read_png",
    "render",
    "resize_rgba",
    "skin_ids",
    "unpremultiply",
    "write_png",
]
