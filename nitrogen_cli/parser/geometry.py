"""From a video frame to the parser's view of the overlay: the canvas.

The canvas is the overlay warped back into template coordinates at a working scale, so
that pixel (u, v) of the canvas is pixel (u, v) of `Renderer(template, scale)`'s output:
the looks the parser compares with are rendered straight onto the same grid. Only the
video rectangle under the overlay is ever converted to RGB (from the decoder's YUV
planes, when they are plain I420), never the whole frame.

Coordinates are continuous, pixel i covering [i, i + 1): a template point X lands on
video point transform @ [X, 1], which is how `Renderer.draw` places a drawing at (x, y)
with scale (sx, sy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

CANVAS_MAX = 256  # longest canvas side: the parser never needs more pixels than this
PRESCALE_FROM = 1.3  # a video crop this much larger than the canvas is area-shrunk first


def video_scale(transform: np.ndarray) -> float:
    """Video pixels per template pixel (geometric mean of the two axes)."""
    a = np.asarray(transform, np.float64)[:, :2]
    return math.sqrt(abs(float(np.linalg.det(a))))


def working_scale(
    transform: np.ndarray, size: tuple[int, int], max_side: int = CANVAS_MAX
) -> float:
    """The canvas scale: the video's own, capped so the canvas fits `max_side`."""
    return min(video_scale(transform), max_side / max(size))


@dataclass
class CanvasMap:
    """How to cut one overlay placement out of a frame of one size.

    transform: 2x3 template -> video; size: template (W, H); frame: video (width, height);
    canvas: (width, height) and (sx, sy) of the Renderer at `scale` (its output grid).
    """

    transform: np.ndarray
    size: tuple[int, int]
    frame: tuple[int, int]
    scale: float
    canvas: tuple[int, int]
    sxy: tuple[float, float]
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 in video pixels, even, clipped
    shrunk: tuple[int, int]  # (w, h) the roi is area-resized to before the warp
    warp: np.ndarray  # 2x3: canvas pixel index -> (shrunk) roi pixel index

    @classmethod
    def make(
        cls,
        transform: np.ndarray,
        size: tuple[int, int],
        frame: tuple[int, int],
        scale: float | None = None,
        max_side: int = CANVAS_MAX,
    ) -> CanvasMap:
        T = np.asarray(transform, np.float64).reshape(2, 3)
        W, H = size
        if scale is None:
            scale = working_scale(T, size, max_side)
        cw, ch = max(1, round(W * scale)), max(1, round(H * scale))
        sx, sy = cw / W, ch / H
        # canvas index (u, v) -> template point ((u + .5) / sx, (v + .5) / sy) -> video point
        # -> video index (minus .5)
        c2t = np.array([[1 / sx, 0, 0.5 / sx], [0, 1 / sy, 0.5 / sy], [0, 0, 1]])
        t2v = np.vstack([T, [0, 0, 1]])
        c2v = t2v @ c2t
        c2v[:2, 2] -= 0.5
        corners = np.array([[0, 0, 1], [cw, 0, 1], [0, ch, 1], [cw, ch, 1]], np.float64)
        pts = (c2v @ corners.T)[:2].T
        fw, fh = frame
        x0 = max(0, math.floor(pts[:, 0].min()) - 2)
        y0 = max(0, math.floor(pts[:, 1].min()) - 2)
        x1 = min(fw, math.ceil(pts[:, 0].max()) + 3)
        y1 = min(fh, math.ceil(pts[:, 1].max()) + 3)
        x0, y0 = x0 - x0 % 2, y0 - y0 % 2  # whole chroma samples
        x1, y1 = min(fw - fw % 2, x1 + x1 % 2), min(fh - fh % 2, y1 + y1 % 2)
        if x1 <= x0 or y1 <= y0:
            x0, y0, x1, y1 = 0, 0, 2, 2  # off screen: a dummy crop, everything reads empty
        f = video_scale(T) / scale
        rw, rh = x1 - x0, y1 - y0
        shrunk = (rw, rh)
        if f >= PRESCALE_FROM:  # area-shrink first: a bilinear warp would alias
            shrunk = (max(1, round(rw / f)), max(1, round(rh / f)))
        m = c2v.copy()
        m[0, 2] -= x0
        m[1, 2] -= y0
        m = _shrink_matrix((rw, rh), shrunk) @ m
        return cls(
            T, (W, H), (fw, fh), float(scale), (cw, ch), (sx, sy), (x0, y0, x1, y1), shrunk, m[:2]
        )

    def refined(self, correction: np.ndarray) -> CanvasMap:
        """The same map with a small canvas-space correction applied first: canvas index u
        is read where the old map read `correction @ [u, 1]`."""
        c = np.vstack([np.asarray(correction, np.float64).reshape(2, 3), [0, 0, 1]])
        w = np.vstack([self.warp, [0, 0, 1]]) @ c
        # the template -> video transform that this corresponds to (for the record)
        sx, sy = self.sxy
        t2c = np.array([[sx, 0, -0.5], [0, sy, -0.5], [0, 0, 1]])  # template pt -> canvas idx
        c2v = self._roi_to_video() @ w
        t2v = c2v @ t2c
        t2v[:2, 2] += 0.5
        return CanvasMap(
            t2v[:2],
            self.size,
            self.frame,
            self.scale,
            self.canvas,
            self.sxy,
            self.roi,
            self.shrunk,
            w[:2],
        )

    def _roi_to_video(self) -> np.ndarray:
        x0, y0, x1, y1 = self.roi
        m = np.linalg.inv(_shrink_matrix((x1 - x0, y1 - y0), self.shrunk))
        m[0, 2] += x0
        m[1, 2] += y0
        return m

    # -- cutting ------------------------------------------------------------------------
    def from_rgb_roi(self, roi: np.ndarray, as_float: bool = True) -> np.ndarray:
        """(ch, cw, 3) canvas from the RGB uint8 video crop at `roi`: float32 in [0, 1],
        or uint8 (cheaper, for crops that are converted later)."""
        if self.shrunk != (roi.shape[1], roi.shape[0]):
            if roi.dtype == np.uint8:  # OpenCV's float area resize is ~2.5x faster, and
                # rounded back it gives the very same bytes
                small = cv2.resize(
                    roi.astype(np.float32), self.shrunk, interpolation=cv2.INTER_AREA
                )
                roi = cv2.convertScaleAbs(small)
            else:
                roi = cv2.resize(roi, self.shrunk, interpolation=cv2.INTER_AREA)
        out = cv2.warpAffine(
            roi,
            self.warp,
            self.canvas,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
        return out.astype(np.float32) * np.float32(1 / 255) if as_float else out

    def from_rgb_frame(self, frame: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = self.roi
        return self.from_rgb_roi(np.ascontiguousarray(frame[y0:y1, x0:x1]))

    def roi_rgb(self, frame: object, exact: bool = False) -> np.ndarray:
        """The RGB uint8 crop at `roi` of an av.VideoFrame: converted from its I420 planes
        (cheap), or from the whole frame when `exact` or the frame is not plain I420."""
        x0, y0, x1, y1 = self.roi
        if exact or getattr(frame.format, "name", "") != "yuv420p":  # type: ignore[attr-defined]
            full = frame.to_ndarray(format="rgb24")  # type: ignore[attr-defined]
            return np.ascontiguousarray(full[y0:y1, x0:x1])
        return i420_crop(frame, self.roi)


def _shrink_matrix(size: tuple[int, int], shrunk: tuple[int, int]) -> np.ndarray:
    """Pixel index in an image of `size` -> index in it resized to `shrunk` (cv2.resize's
    pixel-centre convention)."""
    fx, fy = size[0] / shrunk[0], size[1] / shrunk[1]
    return np.array([[1 / fx, 0, 0.5 / fx - 0.5], [0, 1 / fy, 0.5 / fy - 0.5], [0, 0, 1]])


def plane(frame: object, i: int) -> np.ndarray:
    """A decoded frame's plane i as a (rows, line_size) uint8 view (no copy)."""
    p = frame.planes[i]  # type: ignore[attr-defined]
    return np.frombuffer(p, np.uint8).reshape(-1, p.line_size)


def i420_crop(frame: object, roi: tuple[int, int, int, int]) -> np.ndarray:
    """RGB uint8 of an even-aligned rectangle of a yuv420p frame (BT.601, limited range,
    as swscale converts an untagged stream)."""
    x0, y0, x1, y1 = roi
    w, h = x1 - x0, y1 - y0
    y = plane(frame, 0)[y0:y1, x0:x1]
    u = plane(frame, 1)[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2]
    v = plane(frame, 2)[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2]
    buf = np.empty((h * 3 // 2, w), np.uint8)
    buf[:h] = y
    buf[h:].reshape(-1)[: u.size] = u.reshape(-1)
    buf[h:].reshape(-1)[u.size :] = v.reshape(-1)
    return cv2.cvtColor(buf, cv2.COLOR_YUV2RGB_I420)


# -- crops straight from the video ---------------------------------------------------------
MAX_SKEW = 0.25  # canvas px a box may be read off for want of its rotation (ECC noise: ~0.1)


def _resize_axis(n_in: int, n_out: int, interp: int) -> np.ndarray:
    """(n_out, n_in): cv2.resize along one axis as a matrix, with OpenCV's own weights."""
    if n_in == n_out:
        return np.eye(n_in)
    eye = np.eye(n_in, dtype=np.float32)
    return cv2.resize(eye, (n_out, n_in), interpolation=interp).T.astype(np.float64)


def _warp_axis(n_in: int, n_out: int, a: float, b: float) -> np.ndarray:
    """(n_out, n_in): warpAffine's bilinear read at a * u + b along one axis (zero
    outside), with OpenCV's own sub-pixel steps."""
    eye = np.eye(n_in, dtype=np.float32)
    m = np.array([[a, 0, b], [0, 1, 0]], np.float64)
    out = cv2.warpAffine(
        eye,
        m,
        (n_out, n_in),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return out.T.astype(np.float64)


def _fit_axis(n_in: int, size: int) -> np.ndarray:
    """(size, n_in): looks.fit along one axis (area when it shrinks, linear when it grows)."""
    interp = cv2.INTER_AREA if n_in > size else cv2.INTER_LINEAR
    return _resize_axis(n_in, size, interp)


@dataclass
class _Box:
    """One box's crops (at one or more sizes) as small matrices over the video rows and
    columns they read: crop = ry @ roi[y0:y1, x0:x1] @ rxt, per channel."""

    y0: int
    y1: int
    x0: int
    x1: int
    sizes: list[int]  # each once: slots of one box at one size read the same crop
    rxt: np.ndarray  # (x1 - x0, sum of sizes), float32
    ry: list[np.ndarray]  # per size (S, y1 - y0), float32, with uint8's 1/255 folded in
    slots: list[list[tuple[int, int]]]  # per size: (group, index in the group) of each


def _span(r: np.ndarray) -> tuple[int, int]:
    used = np.flatnonzero(np.abs(r).sum(axis=0) > 1e-9)
    return (int(used[0]), int(used[-1]) + 1) if len(used) else (0, 1)


class CropReader:
    """Crops of canvas boxes, each resized to S x S, computed straight from video crops.

    Area shrinking, the bilinear warp onto the canvas and a box's resize (`looks.fit`)
    are all linear and, for an upright overlay, separable: a box's S x S crop is
    `Ry @ roi @ Rx.T` per channel, with Ry and Rx read off OpenCV's own operations. That
    skips the whole canvas, which costs several times more than the crops themselves
    (the results differ from the canvas path's by its rounding to uint8, about 1/255).
    A placement rotated so much that a box would be read more than MAX_SKEW canvas
    pixels off has no reader (`make` gives None): the canvas is used then.
    """

    def __init__(self, boxes: list[_Box], groups: list[tuple[int, int]]):
        self.boxes = boxes
        self.groups = groups  # (boxes in the group, S)

    @classmethod
    def make(
        cls, cmap: CanvasMap, groups: list[tuple[list[tuple[int, int, int, int]], int]]
    ) -> CropReader | None:
        w = cmap.warp
        x0, y0, x1, y1 = cmap.roi
        (rw, rh), (sw, sh) = (x1 - x0, y1 - y0), cmap.shrunk
        ax = _resize_axis(rw, sw, cv2.INTER_AREA)
        ay = _resize_axis(rh, sh, cv2.INTER_AREA)
        # per box, per size it is read at: (rx, ry, the slots reading it)
        parts: dict[tuple[int, int, int, int], dict[int, tuple]] = {}
        for g, (boxes, size) in enumerate(groups):
            for i, box in enumerate(boxes):
                x, y, bw, bh = box
                if abs(w[0, 1]) * bh / 2 + abs(w[1, 0]) * bw / 2 > MAX_SKEW:
                    return None
                at = parts.setdefault(tuple(box), {})
                if size not in at:
                    uc, vc = x + (bw - 1) / 2, y + (bh - 1) / 2
                    # the box's column u = x + i reads the shrunk crop at w00 u + w01 vc + w02
                    bx = _warp_axis(sw, bw, w[0, 0], w[0, 2] + w[0, 1] * vc + w[0, 0] * x)
                    by = _warp_axis(sh, bh, w[1, 1], w[1, 2] + w[1, 0] * uc + w[1, 1] * y)
                    rx = _fit_axis(bw, size) @ bx @ ax
                    ry = _fit_axis(bh, size) @ by @ ay
                    at[size] = (rx, ry, [])
                at[size][2].append((g, i))
        out = []
        for members in parts.values():
            rx = np.concatenate([m[0] for m in members.values()])
            ry = np.concatenate([m[1] for m in members.values()])
            (cx0, cx1), (cy0, cy1) = _span(rx), _span(ry)
            out.append(
                _Box(
                    cy0,
                    cy1,
                    cx0,
                    cx1,
                    list(members),
                    np.ascontiguousarray(rx[:, cx0:cx1].T, dtype=np.float32),
                    [(m[1][:, cy0:cy1] / 255).astype(np.float32) for m in members.values()],
                    [m[2] for m in members.values()],
                )
            )
        return cls(out, [(len(boxes), size) for boxes, size in groups])

    def __call__(self, rois: np.ndarray) -> list[np.ndarray]:
        """RGB uint8 video crops (B, rh, rw, 3) at cmap.roi -> per group of boxes,
        (B, n, S, S, 3) float32 in [0, 1]."""
        B = len(rois)
        t = np.asarray(rois).transpose(0, 1, 3, 2)  # (B, rh, 3, rw): columns last
        result = [np.empty((B, n, size, size, 3), np.float32) for n, size in self.groups]
        for b in self.boxes:
            h, w = b.y1 - b.y0, b.x1 - b.x0
            sub = t[:, b.y0 : b.y1, :, b.x0 : b.x1].astype(np.float32)  # (B, h, 3, w)
            cols = (sub.reshape(-1, w) @ b.rxt).reshape(B, h, 3, -1)
            at = 0
            for size, ry, slots in zip(b.sizes, b.ry, b.slots, strict=True):
                part = cols[..., at : at + size].reshape(B, h, 3 * size)
                both = np.matmul(ry, part)  # (B, S, 3 * S)
                crop = both.reshape(B, size, 3, size).transpose(0, 1, 3, 2)
                for g, i in slots:
                    result[g][:, i] = crop
                at += size
        return result


class PointSampler:
    """Canvas pixels at a few points, straight from a video crop: each point is the mean
    of k x k bilinear reads around where it lands, k the area shrink's factor (a box
    blur, then a bilinear read). Close to the canvas's own values (not equal: a box is
    not the area resize's exact weights), at a fraction of its cost; for the per-frame
    presence score."""

    def __init__(self, cmap: CanvasMap, points: np.ndarray):
        cw = cmap.canvas[0]
        v, u = np.divmod(np.asarray(points, np.int64), cw)
        s = cmap.warp @ np.stack([u, v, np.ones_like(u)]).astype(np.float64)
        x0, y0, x1, y1 = cmap.roi
        fx, fy = (x1 - x0) / cmap.shrunk[0], (y1 - y0) / cmap.shrunk[1]
        shrinks = cmap.shrunk != (x1 - x0, y1 - y0)
        kx, ky = (max(1, round(fx)), max(1, round(fy))) if shrinks else (1, 1)
        x = (s[0] + 0.5) * fx - 0.5
        y = (s[1] + 0.5) * fy - 0.5
        ox, oy = np.meshgrid(np.arange(kx) - (kx - 1) / 2, np.arange(ky) - (ky - 1) / 2)
        self.k = kx * ky
        mx = (x[None] + ox.reshape(-1, 1)).astype(np.float32)  # (k, P)
        my = (y[None] + oy.reshape(-1, 1)).astype(np.float32)
        self.maps = cv2.convertMaps(mx, my, cv2.CV_16SC2)  # remap's own fixed point, once

    def __call__(self, roi: np.ndarray) -> np.ndarray:
        """RGB uint8 video crop at cmap.roi -> (P, 3) float32 in [0, 1]."""
        out = cv2.remap(
            roi, *self.maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        total = out.sum(axis=0, dtype=np.uint32) if self.k > 1 else out[0]
        return total.astype(np.float32) * np.float32(1 / (255 * self.k))
