"""A tiny anti-aliased vector painter for the built-in skins: signed distance fields on
a pixel grid, premultiplied "over" painting, gradients, outlines, glows and text.

Shapes are signed distances in pixels (negative inside), so coverage, outlines and glows
all come from one field: coverage = clip(0.5 - d, 0, 1) is a one-pixel anti-aliased edge.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Colour = tuple[float, float, float]


def rgb(hex_colour: str) -> Colour:
    """'#rrggbb' -> (r, g, b) in [0, 1]."""
    h = hex_colour.lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255)


def mix(a: Colour, b: Colour, t: float) -> Colour:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def scale(c: Colour, k: float) -> Colour:
    return (min(1.0, c[0] * k), min(1.0, c[1] * k), min(1.0, c[2] * k))


class Canvas:
    """A premultiplied float32 RGBA image with a coordinate grid of pixel centres.

    (ox, oy) is the coordinate of the top-left pixel's corner, so shapes can be drawn in
    one frame (say, centred on a button) whatever image they land in. The image is kept
    as four planes (4, h, w): per-plane arithmetic on the covered rectangle only is many
    times faster than interleaved channels.
    """

    def __init__(self, w: int, h: int, ox: float = 0.0, oy: float = 0.0) -> None:
        self.w, self.h = w, h
        self.planes = np.zeros((4, h, w), np.float32)
        xs = np.arange(w, dtype=np.float32) + np.float32(0.5 + ox)
        ys = np.arange(h, dtype=np.float32) + np.float32(0.5 + oy)
        self.X, self.Y = np.meshgrid(xs, ys)
        self.ox, self.oy = ox, oy

    def copy(self) -> Canvas:
        """A canvas with a copy of this image, sharing its (read-only) coordinate grid."""
        out = Canvas.__new__(Canvas)
        out.__dict__.update(self.__dict__)
        out.planes = self.planes.copy()
        return out

    # -- painting ---------------------------------------------------------------------
    def paint(self, coverage: np.ndarray, colour: Colour | np.ndarray, alpha: float = 1.0) -> None:
        """Paint `colour` (a colour or a (3, h, w) array) over the image where covered."""
        a = np.clip(coverage, 0, 1).astype(np.float32, copy=False)
        rows = np.flatnonzero(a.any(axis=1))
        if len(rows) == 0 or alpha <= 0:
            return
        cols = np.flatnonzero(a.any(axis=0))
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        a = a[r0:r1, c0:c1] * np.float32(alpha)
        inv = 1 - a
        col = np.asarray(colour, np.float32)
        for i in range(3):
            plane = self.planes[i, r0:r1, c0:c1]
            plane *= inv
            plane += (col[i] if col.ndim == 1 else col[i, r0:r1, c0:c1]) * a
        plane = self.planes[3, r0:r1, c0:c1]
        plane *= inv
        plane += a

    def fill(self, d: np.ndarray, colour: Colour | np.ndarray, alpha: float = 1.0) -> None:
        self.paint(cover(d), colour, alpha)

    def stroke(
        self, d: np.ndarray, width: float, colour: Colour | np.ndarray, alpha: float = 1.0
    ) -> None:
        """An outline `width` pixels wide centred on the shape's edge."""
        self.paint(cover(np.abs(d) - width / 2), colour, alpha)

    def inner_stroke(
        self, d: np.ndarray, width: float, colour: Colour | np.ndarray, alpha: float = 1.0
    ) -> None:
        """An outline `width` pixels wide just inside the edge."""
        self.paint(cover(np.maximum(d, -d - width)), colour, alpha)

    def glow(self, d: np.ndarray, radius: float, colour: Colour, alpha: float = 0.8) -> None:
        """A soft halo outside the shape, fading over `radius` pixels."""
        outside = np.clip(d, 0, None)
        self.paint(np.exp(-((outside / max(radius, 1e-3)) ** 2) * 3) * (d > -0.5), colour, alpha)

    def vgrad(self, top: Colour, bottom: Colour, y0: float, y1: float) -> np.ndarray:
        """A vertical gradient from `top` at y0 to `bottom` at y1, as a (3, h, w) array."""
        t = np.clip((self.Y - y0) / max(y1 - y0, 1e-3), 0, 1)
        return _ramp(top, bottom, t)

    def radial(self, inner: Colour, outer: Colour, cx: float, cy: float, r: float) -> np.ndarray:
        """A radial gradient from `inner` at (cx, cy) to `outer` at distance r."""
        t = np.clip(np.hypot(self.X - cx, self.Y - cy) / max(r, 1e-3), 0, 1)
        return _ramp(inner, outer, t)

    def split(self, left: np.ndarray, right: np.ndarray, x: float) -> np.ndarray:
        """Two (3, h, w) colour fields joined at x: `left` before it, `right` after."""
        return np.where(self.X[None] > x, right, left)

    def text(
        self,
        s: str,
        cx: float,
        cy: float,
        height: float,
        colour: Colour,
        alpha: float = 1.0,
        bold: bool = True,
    ) -> None:
        """Text centred on (cx, cy), `height` pixels tall (cv2 Hershey font, anti-aliased)."""
        font = cv2.FONT_HERSHEY_DUPLEX if bold else cv2.FONT_HERSHEY_SIMPLEX
        base = cv2.getTextSize(s, font, 1.0, 1)[0]
        fscale = max(height, 1.0) / max(base[1], 1)
        thick = max(1, round(height / (7 if bold else 10)))
        (tw, th), _ = cv2.getTextSize(s, font, fscale, thick)
        mask = np.zeros((self.h, self.w), np.uint8)
        org = (round(cx - self.ox - tw / 2), round(cy - self.oy + th / 2))
        cv2.putText(mask, s, org, font, fscale, 255, thick, cv2.LINE_AA)
        self.paint(mask.astype(np.float32) / 255, colour, alpha)

    def set_pixel(self, x: int, y: int, colour: Colour, alpha: float = 1.0) -> None:
        for i in range(3):
            self.planes[i, y, x] = colour[i] * alpha
        self.planes[3, y, x] = alpha

    def rgba(self) -> np.ndarray:
        """Straight uint8 RGBA."""
        from nitrogen_cli.overlays.render import unpremultiply

        return unpremultiply(np.ascontiguousarray(self.planes.transpose(1, 2, 0)))


def _ramp(a: Colour, b: Colour, t: np.ndarray) -> np.ndarray:
    """(3, h, w): colour a where t is 0, b where t is 1."""
    return np.stack([np.float32(a[i]) + np.float32(b[i] - a[i]) * t for i in range(3)])


# -- signed distance fields ---------------------------------------------------------------
def cover(d: np.ndarray) -> np.ndarray:
    return np.clip(0.5 - d, 0, 1)


def circle(c: Canvas, cx: float, cy: float, r: float) -> np.ndarray:
    return np.hypot(c.X - cx, c.Y - cy) - r


def ellipse(c: Canvas, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    """Approximate distance to an ellipse (exact on the axes, close elsewhere)."""
    px, py = (c.X - cx) / rx, (c.Y - cy) / ry
    k = np.hypot(px, py)
    grad = np.hypot(px / rx, py / ry)
    return (k - 1) * k / np.maximum(grad, 1e-6)


def box(c: Canvas, cx: float, cy: float, hw: float, hh: float, r: float = 0.0) -> np.ndarray:
    """A rectangle of half sizes (hw, hh) with corners rounded by r."""
    r = min(r, hw, hh)
    qx = np.abs(c.X - cx) - hw + r
    qy = np.abs(c.Y - cy) - hh + r
    return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - r


def capsule(c: Canvas, ax: float, ay: float, bx: float, by: float, r: float) -> np.ndarray:
    """A segment from a to b, thickened to radius r."""
    pax, pay = c.X - ax, c.Y - ay
    bax, bay = bx - ax, by - ay
    h = np.clip((pax * bax + pay * bay) / max(bax * bax + bay * bay, 1e-6), 0, 1)
    return np.hypot(pax - bax * h, pay - bay * h) - r


def polygon(c: Canvas, points: Sequence[tuple[float, float]]) -> np.ndarray:
    """Signed distance to a closed polygon (negative inside, even-odd rule)."""
    pts = [(float(x), float(y)) for x, y in points]
    d = np.full(c.X.shape, np.inf, np.float32)
    inside = np.zeros(c.X.shape, bool)
    for (ax, ay), (bx, by) in zip(pts, pts[1:] + pts[:1], strict=True):
        ex, ey = bx - ax, by - ay
        wx, wy = c.X - ax, c.Y - ay
        t = np.clip((wx * ex + wy * ey) / max(ex * ex + ey * ey, 1e-9), 0, 1)
        d = np.minimum(d, np.hypot(wx - ex * t, wy - ey * t))
        crosses = (ay > c.Y) != (by > c.Y)
        xint = ax + (c.Y - ay) * ex / (ey if ey != 0 else 1e-9)
        inside ^= crosses & (xint > c.X)
    return np.where(inside, -d, d)


def union(*ds: np.ndarray) -> np.ndarray:
    out = ds[0]
    for d in ds[1:]:
        out = np.minimum(out, d)
    return out


def smooth_union(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Union with a rounded fillet of size k where the shapes meet."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0, 1)
    return b + (a - b) * h - k * h * (1 - h)


def subtract(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum(a, -b)


def intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum(a, b)
