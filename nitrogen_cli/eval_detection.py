"""How well detect-overlay did: overlay files scored against the corpus truth.

    report = evaluate_files(["c0-0001.overlay.h5", ...], truth_dir="corpus/")
    report["overall"]["overlay"]["correct"], report["overall"]["no_overlay"]["false_found"]

A video with an overlay counts as correct when the right layout was found and the box's
IoU with the truth's box (the placement the overlay shows in most frames) is at least
IOU_OK; the skin (colour variant) is reported beside it. A video without an overlay
counts as a false detection when it was flagged as found. The sampled frames are scored
too: a sample is right when detect-overlay's verdict (shown or not) matches the truth's
on that frame and, when shown, its box lies within IOU_OK of the truth's box there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nitrogen_cli import formats
from nitrogen_cli.batch import base_name
from nitrogen_cli.detect import iou

IOU_OK = 0.9  # the bar for a right box


def find_truth(overlay_path: str | Path, truth_dir: str | Path) -> Path:
    return formats.find_truth(overlay_path, truth_dir, "overlay")


@dataclass
class Scored:
    """One video's detection next to its truth."""

    id: str
    truth_found: bool
    found: bool
    truth_template: str | None
    template: str | None
    truth_layout: str | None
    layout: str | None
    iou: float | None  # detected box vs the truth's box (None unless both exist)
    score: float
    samples: int
    samples_right: int

    @property
    def layout_ok(self) -> bool:
        return self.found and self.truth_found and self.layout == self.truth_layout

    @property
    def skin_ok(self) -> bool:
        return self.found and self.truth_found and self.template == self.truth_template

    @property
    def correct(self) -> bool:
        """Right answer: the right layout in a box with IoU >= IOU_OK, or nothing found
        where there is nothing."""
        if not self.truth_found:
            return not self.found
        return self.layout_ok and (self.iou or 0.0) >= IOU_OK


def score_pair(overlay_path: str | Path, truth_path: str | Path) -> Scored:
    with formats.open_file(overlay_path, "overlay") as f:
        ov = formats.read_overlay(f)
        idx = f["overlay/sample_frame_index"][()] if "overlay/sample_frame_index" in f else None
        s_found = f["overlay/sample_found"][()] if "overlay/sample_found" in f else None
        s_bbox = f["overlay/sample_bbox"][()] if "overlay/sample_bbox" in f else None
    with formats.open_file(truth_path, "truth") as f:
        tov = formats.read_overlay(f)
        visible = formats.read_overlay_visible(f)
        boxes = formats.read_bbox_per_frame(f)
    found, truth_found = bool(ov.get("found")), bool(tov.get("found"))
    box = ov.get("bbox") if found else None
    tbox = tov.get("bbox") if truth_found else None
    right = n = 0
    if idx is not None and s_found is not None and s_bbox is not None:
        for i, shown, b in zip(idx, s_found, s_bbox, strict=False):
            if visible is None or not 0 <= i < len(visible):
                continue
            n += 1
            if bool(shown) != bool(visible[i]):
                continue
            if shown and boxes is not None and iou(b, boxes[i]) < IOU_OK:
                continue
            right += 1
    return Scored(
        id=base_name(truth_path),
        truth_found=truth_found,
        found=found,
        truth_template=tov.get("template") if truth_found else None,
        template=ov.get("template") if found else None,
        truth_layout=tov.get("layout") if truth_found else None,
        layout=ov.get("layout") if found else None,
        iou=iou(box, tbox) if box is not None and tbox is not None else None,
        score=float(ov.get("score", 0.0)),
        samples=n,
        samples_right=right,
    )


def _summary(items: Sequence[Scored]) -> dict[str, Any]:
    pos = [s for s in items if s.truth_found]
    neg = [s for s in items if not s.truth_found]
    ious = [s.iou for s in pos if s.iou is not None]

    def share(k: int, n: int) -> float:
        return k / n if n else float("nan")

    samples = sum(s.samples for s in items)
    return {
        "videos": len(items),
        "overlay": {
            "videos": len(pos),
            "correct": share(sum(s.correct for s in pos), len(pos)),
            "found": share(sum(s.found for s in pos), len(pos)),
            "layout": share(sum(s.layout_ok for s in pos), len(pos)),
            "skin": share(sum(s.skin_ok for s in pos), len(pos)),
            "iou_median": float(np.median(ious)) if ious else float("nan"),
            "iou_min": float(min(ious)) if ious else float("nan"),
        },
        "no_overlay": {
            "videos": len(neg),
            "false_found": share(sum(s.found for s in neg), len(neg)),
        },
        "samples_right": share(sum(s.samples_right for s in items), samples),
    }


def evaluate(items: Sequence[Scored]) -> dict[str, Any]:
    """The report: overall figures, figures per truth template, and every video."""
    by_template: dict[str, list[Scored]] = {}
    for s in items:
        by_template.setdefault(s.truth_template or "(none)", []).append(s)
    return {
        "iou_ok": IOU_OK,
        "overall": _summary(items),
        "per_template": {k: _summary(v) for k, v in sorted(by_template.items())},
        "videos": [dict(asdict(s), correct=s.correct) for s in items],
    }


def evaluate_files(paths: Sequence[str | Path], truth_dir: str | Path) -> dict[str, Any]:
    return evaluate([score_pair(p, find_truth(p, truth_dir)) for p in paths])


COLUMNS = (
    "id",
    "videos",
    "correct",
    "layout",
    "skin",
    "iou_median",
    "iou_min",
    "no_overlay",
    "false_found",
    "samples_right",
)


def _row(name: str, s: dict[str, Any]) -> list[Any]:
    o, n = s["overlay"], s["no_overlay"]
    return [
        name,
        o["videos"],
        o["correct"],
        o["layout"],
        o["skin"],
        o["iou_median"],
        o["iou_min"],
        n["videos"],
        n["false_found"],
        s["samples_right"],
    ]


def table(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """(columns, rows) for report.print_table: one row per truth template, then "all".

    videos/correct/layout/skin/iou_*: over videos with an overlay; no_overlay and
    false_found: over videos without one; samples_right: over sampled frames.
    """
    rows = [_row(k, v) for k, v in report["per_template"].items()]
    rows.append(_row("all", report["overall"]))
    return list(COLUMNS), rows
