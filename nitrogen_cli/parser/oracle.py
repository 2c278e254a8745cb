"""An overlay file made from a corpus truth file: detection as if it were perfect.

It lets extraction be measured on its own, apart from detection's errors:

    overlay_from_truth("c0-0001.truth.h5", "c0-0001.overlay.h5")
    extract("c0-0001.overlay.h5", "c0-0001.actions.h5")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nitrogen_cli import formats

KEYS = (
    "found",
    "template",
    "layout",
    "bbox",
    "transform",
    "layout_json",
    "fps",
    "frame_count",
    "width",
    "height",
    "opacity",
)
SAMPLES = 25  # frames spread over the video, as detection samples them


def overlay_from_truth(truth: str | Path, dst: str | Path) -> Path:
    """Write an overlay file (kind "overlay") holding the truth's placement and template."""
    with formats.open_file(truth, "truth") as f:
        info = formats.read_overlay(f)
        video = formats.video_path(f, truth)
        atlas = formats.read_atlas_png(f)
        boxes = formats.read_bbox_per_frame(f)
    out = {k: info[k] for k in KEYS if k in info}
    out["video"] = str(Path(video).resolve())
    out["score"] = 1.0
    per_frame = None
    if boxes is not None and len(boxes):
        # what detection records of the sampled frames: where the overlay moved or hid
        at = np.unique(np.linspace(0, len(boxes) - 1, SAMPLES).round().astype(np.int64))
        shown = (boxes[at, 2] > 0) & (boxes[at, 3] > 0)
        per_frame = {
            "sample_frame_index": at,
            "sample_found": shown,
            "sample_bbox": boxes[at].astype(np.float32),
            "sample_score": shown.astype(np.float32),
        }
    with formats.create(dst, "overlay", inputs=[video], command="oracle (from truth)") as g:
        formats.write_overlay(g, out, atlas_png=atlas, per_frame=per_frame)
    return Path(dst)
