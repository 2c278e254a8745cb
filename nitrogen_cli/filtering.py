"""Keep real play: cut a video's actions into chunks and keep the chunks where someone plays.

NitroGen cut every video into 20 s chunks and kept a chunk when at least half of its
frames carry input (a pressed button or a stick off centre). We do the same, and also
drop a chunk whose actions cannot be trusted: extraction was unsure, or the overlay was
not on screen. A trailing partial chunk is judged on its own when it is long enough.

Chunks are cut on video frames, not on action rows: `frame_index` says which frame a row
is, and frames with no (valid) row count as idle, unread and unseen. Kept chunks that
touch are merged, then split wherever a frame lacks a valid row, so that every frame of
a segment has exactly one action row: `mask` relies on that.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nitrogen_cli import formats
from nitrogen_cli.actions import Actions
from nitrogen_cli.batch import NitrogenError, Skip, base_name

# Why a chunk was kept or dropped, tested in this order (the first that applies wins).
KEPT, TOO_SHORT, NO_OVERLAY, LOW_CONFIDENCE, IDLE = formats.CHUNK_REASONS
DROP_REASONS = (TOO_SHORT, NO_OVERLAY, LOW_CONFIDENCE, IDLE)


@dataclass(frozen=True)
class FilterConfig:
    """The keep/drop rules; every field is a `nitrogen filter` flag."""

    chunk_seconds: float = 20.0  # NitroGen's chunk length
    min_active: float = 0.5  # fraction of a chunk's frames that must carry input
    dead_zone: float = 0.1  # a stick counts as moved beyond this radius
    min_tail_seconds: float = 5.0  # a shorter trailing partial chunk is dropped
    min_confidence: float = 0.5  # mean extraction confidence over a chunk's frames
    min_visible: float = 0.9  # fraction of a chunk's frames with the overlay on screen

    def __post_init__(self) -> None:
        if self.chunk_seconds <= 0:
            raise ValueError(f"chunk length must be positive, got {self.chunk_seconds}")
        for name in ("min_active", "min_confidence", "min_visible"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name.replace('_', '-')} must lie in [0, 1], got {value}")
        if self.dead_zone < 0 or self.min_tail_seconds < 0:
            raise ValueError("dead zone and minimum tail must not be negative")


@dataclass
class Chunks:
    """One verdict per chunk: its frames [start, end) and the figures it was judged on."""

    start: np.ndarray  # (C,) int64
    end: np.ndarray  # (C,) int64
    active: np.ndarray  # (C,) float32: fraction of frames with input
    confidence: np.ndarray  # (C,) float32: mean confidence (frames without a row count 0)
    visible: np.ndarray  # (C,) float32: fraction of frames with the overlay shown
    reason: np.ndarray  # (C,) str: KEPT or one of DROP_REASONS

    def as_dict(self) -> dict[str, np.ndarray]:
        return {
            k: getattr(self, k) for k in ("start", "end", "active", "confidence", "visible")
        } | {"reason": self.reason}


@dataclass
class Summary:
    """What one input gave: hours in, hours kept, and why chunks were dropped."""

    name: str
    fps: float
    frames_in: int
    frames_kept: int
    chunks: int
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> chunk count

    @property
    def hours_in(self) -> float:
        return self.frames_in / self.fps / 3600 if self.fps else 0.0

    @property
    def hours_kept(self) -> float:
        return self.frames_kept / self.fps / 3600 if self.fps else 0.0


@dataclass
class FilterResult:
    segments: np.ndarray  # (S, 2) int64 [start, end) video frames, every one with a row
    rows: np.ndarray  # (K,) indices into the input's rows, in segment order
    chunks: Chunks
    fps: float
    n_frames: int
    config: FilterConfig

    def summary(self, name: str) -> Summary:
        return summarize(name, self.fps, self.n_frames, self.chunks, self.segments)


class NothingKept(Skip):
    """No chunk survived: not an error, but the report still wants the figures."""

    def __init__(self, message: str, summary: Summary) -> None:
        super().__init__(message)
        self.summary = summary


def summarize(
    name: str, fps: float, n_frames: int, chunks: Chunks, segments: np.ndarray
) -> Summary:
    kept = int((segments[:, 1] - segments[:, 0]).sum()) if len(segments) else 0
    reasons = [str(r) for r in chunks.reason]
    dropped = {r: reasons.count(r) for r in DROP_REASONS if r in reasons}
    return Summary(name, fps, n_frames, kept, len(reasons), dropped)


# -- the rules --------------------------------------------------------------------------
def active_rows(actions: Actions, dead_zone: float) -> np.ndarray:
    """(N,) bool: a button is pressed, or a stick lies outside the radial dead zone."""
    moved = (np.hypot(*actions.j_left.T) > dead_zone) | (np.hypot(*actions.j_right.T) > dead_zone)
    return actions.buttons.any(axis=1) | moved


def judge(
    actions: Actions,
    frame_index: np.ndarray,
    fps: float,
    n_frames: int | None = None,
    confidence: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    visible: np.ndarray | None = None,
    config: FilterConfig | None = None,
) -> FilterResult:
    """Chunk a video's action rows and keep the chunks of real, trustworthy play.

    `confidence` and `valid` are per row (missing: 1 and True). `visible` is per video
    frame (missing: the overlay is always shown). `n_frames` is the video's length;
    it defaults to the last row's frame + 1.
    """
    cfg = config or FilterConfig()
    if not fps or fps <= 0:
        raise NitrogenError(f"bad frame rate {fps!r}")
    frame_index = np.asarray(frame_index, dtype=np.int64)
    n = len(actions)
    if frame_index.shape != (n,):
        raise NitrogenError(f"{n} action rows but {len(frame_index)} frame indices")
    if n and frame_index.min() < 0:
        raise NitrogenError("negative frame index in /actions/frame_index")
    last = int(frame_index.max()) + 1 if n else 0
    total = max(int(n_frames or 0), last)

    conf = np.ones(n, np.float32) if confidence is None else np.asarray(confidence, np.float32)
    ok = np.ones(n, bool) if valid is None else np.asarray(valid, bool)
    if conf.shape != (n,) or ok.shape != (n,):
        raise NitrogenError("confidence or valid flags do not match the action rows")

    # Per video frame: which row draws it (the first, if a frame was read twice).
    row_of = np.full(total, -1, np.int64)
    order = np.argsort(frame_index, kind="stable")[::-1]  # so the first row is written last
    usable = order[ok[order]]
    row_of[frame_index[usable]] = usable
    has_row = row_of >= 0
    act = np.zeros(total, bool)
    act[has_row] = active_rows(actions, cfg.dead_zone)[row_of[has_row]]
    cf = np.zeros(total, np.float32)
    cf[has_row] = np.clip(conf[row_of[has_row]], 0, 1)
    vis = np.ones(total, bool) if visible is None else _fit(np.asarray(visible, bool), total)

    # The chunk grid over frames; a short tail is its own (possibly too short) chunk.
    length = max(1, round(cfg.chunk_seconds * fps))
    starts = np.arange(0, total, length, dtype=np.int64)
    ends = np.minimum(starts + length, total)
    sizes = (ends - starts).astype(np.float64)  # float64: 7 of 10 frames is exactly 0.7
    if total:
        active = np.add.reduceat(act.astype(np.float64), starts) / sizes
        confm = np.add.reduceat(cf.astype(np.float64), starts) / sizes
        visf = np.add.reduceat(vis.astype(np.float64), starts) / sizes
    else:
        active = confm = visf = np.zeros(0, np.float64)
    min_tail = round(cfg.min_tail_seconds * fps)
    reason = np.full(len(starts), KEPT, dtype=object)
    # Tested in reverse order of precedence, so that the first rule that applies wins.
    reason[active < cfg.min_active] = IDLE
    reason[confm < cfg.min_confidence] = LOW_CONFIDENCE
    reason[visf < cfg.min_visible] = NO_OVERLAY
    reason[(ends - starts < length) & (ends - starts < min_tail)] = TOO_SHORT
    chunks = Chunks(
        starts,
        ends,
        active.astype(np.float32),
        confm.astype(np.float32),
        visf.astype(np.float32),
        reason.astype(str),
    )

    # Segments: runs of frames inside kept chunks that have a usable row.
    keep = np.repeat(reason == KEPT, (ends - starts)) & has_row
    segments = runs(keep)
    rows = row_of[keep] if total else np.zeros(0, np.int64)
    return FilterResult(segments, rows, chunks, float(fps), total, cfg)


def runs(mask: np.ndarray) -> np.ndarray:
    """(S, 2) [start, end) of every run of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)], axis=1).astype(
        np.int64
    )


def _fit(per_frame: np.ndarray, total: int) -> np.ndarray:
    """A per-frame array cut or padded (as not shown) to the video's length."""
    out = np.zeros(total, bool)
    k = min(total, len(per_frame))
    out[:k] = per_frame[:k]
    return out


# -- files --------------------------------------------------------------------------------
def filter_file(
    src: str | Path, dst: str | Path, config: FilterConfig | None = None
) -> FilterResult:
    """Judge an actions or truth file and write `<base>.filtered.h5`.

    Raises NothingKept (a Skip) when no chunk survives, after judging every chunk.
    """
    cfg = config or FilterConfig()
    src, dst = Path(src), Path(dst)
    with formats.open_file(src, ("actions", "truth")) as f:
        kind = formats.provenance(f)["kind"]
        actions, frame_index = formats.read_actions(f)
        overlay = formats.read_overlay(f)
        meta = formats.read_meta(f)
        fps = float(meta.get("fps") or overlay.get("fps") or 0)
        n_frames = int(overlay.get("frame_count") or 0)
        confidence = formats.read_confidence(f)
        valid = formats.read_valid(f)
        visible = _visibility(f, overlay, frame_index, n_frames)
        result = judge(actions, frame_index, fps, n_frames, confidence, valid, visible, cfg)
        summary = result.summary(base_name(src))
        if not len(result.segments):
            dropped = ", ".join(f"{c} {r}" for r, c in summary.dropped.items()) or "no frames"
            raise NothingKept(f"nothing kept ({summary.chunks} chunks: {dropped})", summary)
        video = _video_record(f, src, overlay)
        with formats.create(dst, "filtered", inputs=[src], input_records=video) as out:
            kept = actions[result.rows]
            formats.write_actions(out, kept, frame_index[result.rows])
            conf = np.ones(len(kept), np.float32) if confidence is None else confidence[result.rows]
            formats.write_confidence(out, conf)
            formats.write_segments(out, result.segments)
            formats.write_chunks(out, result.chunks.as_dict(), asdict(cfg))
            formats.copy_overlay(f, out)
            # The input's facts, with this stage's own facts taking precedence.
            facts = {
                **meta,
                "fps": fps,
                "source_kind": kind,
                "frame_count": result.n_frames,
                "frames_kept": summary.frames_kept,
            }
            formats.write_meta(out, **facts)
    return result


def _visibility(
    f: Any, overlay: dict[str, Any], frame_index: np.ndarray, n_frames: int
) -> np.ndarray | None:
    """Per video frame: was the overlay on screen? None when the file does not say."""
    if overlay.get("found") is False or overlay.get("found") == 0:
        return np.zeros(max(n_frames, int(frame_index.max()) + 1 if len(frame_index) else 0), bool)
    shown = formats.read_overlay_visible(f)
    if shown is None:
        return None
    if len(shown) == len(frame_index) and len(shown) != n_frames:
        # One entry per action row, not per frame: place each on its frame.
        total = max(n_frames, int(frame_index.max()) + 1 if len(frame_index) else 0)
        per_frame = np.zeros(total, bool)
        per_frame[frame_index] = shown
        return per_frame
    return shown


def _video_record(f: Any, src: Path, overlay: dict[str, Any]) -> list[dict[str, Any]]:
    """The source video's provenance record, carried on so that `mask` can check it."""
    name = Path(str(overlay.get("video", ""))).name
    if not name:
        return []
    for rec in formats.provenance(f)["inputs"]:
        if Path(rec.get("path", "")).name == name:
            return [rec]
    try:
        video = formats.video_path(f, src)
    except formats.FormatError:
        return []  # mask will say the video is missing
    return [formats.describe_input(video)]


def read_summary(path: str | Path) -> Summary:
    """The figures of a filtered file already written (a rerun reuses it)."""
    with formats.open_file(path, "filtered") as f:
        chunks, _ = formats.read_chunks(f)
        meta = formats.read_meta(f)
        segments = formats.read_segments(f)
        table = Chunks(**{k: chunks[k] for k in Chunks.__dataclass_fields__})
        return summarize(
            base_name(path), float(meta["fps"]), int(meta["frame_count"]), table, segments
        )
