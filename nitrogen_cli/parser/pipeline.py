"""The parser's reading of one video, shared by training (synthetic clips) and extraction.

    cal = calibrate(rois, cmap, looks)      # a few frames' video crops -> per-video facts
    canvas = cal.cmap.from_rgb_roi(roi)     # any frame -> canvas (template grid)
    obs = looks.crops(canvas)               # -> the crops the network reads

Training clips go through exactly these steps, after a real encoder, so the network sees
at training time what it will see on a video.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nitrogen_cli.parser import calib
from nitrogen_cli.parser.geometry import CanvasMap
from nitrogen_cli.parser.looks import Looks

LOW_GAIN = 0.5  # a gain under this share of detection's opacity: the placement is off
ALIGN_STEPS = 3  # alignment corrections tried in turn then, each from where the last got to
ALIGN_BETTER = 0.95  # a correction is kept where the model's residual falls below this share
DETAIL_GAIN = 0.1  # or the overlay's detail lines up with the frames' this much better,
BLIND_RESIDUAL = 5e-4  # ... where the residual is under this (it cannot tell placements apart)
# a gain over HIGH_GAIN times detection's opacity is fitted again at that opacity; over
# twice it, as the faint-overlay check has it, detection's opacity is what is off (a test
# of Q2 c35-0012's spec: detection's 0.1 against an opaque skin)
HIGH_GAIN = 1.3


@dataclass
class Calibration:
    cmap: CanvasMap  # possibly refined
    gain: np.ndarray  # (3,)
    bg: np.ndarray  # (h, w, 3): the background under the canvas
    presence: calib.Presence
    aligned: bool  # whether an alignment correction was applied
    # the background stick clicks are judged over: seen through the stick's travel area
    # where its look at rest explains the frames (None: `bg`)
    click_bg: np.ndarray | None = None


def calibrate(
    rois: Sequence[np.ndarray],
    cmap: CanvasMap,
    looks: Looks,
    align: bool = True,
    unsure: Mapping[int, Sequence[np.ndarray]] | None = None,
    opacity: float | None = None,
) -> Calibration:
    """Per-video gain, background and alignment (unless not `align`) from a few frames'
    RGB crops at cmap.roi. `unsure` gives buttons (by index) other pressed looks they
    may show (skins tied at rest that draw their presses otherwise). `opacity` is what
    detection fitted, on softened images that a sub-pixel error hardly moves."""
    if not len(rois):
        gain = np.ones(3, np.float32)
        bg = np.full((*looks.rest.shape[:2], 3), 0.5, np.float32)
        return Calibration(
            cmap, gain, bg, calib.Presence(looks.rest, looks.static, gain, bg), False
        )
    held = ~looks.static  # the boxes of buttons and sticks: a press may last long
    pressed = list(zip(looks.button_boxes, looks.pressed, strict=True))
    also = {looks.button_boxes[j]: list(lks) for j, lks in (unsure or {}).items()}
    # a trigger held part-pulled through the frames shows one of its fills, not the game
    fills: dict[tuple[int, int, int, int], list[np.ndarray]] = {}
    for j, img in looks.fill_regions:
        fills.setdefault(looks.button_boxes[j], []).append(img)

    def fitted(cm: CanvasMap) -> tuple:
        """(canvases, their mean, gain, smooth background) at placement `cm`."""
        canv = np.stack([cm.from_rgb_roi(r) for r in rois])
        mean = canv.mean(axis=0)
        gain, bmap = calib.fit_opacity(canv, looks.rest, looks.static, mean=mean)
        if opacity and HIGH_GAIN * opacity < float(np.mean(gain)) <= 2 * opacity:
            # the clear pixels around the overlay missed what lies under it (R2 c36-0013:
            # Enduro's red score board, gain (1.35, 1.02, 0.99) against detection's 0.79),
            # and a press is then predicted brighter than the video can show it
            gain, bmap = calib.fit_opacity(canv, looks.rest, looks.static, mean=mean, fixed=opacity)
        return canv, mean, gain, bmap

    def through(
        canv: np.ndarray, gain: np.ndarray, bmap: np.ndarray, more: Sequence[tuple] = ()
    ) -> np.ndarray:
        """The background seen through the overlay (`more`: other boxes and their looks)."""
        return calib.see_through(
            canv,
            looks.rest,
            gain,
            bmap,
            held,
            [*pressed, *more],
            unsplit=looks.stick_boxes,
            also=also,
            fills=fills,
        )

    def fit(cm: CanvasMap) -> tuple:
        canv, mean, gain, bmap = fitted(cm)
        return canv, mean, gain, bmap, through(canv, gain, bmap)

    canv, mean, gain, bmap, bg = fit(cmap)
    # Aligned against the smooth background spread in from the clear pixels, not the one
    # seen through the overlay: that one, fitted at the misplaced position, has taken in
    # the overlay's own edges and holds the alignment where it is (a placement 1 px off
    # and 0.9% short, corpus c25-0018, moved only a third of the way).
    corr = calib.refine_alignment(mean, looks.rest, gain, bmap) if align else None
    aligned = False
    if corr is not None:  # keep the correction only if it explains the overlay better
        moved = cmap.refined(corr)
        canv2, mean2, gain2, bmap2, bg2 = fit(moved)
        before = calib.fit_residual(mean, looks.rest, looks.static, gain, bg)
        after = calib.fit_residual(mean2, looks.rest, looks.static, gain2, bg2)
        # Where the background seen through the overlay explains its pixels all but
        # exactly (a game that stands still), it does so at any placement and the
        # residual cannot tell (R2 c36-0007, a maze, 3% short: ECC's correction to within
        # a pixel was dropped). The overlay's detail lining up much better with the
        # frames' can (0.45 -> 0.79 there). Not where the residual can tell: M2
        # c32-0009's 0.0023, a game moving under a see-through trigger, read pressed
        # throughout once aligned.
        lined = before < BLIND_RESIDUAL and (
            calib.detail_fit(mean2, looks.rest, gain2, bmap2)
            > calib.detail_fit(mean, looks.rest, gain, bmap) + DETAIL_GAIN
        )
        if after < ALIGN_BETTER * before or lined:
            canv, mean, gain, bmap, bg = canv2, mean2, gain2, bmap2, bg2
            cmap, aligned = moved, True
    if align and opacity and float(np.mean(gain)) < LOW_GAIN * opacity:
        again = _realigned(cmap, mean, gain, bmap, looks, fitted, opacity)
        if again is not None:
            cmap, (canv, mean, gain, bmap) = again
            bg, aligned = through(canv, gain, bmap), True
    click_bg = None
    if any(s.thumb for s in looks.sticks):
        # A click is judged at the stick's cell against looks that differ in a few pixels,
        # so the game's own detail under the stick matters there; but a stick's position
        # is read better over the smooth fill (the map a pushed stick cannot spoil).
        at_rest = [
            ((x, y, w, h), looks.rest[y : y + h, x : x + w]) for x, y, w, h in looks.stick_boxes
        ]
        click_bg = through(canv, gain, bmap, at_rest)
    presence = calib.Presence(looks.rest, looks.static, gain, bg)
    return Calibration(cmap, gain, bg, presence, aligned, click_bg)


def _realigned(
    cmap: CanvasMap,
    mean: np.ndarray,
    gain: np.ndarray,
    bmap: np.ndarray,
    looks: Looks,
    fitted: Callable[[CanvasMap], tuple],
    opacity: float,
) -> tuple[CanvasMap, tuple] | None:
    """Thin lines placed a fraction of a pixel off, against detection's opacity: ECC's
    basin is narrow on them, so it is run again from where it got to, and each step is
    judged on the smooth background alone (the one seen through the overlay explains
    every pixel it lets through, wherever it is placed). Q2 c35-0009, line art at scale
    0.1 placed 0.5 px off and 0.8% narrow: gain 0.41 of detection's opacity, the first
    step went a third of the way and was dropped, and 396 frames were taken for no
    overlay; three steps take it to 0.89. The placement moved to and `fitted`'s figures
    there, or None where no step was kept."""
    res = calib.fit_residual(mean, looks.rest, looks.static, gain, bmap)
    # the lines drawn at detection's opacity: at the low gain fitted, the model is mostly
    # the smooth background, and ECC follows the game's edges in it
    lines = np.full(3, opacity, np.float32)
    out = None
    for _ in range(ALIGN_STEPS):
        corr = calib.refine_alignment(mean, looks.rest, lines, bmap)
        if corr is None:
            break
        moved = cmap.refined(corr)
        fit = fitted(moved)
        _, mean2, gain2, bmap2 = fit
        res2 = calib.fit_residual(mean2, looks.rest, looks.static, gain2, bmap2)
        if res2 >= ALIGN_BETTER * res:
            break
        cmap, mean, bmap, res = moved, mean2, bmap2, res2
        out = (cmap, fit)
    return out
