"""Hide the overlay and shrink the frames: the kept segments become training samples.

A model trained on frames that still show the controller would learn to read the
buttons off the screen instead of playing. NitroGen blacked the overlay box out of
every training frame and squashed the whole frame to 256x256 with INTER_AREA; so do
we. The box is blacked at the video's own resolution, before the resize, so not one
overlay pixel leaks into the average that INTER_AREA takes.

Each kept segment is decoded once, from a seek to its first frame, and frames go
through in batches: one masking slice for the whole batch, one HDF5 write.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from nitrogen_cli import formats, video
from nitrogen_cli.batch import NitrogenError

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, end-exclusive
BATCH_BYTES = 64 << 20  # full-size frames held at once: a 1080p batch stays at 64 MiB


@dataclass(frozen=True)
class MaskConfig:
    """The `nitrogen mask` flags."""

    size: int = 256  # frames are resized to size x size (the paper's SigLIP input)
    margin: int = 4  # video pixels blacked on every side of the overlay box
    codec: str = formats.DEFAULT_FRAME_CODEC
    batch: int = 32  # frames per masking/resizing/writing step (fewer if they are large)

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ValueError(f"size must be at least 8, got {self.size}")
        if self.margin < 0:
            raise ValueError(f"margin must not be negative, got {self.margin}")
        if self.batch < 1:
            raise ValueError(f"batch must be at least 1, got {self.batch}")


@dataclass
class MaskResult:
    frames: int
    segments: int
    box: Box | None  # the blacked box in video pixels, margin included
    codec: str  # the /frames codec actually used


def mask_box(bbox: object, margin: int, width: int, height: int) -> Box | None:
    """[x, y, w, h] grown by `margin` on every side, rounded outwards, clipped to the frame."""
    if bbox is None:
        return None
    x, y, w, h = (float(v) for v in np.asarray(bbox, dtype=np.float64).reshape(4))
    if w <= 0 or h <= 0:
        return None
    x0 = max(0, math.floor(x - margin))
    y0 = max(0, math.floor(y - margin))
    x1 = min(width, math.ceil(x + w + margin))
    y1 = min(height, math.ceil(y + h + margin))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def black_out(frames: np.ndarray, box: Box | None) -> None:
    """Zero `box` in every frame of a (B, H, W, 3) batch, in place."""
    if box is not None:
        x0, y0, x1, y1 = box
        frames[:, y0:y1, x0:x1] = 0


def resize_batch(frames: np.ndarray, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """(B, H, W, 3) -> (B, size, size, 3) with cv2.INTER_AREA, as NitroGen squashed frames."""
    b = len(frames)
    if out is None:
        out = np.empty((b, size, size, 3), np.uint8)
    if frames.shape[1:3] == (size, size):
        out[:b] = frames
        return out[:b]
    for i in range(b):
        cv2.resize(frames[i], (size, size), dst=out[i], interpolation=cv2.INTER_AREA)
    return out[:b]


def segment_rows(frame_index: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Segment number of each action row; raises unless rows are the segments' frames, in order."""
    lengths = segments[:, 1] - segments[:, 0]
    expected = np.concatenate([np.arange(s, e) for s, e in segments]) if len(segments) else []
    if len(frame_index) != int(lengths.sum()) or not np.array_equal(frame_index, expected):
        raise formats.FormatError(
            f"its {len(frame_index)} action rows are not the {int(lengths.sum())} frames "
            "of its segments, in order (was it written by `nitrogen filter`?)"
        )
    return np.repeat(np.arange(len(segments), dtype=np.int64), lengths)


def decode_segments(
    path: str | Path, segments: np.ndarray, height: int, width: int, batch: int
) -> Iterator[tuple[int, np.ndarray]]:
    """(first video frame, (B, H, W, 3) RGB batch) over the segments, each decoded once.

    Each segment starts with a seek to its first frame; what lies between segments is
    never decoded. The batch buffer is reused: consume it before the next one.
    """
    buf = np.empty((batch, height, width, 3), np.uint8)
    for start, stop in segments:
        b, expected = 0, int(start)
        for index, frame in video.stream_frames(path, start=int(start), stop=int(stop)):
            if index != expected:
                raise NitrogenError(f"its video {path} gave frame {index} where {expected} was due")
            if frame.shape != (height, width, 3):
                raise NitrogenError(f"frame {index} of {path} is {frame.shape[1]}x{frame.shape[0]}")
            buf[b] = frame
            b, expected = b + 1, expected + 1
            if b == batch:
                yield expected - b, buf
                b = 0
        if b:
            yield expected - b, buf[:b]
        if expected != stop:
            raise NitrogenError(
                f"its video {path} ended at frame {expected}, but a kept segment runs to "
                f"frame {int(stop) - 1}"
            )


def mask_file(
    src: str | Path,
    dst: str | Path,
    config: MaskConfig | None = None,
    advance: Callable[[int], None] | None = None,
) -> MaskResult:
    """Decode the kept segments of a filtered file and write `<base>.dataset.h5`."""
    cfg = config or MaskConfig()
    src, dst = Path(src), Path(dst)
    with formats.open_file(src, "filtered") as f:
        actions, frame_index = formats.read_actions(f)
        segments = formats.read_segments(f)
        seg_of_row = segment_rows(frame_index, segments)
        overlay = formats.read_overlay(f)
        meta = formats.read_meta(f)
        moving = formats.read_bbox_per_frame(f)
        path = formats.video_path(f, src)
        formats.verify_input(f, path)
        inputs = formats.provenance(f)["inputs"]
        records = [r for r in inputs if Path(r.get("path", "")).name == path.name]
    info = video.probe(path)
    width = int(overlay.get("width") or info.width)
    height = int(overlay.get("height") or info.height)
    if (info.width, info.height) != (width, height):
        raise NitrogenError(
            f"its video {path} is {info.width}x{info.height}, but the overlay was found "
            f"in a {width}x{height} video"
        )
    box = mask_box(overlay.get("bbox"), cfg.margin, width, height)
    if moving is not None and len(moving) < int(frame_index.max(initial=-1)) + 1:
        moving = None  # not one entry per video frame: the fixed box is all we know

    n, s = len(actions), cfg.size
    records = records or [formats.describe_input(path)]
    with formats.create(dst, "dataset", inputs=[src], input_records=records) as out:
        frames = formats.create_frames(out, n, s, s, cfg.codec)
        codec = str(frames.attrs["codec"])
        formats.write_actions(out, actions, frame_index)
        formats.write_segment_ids(out, seg_of_row)
        formats.write_segments(out, segments)
        formats.write_meta(
            out,
            fps=float(meta["fps"]),
            game=str(meta.get("game") or ""),
            template=str(overlay.get("template") or ""),
            source_kind=str(meta.get("source_kind") or ""),
            source_file=str(src.resolve()),
            source_video=str(path.resolve()),
            video_width=width,
            video_height=height,
            mask_bbox=[box[0], box[1], box[2] - box[0], box[3] - box[1]] if box else [0, 0, 0, 0],
            margin=cfg.margin,
            size=s,
            codec=codec,
        )
        batch = max(1, min(cfg.batch, BATCH_BYTES // (height * width * 3)))
        small = np.empty((batch, s, s, 3), np.uint8)
        written = 0
        for first, chunk in decode_segments(path, segments, height, width, batch):
            black_out(chunk, box)
            if moving is not None:  # an overlay that moves: black its box too, where shown
                for i in range(len(chunk)):
                    black_out(
                        chunk[i : i + 1], mask_box(moving[first + i], cfg.margin, width, height)
                    )
            frames[written : written + len(chunk)] = resize_batch(chunk, s, small)
            written += len(chunk)
            if advance:
                advance(len(chunk))
        if written != n:
            raise NitrogenError(f"wrote {written} frames for {n} actions")
    return MaskResult(n, len(segments), box, codec)
