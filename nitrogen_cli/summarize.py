"""What a nitrogen file holds, as (field, value) rows: the library behind `nitrogen show`.

Rows are plain strings so that one description serves a rich table on a terminal and
tab-separated lines in a pipe. Kinds add their own summaries by registering a function
in SUMMARIES.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from nitrogen_cli import formats
from nitrogen_cli.actions import BUTTONS

Row = tuple[str, str]
SUMMARIES: dict[str, Callable[[h5py.File], list[Row]]] = {}


def summary(kind: str) -> Callable[[Callable[[h5py.File], list[Row]]], Callable[..., list[Row]]]:
    def register(fn: Callable[[h5py.File], list[Row]]) -> Callable[[h5py.File], list[Row]]:
        SUMMARIES[kind] = fn
        return fn

    return register


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, np.ndarray):
        return fmt(value.tolist())
    return str(value)


def describe(path: str | Path) -> list[Row]:
    """Provenance, then a kind-specific summary, then every dataset's shape and dtype."""
    with formats.open_file(path) as f:
        prov = formats.provenance(f)
        rows: list[Row] = [
            ("kind", prov["kind"]),
            ("format_version", str(prov["format_version"])),
            ("tool_version", prov["tool_version"]),
            ("command", prov["command"]),
        ]
        for rec in prov["inputs"]:
            rows.append(("input", f"{rec.get('path')} {rec.get('size')} bytes {rec.get('hash')}"))
        rows += fps_rows(f)
        extra = SUMMARIES.get(prov["kind"])
        if extra is not None:
            rows += extra(f)
        if "actions" in f:
            rows += action_rows(f)
        rows += dataset_rows(f)
    return rows


def fps_of(f: h5py.File) -> float | None:
    for group in ("meta", "overlay"):
        if group in f and "fps" in f[group].attrs:
            return float(f[group].attrs["fps"])
    return None


def fps_rows(f: h5py.File) -> list[Row]:
    fps = fps_of(f)
    if fps is None:
        return []
    rows = [("fps", fmt(fps))]
    n = None
    if "actions/buttons" in f:
        n = f["actions/buttons"].shape[0]
    elif "overlay" in f and "frame_count" in f["overlay"].attrs:
        n = int(f["overlay"].attrs["frame_count"])
    if n is not None and fps > 0:
        rows.append(("duration_s", fmt(round(n / fps, 3))))
    return rows


def action_rows(f: h5py.File) -> list[Row]:
    acts, frame_index = formats.read_actions(f)
    n = len(acts)
    rows: list[Row] = [("actions", str(n))]
    if n == 0:
        return rows
    rows.append(("frame_index", f"{int(frame_index.min())}..{int(frame_index.max())}"))
    any_input = acts.buttons.any(axis=1) | (np.abs(acts.j_left) > 0.1).any(axis=1)
    any_input |= (np.abs(acts.j_right) > 0.1).any(axis=1)
    rows.append(("active_fraction", fmt(float(any_input.mean()))))
    rates = acts.buttons.mean(axis=0)
    for name, rate in zip(BUTTONS, rates, strict=True):
        rows.append((f"pressed.{name}", f"{rate:.4f}"))
    for name, stick in (("j_left", acts.j_left), ("j_right", acts.j_right)):
        moved = float((np.abs(stick) > 0.1).any(axis=1).mean())
        rows.append((f"{name}.moved", f"{moved:.4f}"))
        rows.append((f"{name}.mean", fmt(stick.mean(axis=0).round(4))))
    return rows


def dataset_rows(f: h5py.File) -> list[Row]:
    rows: list[Row] = []

    def visit(name: str, node: Any) -> None:
        if isinstance(node, h5py.Dataset):
            comp = f" {node.compression}" if node.compression else ""
            rows.append((f"/{name}", f"{node.dtype} {tuple(node.shape)}{comp}"))

    f.visititems(visit)
    return rows


@summary("overlay")
def _overlay(f: h5py.File) -> list[Row]:
    info = formats.read_overlay(f)
    keys = ("found", "template", "layout", "bbox", "score", "inliers", "width", "height")
    rows = [(k, fmt(info[k])) for k in keys if k in info]
    rows += [("video", fmt(info.get("video", "?")))]
    return rows


@summary("truth")
def _truth(f: h5py.File) -> list[Row]:
    info = formats.read_overlay(f)
    rows = [(k, fmt(info[k])) for k in ("found", "template", "bbox", "shows") if k in info]
    meta = formats.read_meta(f)
    rows += [(f"meta.{k}", fmt(v)) for k, v in meta.items()]
    return rows


@summary("dataset")
def _dataset(f: h5py.File) -> list[Row]:
    meta = formats.read_meta(f)
    rows = [(f"meta.{k}", fmt(v)) for k, v in meta.items()]
    seg = f["segment_id"][()]
    rows.append(("segments", str(len(np.unique(seg)))))
    return rows


@summary("filtered")
def _filtered(f: h5py.File) -> list[Row]:
    meta = formats.read_meta(f)
    rows = [(f"meta.{k}", fmt(v)) for k, v in meta.items()]
    segments = formats.read_segments(f)
    rows.append(("segments", str(len(segments))))
    chunks, rules = formats.read_chunks(f)
    rows += [(f"rule.{k}", fmt(v)) for k, v in rules.items()]
    reasons = chunks["reason"].tolist()
    rows += [(f"chunks.{r}", str(reasons.count(r))) for r in formats.CHUNK_REASONS]
    return rows
