"""Every nitrogen HDF5 file kind: writing, reading, validation and provenance.

This is the only module that knows dataset and attribute names. A reader checks the
kind, the format version and the required datasets, and turns anything wrong into a
one-line FormatError, so that no stage ever shows a KeyError traceback for a bad file.
The layouts are documented in man/nitrogen-formats.5.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shlex
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from nitrogen_cli import __version__
from nitrogen_cli.actions import BUTTONS, N_BUTTONS, Actions
from nitrogen_cli.batch import NitrogenError, atomic_path, base_name


class FormatError(NitrogenError):
    """A file that is not what it should be: foreign, damaged, wrong kind or version."""


@dataclass(frozen=True)
class Kind:
    """What a file of one kind must hold for a reader to trust it."""

    name: str
    version: int
    datasets: tuple[str, ...] = ()  # required datasets (paths from the root)
    groups: tuple[str, ...] = ()  # required groups
    attrs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # group -> attrs
    about: str = ""


ACTION_DATASETS = (
    "actions/buttons",
    "actions/j_left",
    "actions/j_right",
    "actions/frame_index",
)
OVERLAY_ATTRS = ("found",)

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "overlay",
            1,
            groups=("overlay",),
            attrs={
                "overlay": (
                    "found",
                    "video",
                    "fps",
                    "frame_count",
                    "width",
                    "height",
                )
            },
            about="where the input overlay sits in a video, and which template it is",
        ),
        Kind(
            "actions",
            1,
            datasets=(*ACTION_DATASETS, "actions/confidence"),
            groups=("overlay",),
            about="per-frame gamepad actions read off the overlay",
        ),
        Kind(
            "truth",
            1,
            datasets=ACTION_DATASETS,
            groups=("overlay",),
            attrs={"overlay": ("found",)},
            about="a corpus video's true per-frame actions and render parameters",
        ),
        Kind(
            "filtered",
            1,
            datasets=(*ACTION_DATASETS, "segments"),
            about="the segments of a video kept for training, and why",
        ),
        Kind(
            "dataset",
            1,
            datasets=(*ACTION_DATASETS, "frames", "segment_id"),
            groups=("meta",),
            attrs={"meta": ("fps",)},
            about="training-ready frames, masked and resized, with their actions",
        ),
    )
}


def register_kind(kind: Kind) -> None:
    """Later stages (rollout, eval) add their kinds here, still owned by this module."""
    KINDS[kind.name] = kind


# -- provenance -----------------------------------------------------------------------
def content_hash(path: str | Path) -> str:
    """sha256 of the whole file: lets a later stage notice a changed or swapped input."""
    with open(path, "rb") as fh:
        return "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()


def describe_input(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    return {"path": str(p.resolve()), "size": p.stat().st_size, "hash": content_hash(p)}


def command_line() -> str:
    argv = [Path(sys.argv[0]).name if sys.argv else "nitrogen", *sys.argv[1:]]
    return shlex.join(argv)


@contextlib.contextmanager
def create(
    path: str | Path,
    kind: str,
    inputs: Sequence[str | Path] = (),
    input_records: Sequence[Mapping[str, Any]] | None = None,
    command: str | None = None,
) -> Iterator[h5py.File]:
    """Open a new file of `kind` for writing under a temporary name.

    The file appears under `path` only when the block finishes: a killed writer leaves
    nothing under the final name. Root attributes (kind, version, provenance) are set here.
    """
    spec = _spec(kind)
    records = list(input_records or []) + [describe_input(p) for p in inputs]
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            f.attrs["nitrogen_kind"] = spec.name
            f.attrs["nitrogen_format_version"] = spec.version
            f.attrs["nitrogen_tool_version"] = __version__
            f.attrs["nitrogen_command"] = command if command is not None else command_line()
            f.attrs["nitrogen_inputs"] = json.dumps(records)
            yield f
        # Re-open to prove the file is whole before it takes the final name.
        check(tmp, kind, label=str(path))


def _spec(kind: str) -> Kind:
    try:
        return KINDS[kind]
    except KeyError:
        raise FormatError(f"unknown file kind {kind!r}") from None


# -- reading and validation -------------------------------------------------------------
def _open_h5(path: str | Path) -> h5py.File:
    p = Path(path)
    if not p.exists():
        raise FormatError("no such file")
    if p.is_dir():
        raise FormatError("is a directory, not a nitrogen file")
    if p.stat().st_size == 0:
        raise FormatError("empty file (0 bytes)")
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        text = str(exc)
        if "truncated" in text:
            raise FormatError("truncated HDF5 file (was its writer killed?)") from None
        if "signature" in text or "not an hdf5" in text.lower():
            raise FormatError("not an HDF5 file") from None
        raise FormatError(f"unreadable HDF5 file ({' '.join(text.split())})") from None


def peek_kind(path: str | Path) -> str | None:
    """The file's kind, or None for anything that is not a readable nitrogen file."""
    try:
        with _open_h5(path) as f:
            kind = f.attrs.get("nitrogen_kind")
            return _text(kind) if kind is not None else None
    except FormatError:
        return None


def is_complete(path: str | Path, kind: str) -> bool:
    """True when `path` is a whole, valid file of `kind`: safe to reuse on a rerun."""
    try:
        check(path, kind)
    except FormatError:
        return False
    return True


def check(
    path: str | Path, kind: str | Iterable[str] | None = None, label: str | None = None
) -> str:
    """Validate `path`; return its kind. Raises FormatError with a one-line reason."""
    with open_file(path, kind, label=label) as f:
        return _text(f.attrs["nitrogen_kind"])


def open_file(
    path: str | Path, kind: str | Iterable[str] | None = None, label: str | None = None
) -> h5py.File:
    """Open a nitrogen file read-only after checking kind, version and required content."""
    f = _open_h5(path)
    try:
        _validate(f, kind)
    except FormatError:
        f.close()
        raise
    except Exception as exc:  # a damaged file can fail in odd places; say so on one line
        f.close()
        raise FormatError(f"damaged file ({type(exc).__name__}: {exc})") from None
    return f


def _validate(f: h5py.File, kind: str | Iterable[str] | None) -> None:
    raw = f.attrs.get("nitrogen_kind")
    if raw is None:
        raise FormatError("not a nitrogen file (no nitrogen_kind attribute)")
    found = _text(raw)
    wanted = [kind] if isinstance(kind, str) else list(kind) if kind is not None else None
    if wanted is not None and found not in wanted:
        raise FormatError(f"is a {found} file, expected {' or '.join(wanted)}")
    spec = KINDS.get(found)
    if spec is None:
        raise FormatError(f"unknown file kind {found!r} (newer nitrogen?)")
    version = int(f.attrs.get("nitrogen_format_version", -1))
    if version > spec.version:
        raise FormatError(
            f"{found} format version {version} is newer than this nitrogen reads "
            f"({spec.version}); upgrade nitrogen"
        )
    if version < 1:
        raise FormatError(f"bad format version {version}")
    for group in spec.groups:
        if not isinstance(f.get(group), h5py.Group):
            raise FormatError(f"missing group /{group}")
    for name in spec.datasets:
        if not isinstance(f.get(name), h5py.Dataset):
            raise FormatError(f"missing dataset /{name}")
    for group, names in spec.attrs.items():
        for a in names:
            if a not in f[group].attrs:
                raise FormatError(f"missing attribute {a!r} on /{group}")
    if "actions/buttons" in spec.datasets:
        _check_actions(f)
    if found == "dataset" and len(f["frames"]) != len(f["actions/buttons"]):
        raise FormatError(f"{len(f['frames'])} frames but {len(f['actions/buttons'])} actions")
    if found == "dataset":
        if f["segment_id"].shape != (len(f["frames"]),):
            raise FormatError(f"/segment_id must be ({len(f['frames'])},)")
        require_filters(f["frames"])


def _check_actions(f: h5py.File) -> None:
    b = f["actions/buttons"]
    if b.ndim != 2 or b.shape[1] != N_BUTTONS:
        raise FormatError(f"/actions/buttons must be (N, {N_BUTTONS}), got {b.shape}")
    names = [_text(n) for n in b.attrs.get("names", [])]
    if names and tuple(names) != BUTTONS:
        raise FormatError("/actions/buttons names are not the 17 contract buttons in order")
    n = b.shape[0]
    for name in ("j_left", "j_right"):
        d = f[f"actions/{name}"]
        if d.shape != (n, 2):
            raise FormatError(f"/actions/{name} must be ({n}, 2), got {d.shape}")
    if f["actions/frame_index"].shape != (n,):
        raise FormatError(f"/actions/frame_index must be ({n},)")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def attrs_dict(node: h5py.Group | h5py.Dataset) -> dict[str, Any]:
    """Attributes as plain Python values (str, int, float, bool, lists)."""
    out: dict[str, Any] = {}
    for key, value in node.attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.ndarray):
            value = [v.decode() if isinstance(v, bytes) else v for v in value.tolist()]
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def provenance(f: h5py.File) -> dict[str, Any]:
    a = f.attrs
    return {
        "kind": _text(a["nitrogen_kind"]),
        "format_version": int(a["nitrogen_format_version"]),
        "tool_version": _text(a.get("nitrogen_tool_version", "?")),
        "command": _text(a.get("nitrogen_command", "")),
        "inputs": json.loads(_text(a.get("nitrogen_inputs", "[]"))),
    }


# -- the action group, shared by every kind that carries actions ------------------------
def write_actions(
    f: h5py.File | h5py.Group,
    actions: Actions,
    frame_index: np.ndarray | None = None,
    chunked: bool = False,
) -> h5py.Group:
    """Write /actions in the contract layout; frame_index defaults to 0..N-1."""
    n = len(actions)
    if frame_index is None:
        frame_index = np.arange(n, dtype=np.int64)
    frame_index = np.asarray(frame_index, dtype=np.int64)
    if frame_index.shape != (n,):
        raise ValueError(f"frame_index must be ({n},), got {frame_index.shape}")
    g = f.require_group("actions")
    opts: dict[str, Any] = {"chunks": True, "maxshape": (None,)} if chunked else {}
    b = g.create_dataset(
        "buttons",
        data=actions.buttons,
        dtype=bool,
        **({"chunks": True, "maxshape": (None, N_BUTTONS)} if chunked else {}),
    )
    b.attrs["names"] = np.array(BUTTONS, dtype=h5py.string_dtype())
    two = {"chunks": True, "maxshape": (None, 2)} if chunked else {}
    g.create_dataset("j_left", data=actions.j_left, dtype=np.float32, **two)
    g.create_dataset("j_right", data=actions.j_right, dtype=np.float32, **two)
    g.create_dataset("frame_index", data=frame_index, **opts)
    return g


def read_actions(f: h5py.File | h5py.Group) -> tuple[Actions, np.ndarray]:
    """(actions, frame_index) from a file that carries /actions."""
    g = f["actions"]
    acts = Actions(g["buttons"][()], g["j_left"][()], g["j_right"][()])
    return acts, g["frame_index"][()].astype(np.int64)


def read_actions_file(
    path: str | Path, kinds: Iterable[str] | None = None
) -> tuple[Actions, np.ndarray]:
    with open_file(path, kinds) as f:
        if "actions" not in f:
            raise FormatError("carries no actions")
        return read_actions(f)


def write_json_attr(node: h5py.Group | h5py.Dataset, name: str, value: Any) -> None:
    node.attrs[name] = json.dumps(value)


def read_json_attr(node: h5py.Group | h5py.Dataset, name: str, default: Any = None) -> Any:
    raw = node.attrs.get(name)
    return default if raw is None else json.loads(_text(raw))


# -- /meta: small facts about a file's content (fps, game, sizes) ----------------------
def write_meta(f: h5py.File, **values: Any) -> h5py.Group:
    """Attributes on /meta; lists and dicts are stored as JSON strings."""
    g = f.require_group("meta")
    for key, value in values.items():
        if value is None:
            continue
        g.attrs[key] = json.dumps(value) if isinstance(value, (dict, list, tuple)) else value
    return g


def read_meta(f: h5py.File) -> dict[str, Any]:
    if "meta" not in f:
        return {}
    out = attrs_dict(f["meta"])
    for key, value in out.items():
        if isinstance(value, str) and value[:1] in "[{":
            with contextlib.suppress(ValueError):
                out[key] = json.loads(value)
    return out


# -- /overlay: where the overlay is in the source video, carried by every later file -----
def write_overlay(
    f: h5py.File,
    info: Mapping[str, Any],
    atlas_png: bytes | None = None,
    per_frame: Mapping[str, np.ndarray] | None = None,
) -> h5py.Group:
    """The /overlay group: attributes from `info`, the template's atlas, per-frame arrays.

    `info` holds at least `found`; a video-derived file also carries `video` (its
    absolute path), `fps`, `frame_count`, `width` and `height`, and, when found,
    `template`, `layout`, `bbox` [x, y, w, h] and `transform` (2x3). Lists are stored as
    arrays; `layout_json` as a string.
    """
    g = f.require_group("overlay")
    for key, value in info.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, np.ndarray)):
            arr = np.asarray(value)
            if arr.dtype.kind in "US":
                g.attrs[key] = np.array([str(v) for v in arr], dtype=h5py.string_dtype())
            else:
                g.attrs[key] = arr
        elif isinstance(value, Path):
            g.attrs[key] = str(value)
        else:
            g.attrs[key] = value
    if atlas_png is not None:
        g.create_dataset("atlas_png", data=np.frombuffer(atlas_png, dtype=np.uint8))
    for key, arr in (per_frame or {}).items():
        g.create_dataset(key, data=np.asarray(arr))
    return g


def read_overlay(f: h5py.File) -> dict[str, Any]:
    """The /overlay attributes as plain values (bbox/transform as lists)."""
    if "overlay" not in f:
        raise FormatError("missing group /overlay")
    return attrs_dict(f["overlay"])


def read_atlas_png(f: h5py.File) -> bytes | None:
    d = f.get("overlay/atlas_png")
    return None if d is None else d[()].tobytes()


def copy_overlay(src: h5py.File, dst: h5py.File) -> None:
    """Carry /overlay (attributes, atlas, per-frame arrays) from one file to the next."""
    src.copy(src["overlay"], dst, name="overlay")


def video_path(f: h5py.File, file_path: str | Path) -> Path:
    """The source video: the recorded path, or a file of that name beside this one."""
    recorded = f["overlay"].attrs.get("video") if "overlay" in f else None
    if recorded is None:
        raise FormatError("names no source video (/overlay attribute 'video')")
    p = Path(_text(recorded))
    if p.exists():
        return p
    beside = Path(file_path).resolve().parent / p.name
    if beside.exists():
        return beside
    raise FormatError(f"its video {p} has gone missing")


def verify_input(f: h5py.File, path: str | Path) -> None:
    """Raise when `path` differs from the input this file recorded (size or hash)."""
    p = Path(path).resolve()
    for rec in provenance(f)["inputs"]:
        if Path(rec["path"]).name != p.name:
            continue
        if p.stat().st_size != rec.get("size") or content_hash(p) != rec.get("hash"):
            raise FormatError(f"its video {p} has changed since it was read (hash mismatch)")
        return


# -- per-row extraction flags: confidence and validity (actions kind; truth has neither) --
def read_confidence(f: h5py.File) -> np.ndarray | None:
    """(N,) float32 per action row, or None (truth files: every row is certain).

    A confidence stored per element, (N, k), is averaged over the row.
    """
    d = f.get("actions/confidence")
    if d is None:
        return None
    conf = np.asarray(d[()], dtype=np.float32)
    n = f["actions/buttons"].shape[0]
    if conf.ndim > 1:
        conf = conf.reshape(len(conf), -1).mean(axis=1)
    if conf.shape != (n,):
        raise FormatError(f"/actions/confidence must have {n} rows, got {d.shape}")
    return conf


def write_confidence(f: h5py.File, confidence: np.ndarray) -> h5py.Dataset:
    return f["actions"].create_dataset("confidence", data=np.asarray(confidence, np.float32))


def write_valid(f: h5py.File, valid: np.ndarray) -> h5py.Dataset:
    """/actions/valid (N,) bool: rows whose video frame decoded (extraction)."""
    return f["actions"].create_dataset("valid", data=np.asarray(valid, bool).reshape(-1))


def write_shown(f: h5py.File, shown: Sequence[str]) -> h5py.Dataset:
    """/actions/shown (19,) bool over actions.ELEMENTS: what the overlay's template shows
    (an element it does not show reads as released / centred, but is unknown)."""
    from nitrogen_cli.actions import ELEMENTS

    mask = np.array([name in set(shown) for name in ELEMENTS], bool)
    d = f["actions"].create_dataset("shown", data=mask)
    d.attrs["names"] = np.array(ELEMENTS, dtype=h5py.string_dtype())
    return d


def read_shown(f: h5py.File) -> np.ndarray | None:
    """(19,) bool over actions.ELEMENTS (/actions/shown), or None (every element)."""
    d = f.get("actions/shown")
    return None if d is None else np.asarray(d[()], dtype=bool).reshape(-1)


def read_valid(f: h5py.File) -> np.ndarray | None:
    """(N,) bool: rows whose frame could be read (/actions/valid), or None (all)."""
    d = f.get("actions/valid")
    if d is None:
        return None
    valid = np.asarray(d[()], dtype=bool).reshape(-1)
    if valid.shape != (f["actions/buttons"].shape[0],):
        raise FormatError(f"/actions/valid must have one entry per row, got {d.shape}")
    return valid


def find_truth(path: str | Path, truth_dir: str | Path, kind: str) -> Path:
    """The corpus truth file `<base>.truth.h5` in truth_dir for a file of this kind that
    descends from a corpus video: by the file's base name, else by its video's stem."""
    d = Path(truth_dir)
    cands = [d / f"{base_name(path)}.truth.h5"]
    try:
        with open_file(path, kind) as f:
            video = read_overlay(f).get("video")
        if video:
            cands.append(d / f"{Path(str(video)).stem}.truth.h5")
    except FormatError:
        pass
    for c in cands:
        if c.exists():
            return c
    raise NitrogenError(f"no truth file for it in {d} (looked for {cands[0].name})")


def read_overlay_visible(f: h5py.File) -> np.ndarray | None:
    """Per-entry bool: is the overlay on screen (/overlay/visible, or a non-empty
    /overlay/bbox_per_frame)? None when the file keeps no per-frame record."""
    if "overlay/visible" in f:
        return np.asarray(f["overlay/visible"][()], dtype=bool).reshape(-1)
    boxes = read_bbox_per_frame(f)
    if boxes is None:
        return None
    return (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def write_bbox_per_frame(f: h5py.File, boxes: np.ndarray) -> h5py.Dataset:
    """/overlay/bbox_per_frame (N, 4) float32 [x, y, w, h]: in an actions file, where each
    frame was read (an overlay that moved partway)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if "overlay/bbox_per_frame" in f:
        del f["overlay/bbox_per_frame"]
    return f.require_group("overlay").create_dataset("bbox_per_frame", data=boxes)


def read_bbox_per_frame(f: h5py.File) -> np.ndarray | None:
    """(N, 4) float64 [x, y, w, h] per frame (w or h 0: not shown), or None."""
    d = f.get("overlay/bbox_per_frame")
    if d is None:
        return None
    boxes = np.asarray(d[()], dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise FormatError(f"/overlay/bbox_per_frame must be (N, 4), got {d.shape}")
    return boxes


# -- truth extras: analogue triggers and per-frame facts of a corpus video ---------------
def write_triggers(f: h5py.File, triggers: np.ndarray) -> h5py.Dataset:
    """/actions/triggers (N, 2) float32: left, right analogue values as drawn (a truth file;
    /actions/buttons holds them pressed at >= actions.TRIGGER_THRESHOLD)."""
    from nitrogen_cli.actions import TRIGGERS

    values = np.asarray(triggers, np.float32).reshape(-1, 2)
    d = f["actions"].create_dataset("triggers", data=values)
    d.attrs["names"] = np.array(TRIGGERS, dtype=h5py.string_dtype())
    return d


def read_triggers(f: h5py.File) -> np.ndarray | None:
    """(N, 2) float32 analogue trigger values, or None where the file keeps none."""
    d = f.get("actions/triggers")
    return None if d is None else np.asarray(d[()], dtype=np.float32).reshape(-1, 2)


def write_meta_array(
    f: h5py.File, name: str, data: np.ndarray, labels: Sequence[str] | None = None
) -> h5py.Dataset:
    """/meta/<name>: a per-frame array (e.g. game_index, phase); `labels` name its codes."""
    d = f.require_group("meta").create_dataset(name, data=np.asarray(data))
    if labels is not None:
        d.attrs["names"] = np.array([str(s) for s in labels], dtype=h5py.string_dtype())
    return d


def read_meta_array(f: h5py.File, name: str) -> tuple[np.ndarray, list[str]] | None:
    """(array, code names) of /meta/<name>, or None when absent."""
    d = f.get(f"meta/{name}")
    if not isinstance(d, h5py.Dataset):
        return None
    return d[()], [_text(s) for s in d.attrs.get("names", [])]


# -- filtered: the kept segments, and a verdict for every chunk -------------------------
# Why a chunk was kept or dropped; `nitrogen filter` tests the drop reasons in this order.
CHUNK_REASONS: tuple[str, ...] = ("kept", "too-short", "no-overlay", "low-confidence", "idle")
CHUNK_FIELDS: tuple[str, ...] = ("start", "end", "active", "confidence", "visible", "reason")


def write_segments(f: h5py.File, segments: np.ndarray) -> h5py.Dataset:
    """/segments (S, 2) int64: [start, end) video frames, in order, not overlapping."""
    seg = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
    d = f.create_dataset("segments", data=seg)
    d.attrs["columns"] = np.array(["start", "end"], dtype=h5py.string_dtype())
    return d


def read_segments(f: h5py.File) -> np.ndarray:
    d = f["segments"]
    if d.ndim != 2 or d.shape[1] != 2:
        raise FormatError(f"/segments must be (S, 2), got {d.shape}")
    seg = d[()].astype(np.int64)
    if len(seg) and (
        (seg[:, 0] < 0).any() or (seg[:, 1] <= seg[:, 0]).any() or (seg[1:, 0] < seg[:-1, 1]).any()
    ):
        raise FormatError("/segments are not ordered, non-empty, non-overlapping [start, end)")
    return seg


def write_chunks(
    f: h5py.File, chunks: Mapping[str, np.ndarray], params: Mapping[str, Any]
) -> h5py.Group:
    """/chunks: one row per chunk (start, end, active, confidence, visible, reason);
    its attributes are the rules it was judged by."""
    g = f.create_group("chunks")
    for name in CHUNK_FIELDS:
        values = np.asarray(chunks[name])
        if name == "reason":
            g.create_dataset(name, data=values.astype(object), dtype=h5py.string_dtype())
        elif name in ("start", "end"):
            g.create_dataset(name, data=values.astype(np.int64))
        else:
            g.create_dataset(name, data=values.astype(np.float32))
    for key, value in params.items():
        g.attrs[key] = value
    return g


def read_chunks(f: h5py.File) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(the per-chunk columns, the rules) of a filtered file."""
    g = f.get("chunks")
    if not isinstance(g, h5py.Group):
        raise FormatError("missing group /chunks")
    out: dict[str, np.ndarray] = {}
    for name in CHUNK_FIELDS:
        if name not in g:
            raise FormatError(f"missing dataset /chunks/{name}")
        d = g[name]
        out[name] = d.asstr()[()] if name == "reason" else d[()]
    return out, attrs_dict(g)


# -- dataset: training frames ------------------------------------------------------------
# Codecs for /frames. lzf is the default: of the codecs plain h5py reads without a
# plugin, it decoded frames fastest (tools/bench/bench_dataset.py, man nitrogen-formats).
# blosc-lz4 needs the hdf5plugin package to write and to read; without it, lzf is used.
FRAME_CODECS: tuple[str, ...] = ("lzf", "gzip", "none", "blosc-lz4")
DEFAULT_FRAME_CODEC = "lzf"


def frame_codec(name: str) -> tuple[str, dict[str, Any]]:
    """(the codec actually used, h5py create_dataset options) for a codec name.

    `gzip` takes a level as `gzip-N` (plain `gzip` is level 1).
    """
    if name == "none":
        return name, {}
    if name == "lzf":
        return name, {"compression": "lzf"}
    if name == "gzip" or name.startswith("gzip-"):
        level = int(name.partition("-")[2] or 1)
        if not 0 <= level <= 9:
            raise ValueError(f"gzip level must be 0-9, got {level}")
        return f"gzip-{level}", {"compression": "gzip", "compression_opts": level}
    if name == "blosc-lz4":
        try:
            import hdf5plugin
        except ImportError:
            return frame_codec(DEFAULT_FRAME_CODEC)
        return name, dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=0))
    raise ValueError(f"unknown frame codec {name!r}; known: {', '.join(FRAME_CODECS)}")


def create_frames(
    f: h5py.File, n: int, height: int, width: int, codec: str = DEFAULT_FRAME_CODEC
) -> h5py.Dataset:
    """/frames (n, height, width, 3) uint8, one HDF5 chunk per frame (a sample reads one)."""
    used, options = frame_codec(codec)
    d = f.create_dataset(
        "frames",
        shape=(n, height, width, 3),
        dtype=np.uint8,
        chunks=(1, height, width, 3) if n else None,
        **(options if n else {}),
    )
    d.attrs["codec"] = used
    return d


def write_segment_ids(f: h5py.File, ids: np.ndarray) -> h5py.Dataset:
    """/segment_id (N,) int64: which /segments row each frame comes from."""
    return f.create_dataset("segment_id", data=np.asarray(ids, dtype=np.int64))


def require_filters(d: h5py.Dataset) -> None:
    """Raise a one-line FormatError when `d` needs an HDF5 filter that is not loaded."""
    plist = d.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code, _, _, label = plist.get_filter(i)
        if h5py.h5z.filter_avail(code):
            continue
        with contextlib.suppress(ImportError):
            import hdf5plugin  # noqa: F401  (registers its filters on import)
        if not h5py.h5z.filter_avail(code):
            name = label.decode(errors="replace") if isinstance(label, bytes) else str(label)
            raise FormatError(
                f"/{d.name.lstrip('/')} is compressed with HDF5 filter {code} ({name}), "
                "which needs the hdf5plugin package (pip install hdf5plugin)"
            )
