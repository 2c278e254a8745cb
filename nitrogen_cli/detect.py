"""Find which overlay template a video shows, and where: `detect(video, templates)`.

How an overlay reaches the video. The plugin draws the template (premultiplied colour P,
alpha A, at some scale) over the game with an opacity `op`, so a video pixel is

    I = B + op * (P - B * A)

where B is the game underneath. Where B is even, I is linear in the template, with two
unknowns: the opacity and the background level b. The score of a placement fits that
model with one opacity for the whole overlay and one background level per small cell
(the game under an overlay is rarely even across all of it: a pillarbox edge, a wall),
and says how much of the pixels' variation within the cells it explains (an R² in
[0, 1]). A shared opacity makes every part of the template count: a generic shape that
happens to line up with one edge of the game explains that edge, not the template's
other parts. The fit is invariant to opacity and background level, holds for thin
line-art skins and for pixel art scaled up by nearest neighbour, and compares colour
variants on their colours. Parts that a gamepad state changes (buttons, sticks,
triggers: whatever any of a set of probe states redraws) are left out of every fit, so
held buttons do not matter.

The search:
  1. sample at most 25 frames (keyframes, by seeking) and average them: the game moves
     and blurs out while the overlay stays (the average still obeys the model);
  2. candidates from two sources: SIFT keypoints of the average matched to each
     template's keypoints (ratio test, then a RANSAC similarity with no rotation and a
     plausible scale), and a dense search of every template at every scale from 9% to
     38% of the frame width on the average shrunk to about 320 px (correlation with the
     template's P and A kernels: a windowed regression, on image and kernels high-passed
     alike so that a window over an edge of the game still fits one background level);
  3. each candidate is refined in scale and position at about 640 px, scored, and the
     best few again at full resolution (about 1280 px);
  4. look-alikes (templates of the same canvas size: colour variants, sibling layouts)
     are scored at the winning box, and the best fit wins; sibling layouts that tie
     (alike at rest) are told apart by what the sampled frames show moving;
  5. every sampled frame is scored at the winning box and wherever else that template
     was seen (an overlay that moves); the stable box is the one most frames agree on,
     each sample standing for the frames nearest to it.

Template features (reference renders, static masks, keypoints) are cached in memory and
on disk under $XDG_CACHE_HOME/nitrogen/detect (else ~/.cache/...), keyed by the
template's content.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import os
import re
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from nitrogen_cli.actions import BUTTONS, TRIGGERS, State
from nitrogen_cli.overlays import Template
from nitrogen_cli.overlays.render import PIXEL_ART_MAX

FEATURES_VERSION = 5  # bump when what is cached changes
REF_SIZE = 512  # longest side of a template's cached reference render
KEYPOINT_WIDTH = 400  # width at which template keypoints are found
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
NOISE = 2.0 / 255  # compression noise floor: a flat patch explains nothing
OPACITY = (0.25, 1.05)  # opacities a fit may take: fainter is no overlay, above 1 none
STRUCTURE = 6.0 / 255  # a cell counts in coverage when the drawing varies more than this
LOST_FLAT = 0.4  # drawn cells lost against a flat image that `seen` leaves out, at most
WEIGHT_POWER = 0.0  # cells weigh own-structure ** this in coverage
SIFT_CONTRAST = 0.02  # half OpenCV's default: an overlay at opacity 0.4 has little contrast
FLANN_TREES, FLANN_CHECKS = 4, 64  # approximate matching (keypoint_candidates)
SCORE_BLUR = 1.0  # Gaussian sigma (working pixels) applied to image and template in a fit
DECODE_BUDGET = 8  # with fewer keyframes than samples: frames decoded per sample, at most


@dataclass
class DetectConfig:
    """Knobs of the search; the defaults were calibrated on generated corpora."""

    samples: int = 25  # frames sampled from the video (at most)
    min_width: float = 0.09  # overlay canvas width as a fraction of the frame width
    max_width: float = 0.38
    coarse_size: int = 320  # longest side of the dense-search image
    mid_size: int = 640  # longest side of the refinement image
    work_size: int = 1280  # longest side of the keypoint and final-scoring image
    scale_step: float = 1.1  # ratio between dense-search scales
    peaks_per_template: int = 2  # dense-search peaks kept per template
    candidates: int = 8  # candidates refined at mid resolution
    covered: int = 4  # dense candidates added by their coverage at coarse scale
    finalists: int = 3  # refined again at full resolution
    min_inliers: int = 5  # keypoint matches a keypoint candidate needs
    min_opacity: float = 0.25  # fitted opacity a frame's match must reach
    max_opacity: float = 1.3
    frame_score: float = 0.5  # per-frame score for "shown in this frame"
    score: float = 0.65  # score on the frames' average for a detection
    evidence: float = 1.0  # coverage + R² / 2 on that average, for a detection
    opaque: float = 0.8  # ... or a fitted opacity this high with `opaque_coverage`
    opaque_coverage: float = 0.8
    explained: float = 0.8  # ... or an R² this high with `explained_coverage`
    explained_coverage: float = 0.5
    matched: int = 20  # ... or, for `score`, a keypoint match with this many inliers
    min_frames: float = 0.2  # fraction of sampled frames that must agree (and >= 3)
    cells: int = 8  # background cells across the overlay's longer side
    groups: int = 1  # averages searched: of all samples, or of their first, middle... part
    retry_groups: int = 3  # when nothing is found: search the averages of this many parts
    highpass: float = 0.15  # dense search: Gaussian high-pass, sigma this x the kernel's short side
    lost_flat: float = LOST_FLAT  # the decision: cells lost against a flat image left out


# -- template features -------------------------------------------------------------------
@dataclass
class Features:
    """What the search needs of one template.

    P: (h, w, 3) float32 premultiplied rest look in [0, 1] at the reference size; A: its
    alpha; M: each pixel's weight in a fit (1 static, BUTTON_WEIGHT only buttons redraw
    it, 0 a stick can cover it). Pixel-art templates are
    kept at their own size and point-scaled, as OBS does. kp_xy (k, 2) template-pixel
    positions and kp_desc (k, 128) SIFT descriptors of keypoints on the static parts.
    """

    id: str
    layout: str
    size: tuple[int, int]  # the template canvas (W, H)
    nearest: bool
    P: np.ndarray
    A: np.ndarray
    M: np.ndarray
    kp_xy: np.ndarray
    kp_desc: np.ndarray
    _kernels: OrderedDict = field(default_factory=OrderedDict, repr=False)

    @property
    def aspect(self) -> float:
        return self.size[1] / self.size[0]

    def _cached(self, key: tuple, make: Callable[[], Any]) -> Any:
        hit = self._kernels.get(key)
        if hit is None:
            hit = self._kernels[key] = make()
            while len(self._kernels) > 1024:  # the dense search's kernels, for a batch
                self._kernels.popitem(last=False)
        else:
            self._kernels.move_to_end(key)
        return hit

    def _colour(self, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(P, A, grey P) resampled to w x h pixels."""

        def make() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            src_w = self.P.shape[1]
            if self.nearest and w >= src_w:
                interp = cv2.INTER_NEAREST_EXACT
            elif w < src_w:
                interp = cv2.INTER_AREA
            else:
                interp = cv2.INTER_LINEAR
            SP, SA = self._source(w)
            P = cv2.resize(SP, (w, h), interpolation=interp)
            return P, cv2.resize(SA, (w, h), interpolation=interp), _grey(P)

        return self._cached(("c", w, h), make)

    def _source(self, w: int) -> tuple[np.ndarray, np.ndarray]:
        """The smallest halving of (P, A) at least twice w wide: an area shrink from it
        is the same average as from the reference, at a fraction of the cost (the dense
        search shrinks every template to ~16 sizes per video)."""
        P, A, level = self.P, self.A, 0
        while not self.nearest and P.shape[1] >= 4 * w and min(P.shape[:2]) >= 16:
            level += 1

            def half(P: np.ndarray = P, A: np.ndarray = A) -> tuple[np.ndarray, np.ndarray]:
                size = (P.shape[1] // 2, P.shape[0] // 2)
                return (
                    cv2.resize(P, size, interpolation=cv2.INTER_AREA),
                    cv2.resize(A, size, interpolation=cv2.INTER_AREA),
                )

            P, A = self._cached(("half", level), half)
        return P, A

    def kernels(self, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(P, A, M) resampled to w x h pixels (M: each pixel's weight in a fit)."""
        P, A, _ = self._colour(w, h)
        return P, A, self._cached(("m", w, h), lambda: _resize_weights(self.M, w, h))

    def look(self, w: int, h: int, w_full: float, h_full: float):
        """(P, A, M) at w x h pixels, as a render at w_full x h_full shrunk to that size
        (pixel art is point-scaled to full size first, so the blocks average alike)."""
        if not self.nearest:
            return self.kernels(w, h)
        wf, hf = max(1, round(w_full)), max(1, round(h_full))
        if (wf, hf) == (w, h):
            return self.kernels(w, h)
        P, A, _ = self.grey_look(w, h, w_full, h_full)
        M = self._cached(
            ("lm", w, h, wf, hf), lambda: _resize_weights(self.kernels(wf, hf)[2], w, h)
        )
        return P, A, M

    def soft_look(self, w: int, h: int, w_full: float, h_full: float):
        """`look` with P and A low-passed as every fit sees them (score_at)."""

        def make() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            P, A, M = self.look(w, h, w_full, h_full)
            return _soften(P), _soften(A), M

        key = ("s", w, h, max(1, round(w_full)), max(1, round(h_full)))
        return self._cached(key, make)

    def grey_look(self, w: int, h: int, w_full: float, h_full: float):
        """(P, A, grey P) as `look` draws them, without the weights (the dense search)."""
        if not self.nearest:
            return self._colour(w, h)
        wf, hf = max(1, round(w_full)), max(1, round(h_full))
        if (wf, hf) == (w, h):
            return self._colour(w, h)

        def make() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            P, A, _ = self._colour(wf, hf)
            P = cv2.resize(P, (w, h), interpolation=cv2.INTER_AREA)
            return P, cv2.resize(A, (w, h), interpolation=cv2.INTER_AREA), _grey(P)

        return self._cached(("l", w, h, wf, hf), make)


BUTTON_WEIGHT = 0.5  # a button's rest look counts half: it shows most of the time


def _resize_weights(M: np.ndarray, w: int, h: int) -> np.ndarray:
    """Resize a weight map whose values are 0, BUTTON_WEIGHT and 1: an output pixel takes
    the lowest weight of the pixels it covers (partly moving is moving)."""
    out = np.zeros((h, w), np.float32)
    for level in (BUTTON_WEIGHT, 1.0):
        cover = cv2.resize((level <= M).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
        out[cover > 0.999] = level
    return out


def probe_states() -> tuple[list[State], list[State]]:
    """(travelling states, button states) that between them redraw every part a gamepad
    state can change. Travelling: both sticks at three radii in twelve directions, and
    every d-pad direction (an arcade stick's ball is a d-pad: its look moves). Buttons:
    all pressed with triggers full, triggers half, clicks and guide."""
    moving = []
    for r in (0.35, 0.7, 1.0):
        for k in range(12):
            a = 2 * math.pi * k / 12
            xy = (r * math.cos(a), r * math.sin(a))
            moving.append(State(frozenset(), xy, xy))
    for combo in (
        {"dpad_up"},
        {"dpad_down"},
        {"dpad_left"},
        {"dpad_right"},
        {"dpad_up", "dpad_right"},
        {"dpad_up", "dpad_left"},
        {"dpad_down", "dpad_left"},
        {"dpad_down", "dpad_right"},
    ):
        moving.append(State(frozenset(combo)))
    every = frozenset(b for b in BUTTONS if b not in TRIGGERS)
    buttons = [
        State(every, triggers=(1.0, 1.0)),
        State(triggers=(0.5, 0.5)),
        State(frozenset({"left_thumb", "right_thumb", "guide"})),
    ]
    return moving, buttons


def _changed(r: Any, rest: np.ndarray, states: Sequence[State]) -> np.ndarray:
    """Pixels that any of `states` draws differently from the rest look (grown by one)."""
    out = np.zeros(rest.shape[:2], np.uint8)
    for s in states:
        out |= (np.abs(r.premultiplied(s) - rest).max(axis=2) > 2 / 255).astype(np.uint8)
    return cv2.dilate(out, np.ones((3, 3), np.uint8)) > 0


def _keypoints(P: np.ndarray, A: np.ndarray, M: np.ndarray, to_template: float):
    """SIFT keypoints of the rest look over black and over white (silhouette edges show
    on one or the other), where no stick travels (buttons show their rest look most of the
    time); positions in template pixels."""
    sift = cv2.SIFT_create(contrastThreshold=SIFT_CONTRAST)
    mask = (M >= BUTTON_WEIGHT).astype(np.uint8)
    mask = (cv2.erode(mask, np.ones((3, 3), np.uint8)) * 255).astype(np.uint8)
    xy, desc = [], []
    for bg in (0.0, 1.0):
        grey = np.clip((P @ LUMA + bg * (1 - A)) * 255 + 0.5, 0, 255).astype(np.uint8)
        kps, d = sift.detectAndCompute(grey, mask)
        if d is not None and len(kps):
            xy.append(np.array([k.pt for k in kps], np.float32) * to_template)
            desc.append(d)
    if not desc:
        return np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32)
    return np.vstack(xy), np.vstack(desc).astype(np.float32)


def reference_scale(t: Template) -> tuple[bool, float]:
    """(pixel art?, render scale) of a template's reference look: pixel art at its own
    size (point-scaled later, as OBS does), the rest at most REF_SIZE on its longer side."""
    W, H = t.size
    nearest = max(W, H) <= PIXEL_ART_MAX
    return nearest, 1.0 if nearest else min(1.0, REF_SIZE / max(W, H))


def compute_features(t: Template) -> Features:
    W, H = t.size
    nearest, scale = reference_scale(t)
    r = t.renderer(scale)
    rest = r.premultiplied(State())
    moving, buttons = probe_states()
    by_stick = _changed(r, rest, moving)
    by_other = _changed(r, rest, buttons) & ~by_stick
    # Weights: 1 static, BUTTON_WEIGHT where only buttons or triggers redraw, 0 where a
    # stick or the d-pad can draw (its look travels).
    M = np.where(by_stick, 0.0, np.where(by_other, BUTTON_WEIGHT, 1.0)).astype(np.float32)
    if (M == 1).mean() < 0.15:  # almost everything moves (a lone stick): fit the rest look
        M = np.ones_like(M)
    P = np.ascontiguousarray(rest[..., :3], np.float32)
    A = np.ascontiguousarray(rest[..., 3], np.float32)
    f = Features(t.id, t.layout, (W, H), nearest, P, A, M, np.zeros((0, 2)), np.zeros((0, 128)))
    kw = KEYPOINT_WIDTH
    kh = max(1, round(H * kw / W))
    Pk, Ak, Mk = f.look(kw, kh, kw, kh)
    f.kp_xy, f.kp_desc = _keypoints(Pk, Ak, Mk, W / kw)
    return f


def content_key(t: Template) -> str:
    """A digest of what the template draws (layout JSON and atlas): the cache key."""
    h = hashlib.sha1(f"v{FEATURES_VERSION}|{REF_SIZE}|{KEYPOINT_WIDTH}|".encode())
    h.update(t.layout_json.encode("utf-8"))
    png = getattr(t, "_atlas_png", None)  # presets keep their PNG bytes: no decode needed
    h.update(png if png is not None else np.ascontiguousarray(t.atlas).tobytes())
    return h.hexdigest()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "nitrogen" / "detect"


_MEMORY: dict[str, Features] = {}


def features(t: Template, disk: bool = True) -> Features:
    """The template's features: from memory, else from the disk cache, else computed
    (and saved). A damaged cache file is recomputed."""
    key = content_key(t)
    f = _MEMORY.get(key)
    if f is not None:
        return _renamed(f, t)
    path = cache_dir() / f"{key}.npz"
    if disk and path.is_file():
        with contextlib.suppress(Exception), np.load(path) as z:
            f = Features(
                t.id,
                t.layout,
                t.size,
                bool(z["nearest"]),
                z["P"].astype(np.float32) / 255,
                z["A"].astype(np.float32) / 255,
                z["M"].astype(np.float32) / 2,
                z["kp_xy"].astype(np.float32),
                z["kp_desc"].astype(np.float32),
            )
    if f is None:
        f = compute_features(t)
        if disk:
            _save(path, f)
    _MEMORY[key] = f
    return _renamed(f, t)


def _renamed(f: Features, t: Template) -> Features:
    """Two templates may draw the same thing under different ids: each keeps its own."""
    if f.id == t.id and f.layout == t.layout:
        return f
    return Features(t.id, t.layout, f.size, f.nearest, f.P, f.A, f.M, f.kp_xy, f.kp_desc)


def _save(path: Path, f: Features) -> None:
    """Write atomically; a cache that cannot be written is only slower, never an error."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh,
                nearest=np.array(f.nearest),
                P=np.round(f.P * 255).astype(np.uint8),
                A=np.round(f.A * 255).astype(np.uint8),
                M=np.round(f.M * 2).astype(np.uint8),
                kp_xy=f.kp_xy.astype(np.float32),
                kp_desc=f.kp_desc.astype(np.float32),
            )
        os.replace(tmp, path)


def prepare(templates: Sequence[Template]) -> list[Features]:
    """Features of every template (computed once, then cached)."""
    return [features(t) for t in templates]


# -- the model fits ----------------------------------------------------------------------
class Windows:
    """Sums over every w x h window of one grey image, kept per window size: the part of
    the regression that does not depend on the template."""

    def __init__(self, img: np.ndarray) -> None:
        self.img = img
        self._s, self._sq = cv2.integral2(img, sdepth=cv2.CV_64F)
        self._stats: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def stats(self, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """(window mean, 1 / (window variation + noise floor)), float32 maps."""
        hit = self._stats.get((w, h))
        if hit is None:
            s, sq = self._s, self._sq
            s1 = s[h:, w:] - s[:-h, w:] - s[h:, :-w] + s[:-h, :-w]
            s2 = sq[h:, w:] - sq[:-h, w:] - sq[h:, :-w] + sq[:-h, :-w]
            n = float(w * h)
            total = np.maximum(s2 - s1 * s1 / n, 0) + n * NOISE**2
            hit = ((s1 / n).astype(np.float32), (1 / total).astype(np.float32))
            self._stats[(w, h)] = hit
        return hit


def regression_map(
    img: np.ndarray | Windows,
    P: np.ndarray,
    A: np.ndarray,
    M: np.ndarray | None = None,
    op_range: tuple[float, float] = (0.1, 1.1),
) -> np.ndarray:
    """R² of the regression I ~ c + cA*A + op*P at every window position of a grey image.

    Fast and loose (one background level for the whole window, cA free): what the dense
    search and the refinement rank positions by. Positions whose fitted opacity is out
    of `op_range` score 0. With M only the static pixels count (weighted by M).
    """
    h, w = P.shape
    if M is None:
        win = img if isinstance(img, Windows) else Windows(img)
        img = win.img
        mean, inv_total = win.stats(w, h)
        n = float(w * h)
        Aw, Pw = A, P
    else:
        assert isinstance(img, np.ndarray)
        Aw, Pw = A * M, P * M
        n = float(M.sum())
        if n < 8:
            return np.zeros((img.shape[0] - h + 1, img.shape[1] - w + 1), np.float32)
        s1 = cv2.matchTemplate(img, M, cv2.TM_CCORR)
        s2 = cv2.matchTemplate(img * img, M, cv2.TM_CCORR)
        mean = s1 / np.float32(n)
        inv_total = 1 / (np.maximum(s2 - s1 * mean, 0) + np.float32(n * NOISE**2))
    sa = cv2.matchTemplate(img, Aw, cv2.TM_CCORR)
    sp = cv2.matchTemplate(img, Pw, cv2.TM_CCORR)
    a, p = float(Aw.sum()), float(Pw.sum())
    caa = float((Aw * A).sum()) - a * a / n
    cpp = float((Pw * P).sum()) - p * p / n
    cap = float((Aw * P).sum()) - a * p / n
    ca = sa - np.float32(a) * mean
    cp = sp - np.float32(p) * mean
    det = caa * cpp - cap * cap
    if caa < 1e-6 * n or det < 1e-6 * caa * cpp:
        # A is flat (an opaque panel) or P a multiple of A (line art in one colour):
        # one regressor carries it all.
        if cpp > 1e-6 * n:
            op = cp * np.float32(1 / cpp)
            explained = cp * op
        else:
            k = ca * np.float32(1 / max(caa, 1e-12))
            explained = ca * k
            op = k * np.float32(max(a, 1e-12) / max(p, 1e-6))
    else:
        op = (np.float32(caa) * cp - np.float32(cap) * ca) * np.float32(1 / det)
        explained = (
            np.float32(cpp / det) * ca * ca
            - np.float32(2 * cap / det) * ca * cp
            + np.float32(caa / det) * cp * cp
        )
    r2 = explained * inv_total
    r2[(op < op_range[0]) | (op > op_range[1])] = 0
    return r2


def _grid(n: int, parts: int) -> np.ndarray:
    return np.linspace(0, n, parts + 1).round().astype(np.int64)


def local_fit(
    I: np.ndarray,  # noqa: E741 (the image I of the model)
    P: np.ndarray,
    A: np.ndarray,
    M: np.ndarray,
    cells: int = 8,
    detail: dict | None = None,
    lost_flat: float = LOST_FLAT,
) -> tuple[float, float, float]:
    """(R², opacity, coverage) of the model I = b + op * (P - b * A) over the static pixels,
    with one opacity and, per cell of a grid, one background level per channel. `detail`
    gets the per-cell figures, and `seen`: coverage without the drawn cells lost against
    a flat image, where at most `lost_flat` of them are.

    The score is 1 - residual / variation within the cells. For a fixed opacity the best
    backgrounds are closed form, so the opacity is found on a grid and a parabola.
    """
    h, w = A.shape
    ny = max(1, min(cells, round(cells * h / max(w, h)), h // 3))
    nx = max(1, min(cells, round(cells * w / max(w, h)), w // 3))
    gy, gx = _grid(h, ny)[:-1], _grid(w, nx)[:-1]
    if I.ndim == 2:
        I, P = I[..., None], P[..., None]  # noqa: E741
    c = I.shape[2]
    # Every per-cell sum in one pass over one array of the ten products, channels first
    # (small arrays: numpy's per-call cost is what counts here).
    Ic = np.moveaxis(I, 2, 0).astype(np.float32)
    Pc = np.moveaxis(P, 2, 0).astype(np.float32)
    Mw = M.astype(np.float32)
    A1 = A.astype(np.float32)
    X = np.empty((7 * c + 3, h, w), np.float32)
    IM, PM, AM = X[:c], X[3 * c : 4 * c], X[7 * c + 1]
    np.multiply(Ic, Mw, out=IM)
    np.multiply(IM, Ic, out=X[c : 2 * c])
    np.multiply(IM, Pc, out=X[2 * c : 3 * c])
    np.multiply(Pc, Mw, out=PM)
    np.multiply(PM, Pc, out=X[4 * c : 5 * c])
    np.multiply(IM, A1, out=X[5 * c : 6 * c])
    np.multiply(PM, A1, out=X[6 * c : 7 * c])
    X[7 * c] = Mw
    np.multiply(A1, Mw, out=AM)
    np.multiply(AM, A1, out=X[7 * c + 2])
    X = np.add.reduceat(np.add.reduceat(X, gy, axis=1), gx, axis=2).astype(np.float64)
    X = np.moveaxis(X, 0, 2)  # (cells y, cells x, sums)
    s_i, s_ii, s_ip, s_p, s_pp, s_ia, s_pa = (X[..., j * c : (j + 1) * c] for j in range(7))
    n, s_a, s_aa = (X[..., 7 * c + j : 7 * c + j + 1] for j in range(3))
    ok = n > 3
    if not ok.any():
        return 0.0, 0.0, 0.0
    nn = np.maximum(n, 1)
    tss = (
        float(np.where(ok, s_ii - s_i * s_i / nn, 0).sum()) + float(n.sum()) * I.shape[2] * NOISE**2
    )

    def rss(op: np.ndarray) -> np.ndarray:
        """The residual at each opacity of `op`."""
        o = op.reshape(-1, 1, 1, 1)
        rr = s_ii - 2 * o * s_ip + o * o * s_pp
        ru = s_i - o * s_ia - o * s_p + o * o * s_pa
        uu = n - 2 * o * s_a + o * o * s_aa
        good = uu > 1e-9 * nn
        val = np.where(good, rr - ru * ru / np.where(good, uu, 1), rr)
        return np.where(ok, val, 0).sum(axis=(1, 2, 3))

    grid = np.linspace(OPACITY[0], OPACITY[1], 17)
    vals = rss(grid).tolist()
    k = int(np.argmin(vals))
    op = float(grid[k])
    if 0 < k < len(grid) - 1:
        y0, y1, y2 = vals[k - 1], vals[k], vals[k + 1]
        den = y0 - 2 * y1 + y2
        if den > 0:
            op += 0.5 * (y0 - y2) / den * float(grid[1] - grid[0])
    r2 = max(0.0, 1.0 - float(rss(np.array([op]))[0]) / tss)
    # Coverage: how much of the structure the template predicts the image shows, cell by
    # cell. In a cell, beta = cov(I, pred) / var(pred) is 1 where the image shows the
    # template's structure at the fitted opacity and 0 where it lacks it; structure of
    # the game's own (seen through a translucent overlay) adds noise to beta but no
    # bias. Coverage is the mean of beta clipped to [0, 1] over the cells where the
    # drawing varies: a shape that lines up with one edge of the game covers that edge's
    # cells only.
    ru = s_i - op * s_ia - op * s_p + op * op * s_pa
    uu = n - 2 * op * s_a + op * op * s_aa
    good = (uu > 1e-9 * nn) & ok
    b = np.where(good, ru / np.where(good, uu, 1), 0)
    sp = b * (n - op * s_a) + op * s_p  # sum of the prediction
    spp = b * b * uu + 2 * b * op * (s_p - op * s_pa) + op * op * s_pp  # of its square
    sip = b * (s_i - op * s_ia) + op * s_ip  # of image * prediction
    S = np.maximum(np.where(good, spp - sp * sp / nn, 0), 0).sum(-1)
    C = np.where(good, sip - s_i * sp / nn, 0).sum(-1)
    # The cells count by how much the drawing varies there over black or over white (by
    # its square root): the faint parts are what tell a skin from a rectangle of the
    # game's own, so they count, though the fit is surest where the drawing varies most.
    # A cell whose drawing is lost against this background (light lines over snow)
    # shows nothing of the template: it counts, with beta 0.
    v0 = s_pp - s_p * s_p / nn
    d = s_p - s_a
    v1 = s_pp - 2 * s_pa + s_aa - d * d / nn
    own = np.where(ok, np.maximum(v0, v1), 0).sum(-1)
    floor = nn[..., 0] * I.shape[2] * STRUCTURE**2
    drawn = own > floor
    visible = op * op * floor / 4 < S
    beta = np.where(visible, np.clip(C / np.maximum(S, 1e-12), 0, 1), 0.0)
    w = own**WEIGHT_POWER * drawn
    coverage = float((beta * w).sum() / w.sum()) if drawn.any() else 0.0
    if detail is not None:  # for calibration tools and the decision: the per-cell figures
        raw = np.where(visible, C / np.maximum(S, 1e-12), 0.0)
        vi = np.where(ok, s_ii - s_i * s_i / nn, 0).sum(-1)
        # A cell lost where the image is as flat as the fit predicts (an arcade stick's
        # dark halo over a black pillarbox) agrees with the template: `seen` leaves such
        # cells out, as long as most of the drawing shows elsewhere.
        flat = drawn & ~visible & (vi <= floor)
        keep = w * ~flat if flat.sum() <= lost_flat * drawn.sum() else w
        seen = float((beta * keep).sum() / keep.sum()) if keep.any() else 0.0
        detail.update(
            S=S, C=C, VI=vi, n=nn[..., 0], op=op, beta=beta, raw=raw, drawn=drawn, seen=seen
        )
    return r2, op, coverage


# -- placements ----------------------------------------------------------------------------
@dataclass
class Placement:
    """A template's canvas at (x, y), w x h video pixels; with its score once scored."""

    feat: Features
    x: float
    y: float
    w: float
    h: float
    score: float = 0.0
    opacity: float = 0.0
    source: str = ""
    frames: tuple[int, ...] = ()
    r2: float = 0.0
    coverage: float = 0.0  # the sampled frames whose average it was found on
    inliers: int = 0  # keypoint matches of the transform that first put a box here

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.w, self.h)

    @property
    def transform(self) -> np.ndarray:
        W, H = self.feat.size
        return np.array([[self.w / W, 0.0, self.x], [0.0, self.h / H, self.y]], np.float64)

    def moved(self, **kw: Any) -> Placement:
        """A copy, unscored, with some of feat, x, y, w, h, source, frames, inliers changed."""
        keep = ("feat", "x", "y", "w", "h", "source", "frames", "inliers")
        d = {k: getattr(self, k) for k in keep}
        d.update(kw)
        return Placement(**d)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two [x, y, w, h] boxes."""
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def score_at(
    img: np.ndarray,
    f: float,
    p: Placement,
    cells: int = 8,
    detail: dict | None = None,
    lost_flat: float = LOST_FLAT,
) -> tuple[float, float, float]:
    """local_fit's (R², opacity, balance) of placement p on an image at scale f (video
    pixels * f); a box hanging over the image's edge is scored on the part that shows."""
    H, W = img.shape[:2]
    x0, y0 = round(p.x * f), round(p.y * f)
    kw, kh = max(1, round(p.w * f)), max(1, round(p.h * f))
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + kw, W), min(y0 + kh, H)
    if cx1 - cx0 < 4 or cy1 - cy0 < 4:
        return 0.0, 0.0, 0.0
    # Image and template are both low-passed alike: the model is linear, so it still
    # holds, and what a codec loses (fine detail, sharp colour edges at high CRF) no
    # longer counts against the fit. Measured on an overlay at opacity 0.4, 128 px wide,
    # CRF 32: coverage at the true box 0.72 -> 0.92, against 0.69 -> 0.68 for a HUD panel
    # of the game's own.
    if (x0, y0, kw, kh) != (cx0, cy0, cx1 - cx0, cy1 - cy0):
        P, A, M = p.feat.look(kw, kh, p.w, p.h)
        sl = np.s_[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        crop, P, A, M = img[cy0:cy1, cx0:cx1], _soften(P[sl]), _soften(A[sl]), M[sl]
    else:
        # Inside the image (the usual case, its template side cached): cut the crop at the
        # box's sub-pixel position, so that a small overlay on a shrunk image lines up
        # with its kernel.
        P, A, M = p.feat.soft_look(kw, kh, p.w, p.h)
        centre = (p.x * f + kw / 2 - 0.5, p.y * f + kh / 2 - 0.5)
        crop = cv2.getRectSubPix(img, (kw, kh), centre)
    return local_fit(_soften(crop), P, A, M, cells, detail, lost_flat)


def _soften(z: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(z, (0, 0), SCORE_BLUR)


@dataclass
class Detection:
    """What `detect` found in one video."""

    video: str
    fps: float
    frame_count: int
    width: int
    height: int
    found: bool
    template: Template | None = None
    bbox: tuple[float, float, float, float] | None = None
    transform: np.ndarray | None = None
    score: float = 0.0  # coverage of the model on the sampled frames' average at bbox
    inliers: int = 0  # sampled frames that show the overlay at bbox
    keypoint_inliers: int = 0  # of the keypoint match that put the box there (0: none)
    opacity: float | None = None
    sample_frame_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    sample_found: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    sample_bbox: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    sample_score: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    why: str = ""  # when not found: a short reason for the note
    # other skins of the template's layout that fit the samples exactly as well, and
    # twin layouts over its atlas the samples voted for neither way: they draw the same
    # pixels at rest (only a pressed look differs), so no sample tells them apart;
    # extract-actions compares presses with their looks too
    ties: list[Template] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        """The /overlay attributes (formats.write_overlay)."""
        out: dict[str, Any] = {
            "found": bool(self.found),
            "video": str(Path(self.video).resolve()),
            "fps": float(self.fps),
            "frame_count": int(self.frame_count),
            "width": int(self.width),
            "height": int(self.height),
            "score": float(self.score),
            "inliers": int(self.inliers),
            "keypoint_inliers": int(self.keypoint_inliers),
            "samples": len(self.sample_frame_index),
        }
        if self.found and self.template is not None:
            out.update(
                template=self.template.id,
                layout=self.template.layout,
                bbox=np.asarray(self.bbox, np.float64),
                transform=np.asarray(self.transform, np.float64),
                layout_json=self.template.layout_json,
                opacity=float(self.opacity or 0.0),
            )
            if self.ties:
                out["skin_ties"] = [t.id for t in self.ties]
        return out

    def per_frame(self) -> dict[str, np.ndarray]:
        return {
            "sample_frame_index": np.asarray(self.sample_frame_index, np.int64),
            "sample_found": np.asarray(self.sample_found, bool),
            "sample_bbox": np.asarray(self.sample_bbox, np.float32).reshape(-1, 4),
            "sample_score": np.asarray(self.sample_score, np.float32),
        }


# -- the sampled frames ------------------------------------------------------------------
def _shrink(img: np.ndarray, f: float) -> np.ndarray:
    if f >= 1:
        return img
    h, w = img.shape[:2]
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _grey(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(img @ LUMA)


class Frames:
    """The sampled frames and averages of any subset of them, at three working scales
    (f: image pixels per video pixel), as float32 RGB in [0, 1].

    The search looks at the average of all samples (`groups` = 1) or of their first,
    middle and last part: an overlay that moves or hides partway shows whole in some
    part, where an average over everything would fade it.
    """

    def __init__(self, samples: Sequence[tuple[int, np.ndarray]], cfg: DetectConfig) -> None:
        h, w = samples[0][1].shape[:2]
        big = max(w, h)
        self.f_full = min(1.0, cfg.work_size / big)
        self.f_mid = min(self.f_full, cfg.mid_size / big)
        self.f_coarse = min(self.f_mid, cfg.coarse_size / big)
        self.index = np.array([i for i, _ in samples], np.int64)
        self.full = [_shrink(rgb, self.f_full) for _, rgb in samples]  # uint8
        self.mids = [
            _shrink(x, self.f_mid / self.f_full).astype(np.float32) * np.float32(1 / 255)
            for x in self.full
        ]
        self.groups = self.split(cfg.groups)
        self._means: dict[tuple[tuple[int, ...], str], np.ndarray] = {}

    def split(self, parts: int) -> list[tuple[int, ...]]:
        """The samples in `parts` runs of consecutive ones."""
        n = len(self.index)
        parts = max(1, min(parts, n))
        return [tuple(range(a, b)) for a, b in itertools.pairwise(_grid(n, parts))]

    def scale(self, level: str) -> float:
        return {"full": self.f_full, "mid": self.f_mid, "coarse": self.f_coarse}[level]

    def mean(self, frames: Sequence[int], level: str) -> np.ndarray:
        """The average of the sampled frames `frames` at "full", "mid" or "coarse" scale."""
        key = (tuple(frames), level)
        out = self._means.get(key)
        if out is None:
            if level == "full":
                total = np.zeros(self.full[0].shape, np.float32)
                for i in frames:
                    total += self.full[i]
                out = total * np.float32(1 / (255 * len(frames)))
            elif level == "mid":
                out = np.mean([self.mids[i] for i in frames], axis=0)
            else:
                out = _shrink(self.mean(frames, "mid"), self.f_coarse / self.f_mid)
            self._means[key] = out
        return out


# -- candidates ----------------------------------------------------------------------------
def _widths(cfg: DetectConfig, width: int, height: int, aspect: float) -> list[float]:
    """Canvas widths (video pixels) the dense search tries for a template of this aspect."""
    out = []
    w = cfg.min_width * width
    while w <= cfg.max_width * width * 1.0001:
        if w * aspect <= height:
            out.append(w)
        w *= cfg.scale_step
    return out


def keypoint_candidates(
    img: np.ndarray, f: float, feats: Sequence[Features], cfg: DetectConfig, size: tuple[int, int]
) -> list[Placement]:
    """Placements found by SIFT keypoints of an RGB image at scale f: per template,
    matches that pass the ratio test, then a RANSAC similarity, kept when it has no
    rotation, a plausible scale and at least `min_inliers` inliers."""
    grey = np.clip(_grey(img) * 255 + 0.5, 0, 255).astype(np.uint8)
    kps, desc = cv2.SIFT_create(contrastThreshold=SIFT_CONTRAST).detectAndCompute(grey, None)
    if desc is None or len(kps) < cfg.min_inliers:
        return []
    xy = np.array([k.pt for k in kps], np.float32) / f
    W = size[0]
    out = []
    use = [feat for feat in feats if len(feat.kp_desc) >= cfg.min_inliers]
    if not use:
        return []
    # Every template's keypoints in one approximate query of one index over the image's:
    # a quarter of the cost of exact matching template by template, and it keeps 96% of
    # the matches that pass the ratio test (measured on a 720p frame, 30 templates).
    flann = cv2.FlannBasedMatcher(dict(algorithm=1, trees=FLANN_TREES), dict(checks=FLANN_CHECKS))
    every = flann.knnMatch(np.vstack([feat.kp_desc for feat in use]), desc, k=2)
    starts = np.cumsum([0] + [len(feat.kp_desc) for feat in use[:-1]])
    for feat, start in zip(use, starts, strict=True):
        pairs = every[start : start + len(feat.kp_desc)]
        # One template keypoint per image keypoint, the closest: a skin repeats its
        # shapes (four face buttons, two sticks), and many-to-one matches let RANSAC
        # settle on a degenerate transform of scale zero with dozens of "inliers".
        unique: dict[int, Any] = {}
        for m in pairs:
            if len(m) == 2 and m[0].distance < 0.8 * m[1].distance:
                old = unique.get(m[0].trainIdx)
                if old is None or m[0].distance < old.distance:
                    unique[m[0].trainIdx] = m[0]
        good = list(unique.values())
        if len(good) < cfg.min_inliers:
            continue
        src = feat.kp_xy[[m.queryIdx - start for m in good]]
        dst = xy[[m.trainIdx for m in good]]
        T, inl = cv2.estimateAffinePartial2D(
            src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0 / f, maxIters=1000
        )
        if T is None or int(inl.sum()) < cfg.min_inliers:
            continue
        s = float(math.hypot(T[0, 0], T[1, 0]))
        rot = abs(math.degrees(math.atan2(T[1, 0], T[0, 0])))
        w, h = feat.size[0] * s, feat.size[1] * s
        if rot > 3 or not (0.8 * cfg.min_width * W <= w <= 1.25 * cfg.max_width * W):
            continue
        p = Placement(feat, float(T[0, 2]), float(T[1, 2]), w, h, source="keypoints")
        p.inliers = int(inl.sum())
        p.score = float(p.inliers)
        out.append(p)
    return out


def dense_candidates(
    img: np.ndarray, f: float, feats: Sequence[Features], cfg: DetectConfig, size: tuple[int, int]
) -> list[Placement]:
    """The best few placements of every template on a small RGB image at scale f, by the
    windowed regression. Templates are searched on threads (OpenCV's correlations and
    resizes release the GIL)."""
    grey = _grey(img)
    wins: dict[float, Windows] = {}  # a race makes one twice, harmlessly
    Hc, Wc = grey.shape

    def one(feat: Features) -> list[Placement]:
        best = np.zeros((Hc, Wc), np.float32)
        arg = np.full((Hc, Wc), -1, np.int32)
        widths = _widths(cfg, size[0], size[1], feat.aspect)
        dims = []
        for k, w in enumerate(widths):
            h = w * feat.aspect
            kw, kh = max(1, round(w * f)), max(1, round(h * f))
            dims.append((kw, kh))
            if kw < 6 or kh < 4 or kw > Wc or kh > Hc:
                continue
            _, A, Pg = feat.grey_look(kw, kh, w, h)
            sigma = round(2 * max(1.0, cfg.highpass * min(kw, kh))) / 2 if cfg.highpass else 0
            win = wins.get(sigma)
            if win is None:
                win = wins[sigma] = Windows(_highpass(grey, sigma))
            A, Pg = feat._cached(
                ("hp", kw, kh, w, sigma),
                lambda A=A, Pg=Pg, s=sigma: (_highpass(A, s), _highpass(Pg, s)),
            )
            r2 = regression_map(win, Pg, A)
            region = best[: r2.shape[0], : r2.shape[1]]
            better = r2 > region
            region[better] = r2[better]
            arg[: r2.shape[0], : r2.shape[1]][better] = k
        out = []
        for _ in range(cfg.peaks_per_template):
            i = int(np.argmax(best))
            py, px = divmod(i, Wc)
            if best[py, px] <= 0:
                break
            k = int(arg[py, px])
            p = Placement(feat, px / f, py / f, widths[k], widths[k] * feat.aspect, source="dense")
            p.score = p.r2 = float(best[py, px])
            out.append(p)
            kw, kh = dims[k]
            best[
                max(0, py - kh // 2) : py + kh // 2 + 1, max(0, px - kw // 2) : px + kw // 2 + 1
            ] = 0
        return out

    with ThreadPoolExecutor(max(1, min(len(feats), os.cpu_count() or 1))) as pool:
        return [p for found in pool.map(one, feats) for p in found]


def _highpass(z: np.ndarray, sigma: float) -> np.ndarray:
    """z less its Gaussian blur: the regression's one background level then holds over
    a window that straddles a step in the game (a pillarbox edge), as the model is
    linear and a step's high-pass is confined to a band along it."""
    return z - cv2.GaussianBlur(z, (0, 0), sigma) if sigma else z


def refine(
    img: np.ndarray, f: float, cand: Placement, ratios: np.ndarray, margin: int
) -> Placement:
    """The best of scales cand.w * ratios and positions within `margin` pixels, by the
    regression on static pixels of a grey image at scale f (video pixels * f)."""
    H, W = img.shape
    best, best_r2 = cand, -1.0
    for r in ratios:
        w, h = cand.w * r, cand.h * r
        kw, kh = max(1, round(w * f)), max(1, round(h * f))
        cx = round(cand.x * f + (cand.w * f - kw) / 2)
        cy = round(cand.y * f + (cand.h * f - kh) / 2)
        x0, y0 = max(0, cx - margin), max(0, cy - margin)
        x1, y1 = min(W, cx + kw + margin), min(H, cy + kh + margin)
        if x1 - x0 < kw or y1 - y0 < kh or kw < 6 or kh < 4:
            continue
        P, A, M = cand.feat.look(kw, kh, w, h)
        r2 = regression_map(img[y0:y1, x0:x1], _grey(P), A, M)
        py, px = divmod(int(np.argmax(r2)), r2.shape[1])
        if r2[py, px] > best_r2:
            best_r2 = float(r2[py, px])
            best = cand.moved(x=(x0 + px) / f, y=(y0 + py) / f, w=kw / f, h=kh / f)
    return best


def _dedupe(cands: Sequence[Placement], overlap: float = 0.5) -> list[Placement]:
    """Best first; drop a placement of a layout that overlaps a better one of it."""
    kept: list[Placement] = []
    for c in sorted(cands, key=lambda c: -c.score):
        if not any(k.feat.layout == c.feat.layout and iou(k.bbox, c.bbox) > overlap for k in kept):
            kept.append(c)
    return kept


def combine(r2: float, coverage: float) -> float:
    """One score from a fit's R² and coverage: coverage (R² is dominated by the
    strongest edges; coverage asks for every part of the template)."""
    return coverage


def _scored(img: np.ndarray, f: float, p: Placement, cfg: DetectConfig) -> Placement:
    p.r2, p.opacity, p.coverage = score_at(img, f, p, cfg.cells)
    p.score = combine(p.r2, p.coverage)
    return p


def polish(
    img: np.ndarray, f: float, p: Placement, cfg: DetectConfig, steps: int = 10
) -> Placement:
    """Hill-climb the score itself over position (one image pixel at a time) and size
    (one pixel of width at a time, about the centre), from placement p."""
    best = _scored(img, f, p.moved(), cfg)
    moves = ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1))
    for _ in range(steps):
        top = best
        for dx, dy, dw in moves:
            r = 1 + dw / max(best.w * f, 1.0)
            q = best.moved(
                x=best.x + dx / f - (r - 1) * best.w / 2,
                y=best.y + dy / f - (r - 1) * best.h / 2,
                w=best.w * r,
                h=best.h * r,
            )
            if _scored(img, f, q, cfg).score > top.score + 1e-4:
                top = q
        if top is best:
            break
        best = top
    return best


# -- detection -----------------------------------------------------------------------------
def search(
    fr: Frames,
    feats: Sequence[Features],
    size: tuple[int, int],
    cfg: DetectConfig,
    log: Callable[[str], None] = lambda _: None,
) -> list[Placement]:
    """Candidates from every group's average, refined and scored; best first."""
    found: list[Placement] = []
    for g in fr.groups:
        for p in keypoint_candidates(fr.mean(g, "full"), fr.f_full, feats, cfg, size):
            q = p.moved(frames=g)
            q.score = p.score  # inliers, to rank keypoint candidates among themselves
            found.append(q)
        coarse = fr.mean(g, "coarse")
        for p in dense_candidates(coarse, fr.f_coarse, feats, cfg, size):
            # Ranked by the windowed regression that found them: at coarse scale a peak is
            # a pixel or two off, which the finer scores do not forgive.
            q = p.moved(frames=g)
            q.score = q.r2 = p.score
            found.append(q)
    kp = _dedupe([p for p in found if p.source == "keypoints"])[: cfg.candidates]
    dense = _dedupe([p for p in found if p.source == "dense"])
    # The windowed regression ranks templates unevenly (a see-through pixel-art skin
    # peaked at 0.22 at its true box, below eight others' 0.33-0.49 at game features):
    # of the rest, the few that cover their template best at coarse scale go on too.
    rest = [
        _scored(fr.mean(p.frames, "coarse"), fr.f_coarse, p.moved(), cfg)
        for p in dense[cfg.candidates :]
    ]
    rest.sort(key=lambda p: -p.coverage)
    dense = dense[: cfg.candidates] + [p.moved() for p in rest[: cfg.covered]]
    log(f"keypoints: {[(p.feat.id, int(p.score)) for p in kp[:4]]}")
    log(f"dense: {[(p.feat.id, round(p.score, 3)) for p in dense[:4]]}")
    coarse_px = fr.f_mid / fr.f_coarse
    ratios = cfg.scale_step ** np.linspace(-0.5, 0.5, 5)
    mid = []
    for p in kp + dense:
        img = fr.mean(p.frames, "mid")
        if p.source == "keypoints":  # keypoint transforms are already close
            q = refine(_grey(img), fr.f_mid, p, np.array([0.98, 1.0, 1.02]), 2)
        else:
            q = refine(_grey(img), fr.f_mid, p, ratios, math.ceil(1.5 * coarse_px) + 1)
        mid.append(_scored(img, fr.f_mid, q, cfg))
    mid = _dedupe(mid)
    log(f"mid: {[(p.feat.id, p.source, round(p.score, 3)) for p in mid[:4]]}")
    out = []
    for p in mid[: cfg.finalists]:
        q = polish(fr.mean(p.frames, "mid"), fr.f_mid, p, cfg)
        out.append(polish(fr.mean(p.frames, "full"), fr.f_full, q, cfg, steps=4))
    return sorted(out, key=lambda p: -p.score) + mid[cfg.finalists :]


def scored_alike(
    img: np.ndarray, f: float, best: Placement, feats: Sequence[Features], cfg: DetectConfig
) -> list[Placement]:
    """best, and every other template with best's canvas size scored at best's box:
    colour variants of one layout, and sibling layouts drawn from the same atlas."""
    return [best] + [
        _scored(img, f, best.moved(feat=feat, source="look-alike"), cfg)
        for feat in feats
        if feat.size == best.feat.size and feat.id != best.feat.id
    ]


def look_alikes(
    scored: Sequence[Placement], parts: Callable[[str], int] = lambda _: 0
) -> list[Placement]:
    """The best-scoring of `scored_alike`'s placements, followed by its twins, if any.

    Another layout whose coverage is within LAYOUT_NEAR of the best's but whose drawing
    explains the pixels clearly better (R² higher by LAYOUT_R2) wins instead: two dark
    skins of different layouts can cover the same box alike, only one is drawn there.
    Twins are sibling layouts over one atlas (one adds a stick over the other's d-pad, or
    a guide button, or draws start elsewhere) that fit the average about as well (within
    LAYOUT_NEAR): they may draw the same pixels at rest, or differ in a part too small to
    move the fit. The one with fewest parts (`parts`: a template id's count of shown
    elements) comes first, then the one named for its texture (`paired_by_name`);
    `twin_moves` tells whether another's parts show.
    """
    out = max(scored, key=lambda q: q.score)  # the first of equals: best, if it is one
    rivals = [
        q
        for q in scored
        if q.feat.layout != out.feat.layout
        and q.score >= out.score - LAYOUT_NEAR
        and q.r2 >= out.r2 + LAYOUT_R2
    ]
    if rivals:
        return [max(rivals, key=lambda q: q.r2)]
    texture = out.feat.id.split("@")[0]  # a preset's <folder>/<texture>: the atlas
    twins = [
        q
        for q in scored
        if q.feat.id.split("@")[0] == texture and q.score >= out.score - LAYOUT_NEAR
    ]
    named = paired_by_name([q.feat.id for q in twins])
    return sorted(twins, key=lambda q: (parts(q.feat.id), -named[q.feat.id], q is not out))


def _words(name: str) -> set[str]:
    return {w for w in re.split(r"[^0-9a-z]+", name.lower()) if w}


def paired_by_name(ids: Sequence[str]) -> dict[str, int]:
    """How well each twin's layout name agrees with its texture's name, over the words
    that tell the twins' layout names apart: +1 for each such word the texture's name
    has too, -1 for each it lacks. A preset's author names a layout for the texture it
    was drawn for (`overlay-color.json` for `gameboy-color.png`): where the sampled
    frames cannot tell twins apart, that pairing is the likelier one."""
    layouts = {i: _words(i.partition("@")[2]) for i in ids}
    if not layouts:
        return {}
    common = set.intersection(*layouts.values())
    out = {}
    for i, words in layouts.items():
        texture = _words(i.partition("@")[0].rpartition("/")[2])
        out[i] = sum(1 if w in texture else -1 for w in words - common)
    return out


def twin_moves(
    frames: Sequence[np.ndarray], f: float, plain: Placement, a: Template, b: Template
) -> float:
    """How much better template b (a twin with more parts) than template a (`plain`'s)
    explains the sampled frames where the two can differ, each drawn in the probe state
    that fits a frame best: the share of frames where b's R² is higher by TWIN_GAIN,
    less the share where a's is. Frames where b's extra parts show (a guide button drawn
    at rest, a stick that moves) vote for b; frames where a's parts show where b draws
    its own vote for a; frames that show neither tie (the same look wins for both). The
    gains can be small (a stick one template pixel across, in a region that holds the
    d-pad): 0.004-0.03 on frames of a moving stick, exactly 0 or below on corpus videos
    of the plain layout."""
    W, H = a.size
    nearest, scale = reference_scale(a)
    moving, buttons = probe_states()
    states = [State(), *moving, *buttons]
    ra, rb = a.renderer(scale), b.renderer(scale)
    pairs = [(ra.premultiplied(s), rb.premultiplied(s)) for s in states]
    differ = np.zeros(pairs[0][0].shape[:2], np.uint8)  # where one state draws unlike
    for x, y in pairs:
        differ |= (np.abs(x - y).max(axis=2) > 2 / 255).astype(np.uint8)
    if not differ.any():
        return 0.0
    # Only the rectangle round that region is fitted (with a margin for the cells'
    # background levels), each look once: most probe states draw it alike.
    M = cv2.dilate(differ, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero(M)
    rh, rw = M.shape
    my = max(2, int(ys.max() - ys.min() + 1) // 4)
    mx = max(2, int(xs.max() - xs.min() + 1) // 4)
    y0, y1 = max(0, ys.min() - my), min(rh, ys.max() + 1 + my)
    x0, x1 = max(0, xs.min() - mx), min(rw, xs.max() + 1 + mx)
    cut = np.s_[y0:y1, x0:x1]
    sub = plain.moved(
        x=plain.x + plain.w * x0 / rw,
        y=plain.y + plain.h * y0 / rh,
        w=plain.w * (x1 - x0) / rw,
        h=plain.h * (y1 - y0) / rh,
    )
    size = (max(1, round(W * (x1 - x0) / rw)), max(1, round(H * (y1 - y0) / rh)))
    weights = M[cut].astype(np.float32)
    empty = np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32)

    def fits(x: np.ndarray) -> Placement:
        P, A = np.ascontiguousarray(x[..., :3]), np.ascontiguousarray(x[..., 3])
        return sub.moved(feat=Features("probe", "probe", size, nearest, P, A, weights, *empty))

    looks = [{z[k][cut].tobytes(): z[k][cut] for z in pairs} for k in (0, 1)]
    options = [[fits(x) for x in found.values()] for found in looks]
    pick = np.unique(np.linspace(0, len(frames) - 1, TWIN_FRAMES).round().astype(np.int64))
    frames = [frames[i] for i in pick]
    best = np.array(
        [[max(score_at(img, f, p)[0] for p in opts) for opts in options] for img in frames]
    )
    gains = best[:, 1] - best[:, 0]
    return float(np.mean(gains > TWIN_GAIN) - np.mean(gains < -TWIN_GAIN))


def tied_skins(scored: Sequence[Placement], place: Placement) -> list[str]:
    """Ids of the other skins of place's layout whose fit at its box (`scored_alike`) is
    within SKIN_TIE of its own in coverage and in R²: colour variants that draw the same
    pixels at rest."""
    return [
        q.feat.id
        for q in scored
        if q.feat.layout == place.feat.layout
        and q.feat.id != place.feat.id
        and abs(q.score - place.score) <= SKIN_TIE
        and abs(q.r2 - place.r2) <= SKIN_TIE
    ]


SKIN_TIE = 0.002  # fits this close are ties (skins identical at rest fit equal to 1e-4)
LAYOUT_NEAR = 0.05  # coverage within this of the best's ...
LAYOUT_R2 = 0.1  # ... and R² higher by this: that layout is the one drawn
TWIN_FRAMES = 12  # sampled frames twin_moves looks at, at most
TWIN_GAIN = 0.002  # a frame's gain in R² that votes for one twin (twin_moves): above rounding


APART = 0.3  # boxes of one layout overlapping less than this are two places


def decide(
    det: Detection,
    fr: Frames,
    cands: list[Placement],
    feats: Sequence[Features],
    templates: dict[str, Template],
    cfg: DetectConfig,
    log: Callable[[str], None] = lambda _: None,
    apart: float = APART,
) -> Detection:
    """Score every sampled frame at the best box and at the other boxes where its layout
    was seen (overlapping the ones before by less than `apart`); the stable box is the
    one most frames agree on, scored again on the average of those frames."""
    n = len(fr.index)
    det.sample_frame_index = fr.index
    det.sample_found = np.zeros(n, bool)
    det.sample_bbox = np.zeros((n, 4), np.float32)
    det.sample_score = np.zeros(n, np.float32)
    if not cands:
        det.why = "no template matches anywhere"
        return det
    best = cands[0]
    locations = [best]
    for m in cands[1:]:
        if m.feat.layout == best.feat.layout and all(
            iou(m.bbox, k.bbox) < apart for k in locations
        ):
            locations.append(m.moved(feat=best.feat))
    locations = locations[:3]
    which = np.full(n, -1, np.int64)
    for i, frame in enumerate(fr.mids):
        for j, loc in enumerate(locations):
            fit: dict = {}
            _, op, cov = score_at(frame, fr.f_mid, loc, cfg.cells, fit, cfg.lost_flat)
            s = max(cov, fit["seen"])  # cells lost against a flat image left out (below)
            shown = s >= cfg.frame_score and cfg.min_opacity <= op <= cfg.max_opacity
            if s > det.sample_score[i] and (shown or which[i] < 0):
                det.sample_score[i] = s
                if shown:
                    which[i] = j
    counts = np.bincount(which[which >= 0], minlength=len(locations))
    # Most frames, not most samples: samples cluster at keyframes, so each stands for the
    # frames from halfway to its neighbours.
    span = frame_spans(fr.index, det.frame_count)
    stable = int(np.argmax(np.bincount(which[which >= 0], span[which >= 0], len(locations))))
    agree = int(counts[stable])
    need = max(3, math.ceil(cfg.min_frames * n))
    shown = tuple(int(i) for i in np.flatnonzero(which == stable)) or best.frames
    # The stable box, polished and scored on the average of the frames that show it.
    q = polish(fr.mean(shown, "mid"), fr.f_mid, locations[stable].moved(frames=shown), cfg)
    place = polish(fr.mean(shown, "full"), fr.f_full, q, cfg, steps=4)
    if place.feat.nearest:
        place = fine_tuned(fr.mean(shown, "full"), fr.f_full, place, cfg)
    alike = scored_alike(fr.mean(shown, "full"), fr.f_full, place, feats, cfg)
    twins = look_alikes(alike, lambda i: len(templates[i].shows))
    place = twins[0]
    votes: dict[str, tuple[str, float]] = {}  # per twin: against which, and its vote

    def vote_on(other: Placement) -> float:
        a, b = templates[place.feat.id], templates[other.feat.id]
        vote = twin_moves([fr.mids[i] for i in shown], fr.f_mid, place, a, b)
        log(f"twin {other.feat.id}: vote {vote:+.2f} against {place.feat.id}")
        votes[other.feat.id] = (place.feat.id, vote)
        return vote

    for other in twins[1:]:
        if vote_on(other) >= cfg.min_frames:
            place = other
    # Twins with the same parts as the one taken that the frames voted for neither way
    # differ only where a rare press lights up (gameboy-pixel's `overlay` and
    # `overlay-color` light start at different pixels, and start is pressed in under 1%
    # of frames): they go to extract-actions as ties, which sees every frame.
    unsure: list[str] = []
    parts = set(templates[place.feat.id].shows)
    for other in twins:
        if other is place or set(templates[other.feat.id].shows) != parts:
            continue
        against, vote = votes.get(other.feat.id, ("", 0.0))
        if against != place.feat.id:
            vote = vote_on(other)
        if abs(vote) < cfg.min_frames:
            unsure.append(other.feat.id)
    log(
        f"stable: {place.feat.id} {[round(v) for v in place.bbox]} score {place.score:.3f} "
        f"R² {place.r2:.3f} op {place.opacity:.2f}, {agree} of {n} frames, "
        f"{place.inliers} keypoint inliers"
    )
    boxes = [loc.bbox for loc in locations]
    boxes[stable] = place.bbox
    for j, loc in enumerate(locations):
        if j != stable and counts[j]:
            own = tuple(int(i) for i in np.flatnonzero(which == j))
            boxes[j] = settle(fr, own, loc, cfg).bbox
            log(f"also at {[round(v) for v in boxes[j]]} in {len(own)} samples")
    for i, j in enumerate(which):
        if j >= 0:
            det.sample_found[i] = True
            det.sample_bbox[i] = boxes[j]
    # Cells whose drawing is lost against a flat image where the fit says it would be
    # count for nothing in the decision (G2 c26-0016, an arcade stick at opacity 0.55
    # whose dark halo vanishes into a black pillarbox: coverage 0.64 at the right box,
    # 0.92 without the lost cells). The box and its ranking stay coverage's own: left
    # out everywhere, a halo that no longer pins the size shrank two arcade-stick boxes
    # under IoU 0.9.
    fit = {}
    score_at(fr.mean(shown, "full"), fr.f_full, place, cfg.cells, fit, cfg.lost_flat)
    cover = max(combine(place.r2, place.coverage), combine(place.r2, fit["seen"]))
    if cover > place.score:
        log(f"coverage {place.coverage:.3f} -> {cover:.3f} without cells lost against a flat image")
    det.score = float(cover)
    det.inliers = agree
    det.keypoint_inliers = place.inliers
    det.opacity = float(place.opacity)
    # Coverage asks that every part of the template shows; R² that the model explains
    # the pixels. A plain panel of the game's own (a HUD bar, a score box) can cover a
    # simple skin's few parts, but then explains little of what is inside it.
    # A dark opaque skin explains little variance (flat black body, its highlights
    # smeared by presses in the average): then coverage of nearly every part at a fitted
    # opacity near 1 is the evidence. Game panels fit faint: on the dev corpora no
    # negative reached opacity 0.8 with coverage above 0.58 (29 videos).
    # And a fit that explains nearly all the variation in the box is evidence on its own,
    # though parts of the drawing are lost against the game (a dark shadow ring over a
    # black pillarbox: coverage 0.61, R² 0.99); on the dev corpora no fit where no
    # overlay was found reached R² 0.45.
    # Or the paper's own test stands in for R²: a similarity transform that at least 20
    # keypoint matches agree on put the box there. A dark see-through skin explains
    # little of its box (the game shows through it: coverage 0.81, R² 0.25, 28 inliers);
    # on the 90 videos of two corpora no video without an overlay gave a keypoint match
    # of even 5 inliers.
    evidence = cover + 0.5 * place.r2
    opaque = place.opacity >= cfg.opaque and cover >= cfg.opaque_coverage
    explained = place.r2 >= cfg.explained and cover >= cfg.explained_coverage
    matched = place.inliers >= cfg.matched
    if agree >= need and (
        (cover >= cfg.score and (evidence >= cfg.evidence or opaque or matched)) or explained
    ):
        det.found = True
        det.template = templates[place.feat.id]
        det.bbox = tuple(float(v) for v in place.bbox)  # type: ignore[assignment]
        det.transform = place.transform
        det.ties = [templates[i] for i in tied_skins(alike, place) + unsure]
        if det.ties:
            log(f"tied at rest: {[t.id for t in det.ties]}")
    else:  # then no frame shows it either
        det.sample_found[:] = False
        det.sample_bbox[:] = 0
        det.why = (
            f"no overlay found (best: {place.feat.id}, score {cover:.2f}, "
            f"R² {place.r2:.2f}, {agree} of {n} frames agree)"
        )
    return det


def refit(
    img: np.ndarray,
    f: float,
    p: Placement,
    cfg: DetectConfig,
    sizes: np.ndarray,
    margin: int,
    steps: int = 4,
) -> Placement:
    """Placement p tried at `sizes` times its own and every place within `margin` image
    pixels (`refine`), then hill-climbed on the score (`polish`)."""
    return polish(img, f, refine(_grey(img), f, p, sizes, margin), cfg, steps=steps)


FINE_SIZES = np.linspace(0.97, 1.03, 31)  # sizes a pixel-art box is tried at, 0.2% apart


def fine_tuned(img: np.ndarray, f: float, p: Placement, cfg: DetectConfig) -> Placement:
    """A pixel-art box tried at every size within 3% and every position near, kept where
    it covers the template better: its score is bumpy (half a block off scores worse than
    one and a half), and the hill-climb stops short (M2 c32-0016: a Game Boy 1% small,
    IoU 0.985, and its one-pixel stick then read over the d-pad arms: 566 frames of
    d-pad down missed)."""
    q = refit(img, f, p.moved(), cfg, FINE_SIZES, 3, steps=2)
    return q if q.score > p.score else p


SETTLE_SIZES = np.linspace(0.9, 1.1, 11)  # sizes a box seen elsewhere is tried at


def settle(fr: Frames, shown: tuple[int, ...], p: Placement, cfg: DetectConfig) -> Placement:
    """A box where the overlay shows in only some samples, sized and placed again on the
    average of those: it came from the average of all samples, where it is faint, and
    the streamer who moved it often resized it (M2 c32-0005: moved and grown 5%, found at
    the old size, IoU 0.90; its 1200 frames were then read with 1107 button errors)."""
    img = fr.mean(shown, "full")
    return refit(img, fr.f_full, p.moved(frames=shown), cfg, SETTLE_SIZES, 6)


def frame_spans(index: np.ndarray, frame_count: int) -> np.ndarray:
    """How many of the video's frames each sampled frame stands for: those nearer to it
    than to another sample."""
    idx = np.asarray(index, np.float64)
    if len(idx) == 0:
        return idx
    end = max(float(frame_count), idx[-1] + 1)
    edges = np.concatenate([[0.0], (idx[1:] + idx[:-1]) / 2, [end]])
    return np.diff(edges)


def detect(
    video_path: str | Path,
    templates: Sequence[Template],
    config: DetectConfig | None = None,
    log: Callable[[str], None] | None = None,
) -> Detection:
    """Find which template the video shows and where (see the module docstring).

    Raises video.VideoError (one line) for a file that is no usable video, ValueError
    for an empty template list. A video with no overlay is not an error: its Detection
    has found=False and a reason in `why`.
    """
    from nitrogen_cli import video

    cfg = config or DetectConfig()
    log = log or (lambda _: None)
    if not templates:
        raise ValueError("no templates to match (use --templates, or drop --no-builtin)")
    info = video.probe(video_path)
    video.check_video(info, min_frames=cfg.samples)
    samples = sample_keyframes(video_path, cfg.samples, info)
    if not samples:
        raise video.VideoError("no frame could be decoded")
    feats = prepare(templates)
    fr = Frames(samples, cfg)
    del samples
    size = (info.width, info.height)
    by_id = {t.id: t for t in templates}

    def attempt(
        cands: list[Placement] | None = None, apart: float = APART
    ) -> tuple[Detection, list[Placement]]:
        cands = search(fr, feats, size, cfg, log) if cands is None else cands
        det = Detection(str(video_path), info.fps, info.frame_count, info.width, info.height, False)
        return decide(det, fr, cands, feats, by_id, cfg, log, apart), cands

    det, cands = attempt()
    if det.found:
        det = _moved_elsewhere(det, cands, fr, feats, size, cfg, attempt, log)
        return _resized_in_place(det, cands, fr, feats, cfg, attempt, log)
    if cfg.retry_groups <= cfg.groups:
        return det
    # An overlay shown for only part of the video fades in the average of every sample;
    # in the average of a part of them it shows whole. Only videos where nothing was
    # found pay for this second search.
    fr.groups = fr.split(cfg.retry_groups)
    log(f"searching again, in {len(fr.groups)} parts")
    again, cands = attempt()
    if not again.found:
        return det
    again = _moved_elsewhere(again, cands, fr, feats, size, cfg, attempt, log)
    return _resized_in_place(again, cands, fr, feats, cfg, attempt, log)


MOVED_MISSING = 3  # samples that show the overlay nowhere before it is looked for elsewhere
MOVED_APART = 0.8  # a box of its layout overlapping its own by less than this: elsewhere


def _moved_elsewhere(
    det: Detection,
    cands: list[Placement],
    fr: Frames,
    feats: Sequence[Features],
    size: tuple[int, int],
    cfg: DetectConfig,
    attempt: Callable[..., tuple[Detection, list[Placement]]],
    log: Callable[[str], None],
) -> Detection:
    """When a few samples show the found overlay nowhere (it may have moved), search the
    average of those samples for the same layout; a box found there at another place is
    scored in every sample with the others, and the stable box is decided again.

    A box that overlaps the stable one by up to MOVED_APART counts as another place:
    moved 42 px and shrunk by 9% for 420 frames (corpus c26-0026), the overlay scored
    0.38 at its box in 3 samples, and extraction read those frames there, wrong. Such a
    near box becomes the stable one only where the samples at the old box stay there."""
    missing = tuple(int(i) for i in np.flatnonzero(~det.sample_found))
    if len(missing) < MOVED_MISSING:
        return det
    assert det.template is not None and det.bbox is not None
    same = [f for f in feats if f.layout == det.template.layout]
    groups, fr.groups = fr.groups, [missing]
    try:
        # at another place, and at a size like its own: an overlay moved is seldom also
        # resized by more than 2x (the corpora's moves: x0.77-1.2), while a card shown
        # where it hid can match a quarter-size copy (J2 c27-0015: x0.27, in 3 samples)
        more = [
            p
            for p in search(fr, same, size, cfg, log)
            if iou(p.bbox, det.bbox) < MOVED_APART and 0.5 <= p.w / max(det.bbox[2], 1e-9) <= 2
        ]
    finally:
        fr.groups = groups
    if not more:
        return det
    log(f"{len(missing)} samples show it nowhere found: also at {[round(v) for v in more[0].bbox]}")
    if more[0].feat.layout != cands[0].feat.layout:
        # scored as the best candidate's template, whose boxes `decide` takes (J2
        # c27-0013: the best was snes@overlay-analog, the box found for its twin
        # snes@overlay was passed over, and 6 samples recorded nothing)
        more[0] = more[0].moved(feat=cands[0].feat)
    near = iou(more[0].bbox, det.bbox) >= APART
    if near:
        rest = [c for c in cands[1:] if iou(c.bbox, det.bbox) < APART]
        again, _ = attempt([cands[0], more[0], *rest], apart=MOVED_APART)
    else:
        again, _ = attempt([cands[0], more[0], *cands[1:]])
    if not again.found or again.sample_found.sum() <= det.sample_found.sum():
        return det
    if near and (again.bbox is None or iou(again.bbox, det.bbox) < 0.9):
        # the near box is the stable one now: kept where the samples that showed the
        # overlay at the old box still do (it moved there and stayed, Q2 c35-0006: 9
        # samples at the first box, 16 at the one it went to, which overlaps it by 0.65),
        # not where it took them over
        old = sum(
            bool(f) and iou(b, det.bbox) >= 0.9
            for f, b in zip(again.sample_found, again.sample_bbox, strict=True)
        )
        if old < det.inliers - 1:
            return det
    return again


RESIZED_DROP = 0.2  # samples scoring this far under the stable box's usual may show it resized
RESIZED_SIZES = np.linspace(0.75, 1.25, 21)  # sizes tried there: the corpora's moves, x0.75-1.25
RESIZED_GAIN = 0.1  # how much better the box found there must cover the overlay in them
RESIZED_APART = 0.95  # and overlap the stable box by less than this


def _resized_in_place(
    det: Detection,
    cands: list[Placement],
    fr: Frames,
    feats: Sequence[Features],
    cfg: DetectConfig,
    attempt: Callable[..., tuple[Detection, list[Placement]]],
    log: Callable[[str], None],
) -> Detection:
    """When a few samples show the overlay at its box, but much worse than the others do,
    look for it resized about the same spot on the average of those samples; a box that
    covers it clearly better there is scored in every sample with the others.

    A streamer may resize the overlay where it stands: 8% larger for the first 424 frames
    (M2 c32-0002), the overlay overlapped its later box by 0.86, still scored 0.64 there
    against 0.95 in the other samples, and was found nowhere else; those frames were read
    at the later box, with 615 button errors."""
    if not det.found or det.bbox is None or det.template is None:
        return det
    at = det.sample_found & np.all(np.abs(det.sample_bbox - np.asarray(det.bbox)) < 1e-3, axis=1)
    if at.sum() < 2 * MOVED_MISSING:
        return det
    usual = float(np.median(det.sample_score[at]))
    poor = tuple(int(i) for i in np.flatnonzero(at & (det.sample_score < usual - RESIZED_DROP)))
    if len(poor) < MOVED_MISSING:
        return det
    feat = next(f for f in feats if f.id == det.template.id)
    home = Placement(feat, *det.bbox)
    img = fr.mean(poor, "full")
    there = _scored(img, fr.f_full, home.moved(), cfg)
    margin = math.ceil(0.1 * det.bbox[2] * fr.f_full)
    q = refit(img, fr.f_full, home.moved(frames=poor), cfg, RESIZED_SIZES, margin)
    if iou(q.bbox, det.bbox) >= RESIZED_APART or q.score < there.score + RESIZED_GAIN:
        return det
    log(
        f"{len(poor)} samples show it poorly ({there.score:.2f}): also at "
        f"{[round(v) for v in q.bbox]} ({q.score:.2f})"
    )
    rest = [c for c in cands[1:] if iou(c.bbox, det.bbox) < APART]
    again, _ = attempt([cands[0], q.moved(feat=cands[0].feat), *rest], apart=RESIZED_APART)
    if not again.found or again.bbox is None or iou(again.bbox, det.bbox) < 0.9:
        return det
    return again


def sample_keyframes(path: str | Path, n: int, info: Any) -> list[tuple[int, np.ndarray]]:
    """At most n frames spread over the video, as (frame index, RGB), decoding little.

    First n seeks, to the keyframe before each of n evenly spaced times, one decode each
    (through the container's index: nothing else is read). If two land on one keyframe,
    the packets are read once (no decoding) to find them all. With n keyframes or
    more, n of them spread over the video are taken: a seek and one decode each. A short
    video has fewer: each keyframe is taken with a few frames decoded on after it (a
    bounded window, so the whole video is never decoded).
    """
    import av

    from nitrogen_cli import video

    quick = _sample_by_seeking(path, n, info)
    if quick is not None:
        return quick
    with video._open(path) as container:
        stream = video._stream(container)
        try:
            keys = [
                int(p.pts)
                for p in container.demux(stream)
                if p.is_keyframe and p.pts is not None and p.size > 0
            ]
        except av.error.FFmpegError as exc:
            raise video.VideoError(f"unreadable ({' '.join(str(exc).split())})") from None
        keys = sorted(set(keys))
        if not keys or stream.time_base is None:
            return video.sample_frames(path, n, info=info)
        per_key, window = 1, 1
        if len(keys) > n:
            keys = [keys[int((k + 0.5) * len(keys) / n)] for k in range(n)]
        elif len(keys) < n:
            per_key = math.ceil(n / len(keys))
            window = max(per_key, (DECODE_BUDGET * n) // len(keys))
        offsets = {round(j * window / per_key) for j in range(per_key)}
        frame_index = _frame_clock(stream, info)
        out: dict[int, np.ndarray] = {}
        for k, pts in enumerate(keys):
            stop = keys[k + 1] if k + 1 < len(keys) else None
            with contextlib.suppress(av.error.FFmpegError):
                container.seek(pts, stream=stream, backward=True, any_frame=False)
                for j, frame in enumerate(container.decode(stream)):
                    if j >= window or (
                        stop is not None and frame.pts is not None and frame.pts >= stop
                    ):
                        break
                    if frame.pts is None or j not in offsets:
                        continue
                    out.setdefault(frame_index(frame.pts), frame.to_ndarray(format="rgb24"))
    items = sorted(out.items(), key=lambda item: item[0])
    if len(items) > n:  # evenly thinned
        items = [items[int((k + 0.5) * len(items) / n)] for k in range(n)]
    return items


def _sample_by_seeking(path: str | Path, n: int, info: Any) -> list[tuple[int, np.ndarray]] | None:
    """n keyframes at n evenly spaced times, or None where two times share a keyframe
    (few keyframes) or the container cannot say where they are."""
    import av

    from nitrogen_cli import video

    if n < 1 or not info.duration or info.duration <= 0:
        return None
    with video._open(path) as container:
        stream = video._stream(container)
        if stream.time_base is None:
            return None
        frame_index = _frame_clock(stream, info)
        start = int(stream.start_time) if stream.start_time is not None else 0
        out: dict[int, np.ndarray] = {}
        try:
            for k in range(n):
                at = start + int((k + 0.5) * info.duration / n / stream.time_base)
                container.seek(at, stream=stream, backward=True, any_frame=False)
                frame = next(iter(container.decode(stream)), None)
                if frame is None or frame.pts is None or not frame.key_frame:
                    return None
                index = frame_index(frame.pts)
                if index in out:
                    return None
                out[index] = frame.to_ndarray(format="rgb24")
        except (av.error.FFmpegError, StopIteration):
            return None
    return sorted(out.items(), key=lambda item: item[0])


def _frame_clock(stream: Any, info: Any) -> Callable[[int], int]:
    """A video stream set up for sampling (slice threads only: frame threads would decode
    frames we never use), and its pts -> frame index."""
    stream.thread_type = "SLICE"
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else info.fps
    t0 = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    return lambda pts: math.floor((float(pts * stream.time_base) - t0) * fps + 0.5)


def write_detection(dst: str | Path, det: Detection) -> Path:
    """Write an overlay file (kind "overlay", man nitrogen-formats(5)) atomically: the
    /overlay attributes, the matched template's atlas, and the per-sample records."""
    from nitrogen_cli import formats

    with formats.create(dst, "overlay", inputs=[det.video]) as f:
        atlas = det.template.atlas_png if det.found and det.template is not None else None
        g = formats.write_overlay(f, det.info(), atlas_png=atlas, per_frame=det.per_frame())
        if det.found:
            for k, t in enumerate(det.ties):  # what extract-actions needs of each
                d = g.create_dataset(f"ties/{k}", data=np.frombuffer(t.atlas_png, np.uint8))
                d.attrs["template"] = t.id
                d.attrs["layout"] = t.layout
                d.attrs["layout_json"] = t.layout_json
    return Path(dst)
