"""Find templates: the built-in skins plus input-overlay presets under --templates folders.

A preset folder is any folder holding at least one layout JSON and one PNG. Every
(layout, texture) pair in it is a template, unless the layout reads atlas cells outside
that texture. Ids: `<folder>/<texture-stem>`, or `<folder>/<texture-stem>@<layout-stem>`
when the folder holds several layouts, with spaces replaced by `_`. The layout name is
`<folder>@<layout-stem>`, shared by the colour variants of one layout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from nitrogen_cli.overlays.image import ImageError
from nitrogen_cli.overlays.layout import is_layout
from nitrogen_cli.overlays.template import Template, TemplateError

Skipped = Callable[[str, str], None]  # (path or id, why)


class TemplateNotFound(KeyError):
    """No template has the asked id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "template not found"


def _ignore(_: str, __: str) -> None:
    pass


def _clean(name: str) -> str:
    return name.replace(" ", "_")


def preset_folders(root: str | Path) -> Iterator[Path]:
    """Folders under `root` (itself included) holding a JSON and a PNG, sorted. Linked
    folders are followed (a folder of links to the presets one uses), each real folder
    once."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back up the tree, or a second link to one folder
            dirs.clear()
            continue
        seen.add(real)
        dirs.sort()
        lower = [f.lower() for f in files]
        if any(f.endswith(".json") for f in lower) and any(f.endswith(".png") for f in lower):
            yield Path(folder)


def _layouts(folder: Path, skipped: Skipped) -> list[tuple[Path, str]]:
    """(path, text) of each input-overlay layout JSON in a folder, sorted by name."""
    out = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() != ".json" or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8-sig")
            data = json.loads(text)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            skipped(str(path), f"not a readable JSON file ({type(exc).__name__})")
            continue
        if is_layout(data):
            out.append((path, text))
    return out


def load_folder(folder: str | Path, skipped: Skipped = _ignore) -> list[Template]:
    """Every template of one preset folder (not searched recursively)."""
    folder = Path(folder)
    layouts = _layouts(folder, skipped)
    textures = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())
    name = folder.resolve().name
    out = []
    for tex in textures:
        try:
            png = tex.read_bytes()
        except OSError as exc:
            skipped(str(tex), f"unreadable ({exc.strerror})")
            continue
        for path, text in layouts:
            tid = f"{name}/{tex.stem}" + (f"@{path.stem}" if len(layouts) > 1 else "")
            try:
                out.append(
                    Template(
                        _clean(tid),
                        text,
                        png,
                        layout=_clean(f"{name}@{path.stem}"),
                        source=f"{path}|{tex}",
                    )
                )
            except (TemplateError, ImageError) as exc:
                skipped(f"{path.name} + {tex.name}", str(exc))
    return out


def load_dirs(dirs: Iterable[str | Path], skipped: Skipped = _ignore) -> list[Template]:
    """Templates of every preset folder under each of `dirs`, in order; the first of two
    templates with one id wins (the other is reported through `skipped`)."""
    seen_folders: set[Path] = set()
    out: list[Template] = []
    for d in dirs:
        for folder in preset_folders(d):
            real = folder.resolve()
            if real in seen_folders:
                continue
            seen_folders.add(real)
            out.extend(load_folder(folder, skipped))
    return _unique(out, skipped)


def _unique(templates: list[Template], skipped: Skipped) -> list[Template]:
    ids: dict[str, Template] = {}
    for t in templates:
        if t.id in ids:
            skipped(t.source or t.id, f"id {t.id} is already taken by {ids[t.id].source}")
        else:
            ids[t.id] = t
    return list(ids.values())


def load_templates(
    dirs: Iterable[str | Path] = (), builtin: bool = True, skipped: Skipped = _ignore
) -> list[Template]:
    """The built-in skins (unless `builtin` is False) followed by the presets under `dirs`."""
    out: list[Template] = []
    if builtin:
        from nitrogen_cli.overlays.skins import builtin_templates

        out.extend(builtin_templates())
    out.extend(load_dirs(dirs, skipped))
    return _unique(out, skipped)


def get_template(
    id: str, dirs: Iterable[str | Path] = (), builtin: bool = True, skipped: Skipped = _ignore
) -> Template:
    """The template with this id; TemplateNotFound (a KeyError) names near misses."""
    if builtin and id.startswith("builtin/"):
        from nitrogen_cli.overlays.skins import builtin_template

        t = builtin_template(id)
        if t is not None:
            return t
    templates = load_templates(dirs, builtin, skipped)
    for t in templates:
        if t.id == id:
            return t
    import difflib

    near = difflib.get_close_matches(id, [t.id for t in templates], n=3)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    where = "" if templates else " (no templates loaded)"
    raise TemplateNotFound(f"no template {id!r}{where}{hint}")
