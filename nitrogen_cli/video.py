"""Reading and writing video with PyAV: probe, sample, stream, and encode.

Frames are counted from 0 in decode order of presentation, the same index every stage
stores in /actions/frame_index. Sampling seeks to keyframes instead of decoding the
whole file; streaming decodes once and hands out frames (or crops of them) in order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from nitrogen_cli.batch import NitrogenError

MIN_SIZE = 32  # smaller than this is no gameplay video


class VideoError(NitrogenError):
    """A file that cannot be read as a video, said in one line."""


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float
    frame_count: int  # from the container; an estimate when it does not say
    duration: float  # seconds
    codec: str
    exact_count: bool  # True when the container states the frame count


def _open(path: str | Path) -> av.container.InputContainer:
    p = Path(path)
    if not p.exists():
        raise VideoError("no such file")
    if p.is_dir():
        raise VideoError("is a directory, not a video")
    if p.stat().st_size == 0:
        raise VideoError("empty file (0 bytes)")
    try:
        return av.open(str(p))
    except av.error.InvalidDataError:
        if _mp4_without_index(p):
            raise VideoError(
                "MP4/MOV file without its index (no moov box): cut short while being written?"
            ) from None
        raise VideoError("not a video file (no demuxer recognises it)") from None
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError(f"cannot open as video ({' '.join(str(exc).split())})") from None


def _mp4_without_index(path: Path) -> bool:
    """An mp4 keeps its index at the end, so a cut-short recording loses all of it."""
    boxes: list[bytes] = []
    with open(path, "rb") as f:
        size = path.stat().st_size
        at = 0
        while at + 8 <= size and len(boxes) < 1000:
            f.seek(at)
            head = f.read(16)
            length, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if length == 1 and len(head) == 16:
                length = int.from_bytes(head[8:16], "big")
            elif length == 0:
                length = size - at
            boxes.append(kind)
            if length < 8:
                break
            at += length
    return bool(boxes) and boxes[0] == b"ftyp" and b"moov" not in boxes


def _stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        has = f" (it has only {', '.join(kinds)})" if kinds else ""
        raise VideoError(f"no video stream{has}")
    return container.streams.video[0]


def probe(path: str | Path) -> VideoInfo:
    """Size, frame rate and frame count, without decoding more than needed."""
    with _open(path) as container:
        stream = _stream(container)
        ctx = stream.codec_context
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        count = int(stream.frames or 0)
        exact = count > 0
        if not exact and fps > 0:
            count = round(duration * fps)
        if width == 0 or height == 0 or fps <= 0:
            # Some containers only say after the first frame: decode one to find out.
            try:
                frame = next(container.decode(stream))
                width, height = frame.width, frame.height
            except (StopIteration, av.error.FFmpegError):
                raise VideoError("no decodable video frames") from None
        if fps <= 0:
            raise VideoError("video stream has no frame rate")
        return VideoInfo(str(path), width, height, fps, count, duration, ctx.name or "?", exact)


def check_video(info: VideoInfo, min_frames: int = 1) -> None:
    if info.width < MIN_SIZE or info.height < MIN_SIZE:
        raise VideoError(
            f"resolution {info.width}x{info.height} is too small (at least {MIN_SIZE}x{MIN_SIZE})"
        )
    if info.frame_count < min_frames:
        raise VideoError(f"only {info.frame_count} frames (at least {min_frames} needed)")


def _index_of(frame: av.VideoFrame, stream: Any, fps: float, start: float) -> int:
    if frame.pts is None or stream.time_base is None:
        return -1
    t = float(frame.pts * stream.time_base) - start
    return math.floor(t * fps + 0.5)


def _start_time(stream: Any) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def stream_frames(
    path: str | Path,
    fmt: str = "rgb24",
    start: int = 0,
    stop: int | None = None,
    threads: bool = True,
    raw: bool = False,
) -> Iterator[tuple[int, Any]]:
    """Yield (index, frame) in order from `start` (seeking there) up to `stop`.

    With `raw`, frames are av.VideoFrame (convert or crop them yourself: converting a
    crop is far cheaper than converting a whole frame); otherwise ndarrays in `fmt`.
    A file corrupt partway through raises VideoError after the frames that decoded.
    """
    with _open(path) as container:
        stream = _stream(container)
        if threads:
            stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 30.0
        t0 = _start_time(stream)
        if start > 0 and stream.time_base is not None:
            target = int((start / fps + t0) / stream.time_base)
            container.seek(target, stream=stream, backward=True, any_frame=False)
        counter = None  # falls back to counting when pts are missing
        try:
            for frame in container.decode(stream):
                index = _index_of(frame, stream, fps, t0)
                if index < 0:
                    counter = 0 if counter is None else counter + 1
                    index = counter + start
                if index < start:
                    continue
                if stop is not None and index >= stop:
                    break
                yield index, (frame if raw else frame.to_ndarray(format=fmt))
        except av.error.FFmpegError as exc:
            raise VideoError(f"decoding failed partway ({' '.join(str(exc).split())})") from None


def sample_frames(
    path: str | Path, n: int, fmt: str = "rgb24", info: VideoInfo | None = None
) -> list[tuple[int, np.ndarray]]:
    """At most `n` frames spread over the video, read by seeking to keyframes.

    It never decodes the whole file: each sample costs one seek and the decode of
    the keyframe it lands on; only where that keyframe was taken already (a short
    video has few) does it decode on, at most a sample spacing, towards the target.
    """
    info = info or probe(path)
    out: list[tuple[int, np.ndarray]] = []
    seen: set[int] = set()
    with _open(path) as container:
        stream = _stream(container)
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else info.fps
        t0 = _start_time(stream)
        total = max(info.frame_count, 1)
        targets = [int((k + 0.5) * total / n) for k in range(n)] if n < total else range(total)
        for target in targets:
            if stream.time_base is not None:
                ts = int((target / fps + t0) / stream.time_base)
                try:
                    container.seek(ts, stream=stream, backward=True, any_frame=False)
                except av.error.FFmpegError:
                    continue
            # Take the keyframe the seek lands on; when it was taken already (short
            # videos have few keyframes), decode on towards the target, a bounded way.
            budget = 4 * max(1, total // max(n, 1)) + 30
            try:
                for decoded, frame in enumerate(container.decode(stream)):
                    index = _index_of(frame, stream, fps, t0)
                    if index in seen:
                        if decoded > budget:
                            break
                        continue
                    if decoded == 0 or index >= target or decoded > budget:
                        seen.add(index)
                        out.append((index, frame.to_ndarray(format=fmt)))
                        break
            except av.error.FFmpegError:
                continue
        out.sort(key=lambda item: item[0])
    return out


class VideoWriter:
    """H.264 (libx264, yuv420p) writer; frames are RGB uint8 arrays of one size."""

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: float | Fraction,
        crf: int = 23,
        preset: str = "veryfast",
        codec: str = "libx264",
        threads: int = 0,
        gop: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.container = av.open(str(path), mode="w")
        rate = Fraction(fps).limit_denominator(1001)
        self.stream = self.container.add_stream(codec, rate=rate)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        options = {"preset": preset} if codec == "libx264" else {}
        if codec in ("libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1"):
            options["crf"] = str(crf)
        if codec == "libvpx-vp9":
            options["b"] = "0"
        self.stream.options = options
        if gop is not None:
            self.stream.codec_context.gop_size = gop
        self.stream.thread_count = threads
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def write_yuv420p(self, yuv: np.ndarray) -> None:
        """Write a frame already in planar I420, (h * 3 / 2, w) uint8 as cv2.cvtColor's
        COLOR_RGB2YUV_I420 gives (BT.601, limited range, as swscale makes from rgb24):
        at 1080p several times cheaper than letting the encoder convert rgb24."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(yuv), format="yuv420p")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_video(
    path: str | Path, frames: Sequence[np.ndarray] | np.ndarray, fps: float, **kw: Any
) -> Path:
    """Encode a short clip in one call (tests and tools)."""
    first = frames[0]
    with VideoWriter(path, first.shape[1], first.shape[0], fps, **kw) as w:
        for f in frames:
            w.write(f)
    return Path(path)


def decode_every_frame(path: str | Path) -> int:
    """Decode the whole video and convert each frame to RGB, the way a plain PyAV reader
    would (threads AUTO): the floor that the benches hold a stage's speed against.
    Returns the number of frames."""
    n = 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for frame in c.decode(s):
            frame.to_ndarray(format="rgb24")
            n += 1
    return n


def stream_copy(src: str | Path, dst: str | Path, times: int) -> Path:
    """`src` played `times` times over into `dst` by copying its packets (no re-encoding),
    each copy's timestamps shifted by the clip's length: a long video made cheaply."""
    with av.open(str(src)) as probe:
        s = probe.streams.video[0]
        span = int(s.duration or 0) or round(
            float(probe.duration / av.time_base) / float(s.time_base)
        )
        with av.open(str(dst), "w") as out:
            ost = out.add_stream_from_template(s)
            for k in range(times):
                with av.open(str(src)) as inp:
                    for pkt in inp.demux(inp.streams.video[0]):
                        if pkt.dts is None:
                            continue
                        pkt.pts = None if pkt.pts is None else pkt.pts + k * span
                        pkt.dts += k * span
                        pkt.stream = ost
                        out.mux(pkt)
    return Path(dst)
