"""What a press can look like whatever the game shows behind it.

A button drawn pressed covers its pixels with the pressed look at the video's opacity g:
there, whatever the background, a crop reads between `look * g` and
`1 - (alpha - look) * g` (premultiplied look). The range only widens as g falls, so it
is taken at `GAIN_LOW` of the fitted gain (whose ratio to the corpora's true opacity
lies in 0.74-1.0 for 90% of 181 videos).

The comparator judges crops against looks drawn over one calibration's background, and
a game that flashes behind a translucent button can fit the pressed look better than
the stale background under the released one (J2 c27-0000, ds3 over Doom at CRF 32: 117
false presses of eight buttons, none pressed). A crop most of whose press pixels lie
outside every pressed look's range cannot show a press, with no background estimate at
all. Where the pressed look is itself translucent the range is wide and bounds little;
there the game around the button in the same frame stands in for the game behind it
(`Surround`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nitrogen_cli.parser.looks import Looks

BOUND_TOL = 0.15  # how far outside a pressed look's range a pixel may read (H.264, blur)
BOUND_SHARE = 0.5  # a crop with more of its press pixels out of range shows no press
COVERS = 0.5  # a press pixel: the pressed look covers it at least this much (times gain)
DIFFERS = 0.1  # and it differs from the released look by this much (max over channels)
MIN_PIXELS = 6  # fewer press pixels than this: no bound
GAIN_LOW = 0.75  # the least opacity a press is drawn at, as a share of the fitted gain
RING_REACH = 0.5  # the ring around a box reaches this share of its larger side beyond it
RING_MIN = 12  # clear canvas pixels in a ring needed to stand in for the game behind
RING_MAX = 48  # of which this many, spread, are read
SEE_THROUGH = 0.5  # a released look letting this much of the game through its press pixels
RING_SPREAD = 0.08  # the ring's colours vary at most this much (median abs deviation)
AROUND_RATIO = 0.5  # released explains the press pixels this much better: no press


def pressed_looks(
    looks: Looks, j: int, extra: Sequence[tuple[int, np.ndarray]]
) -> list[np.ndarray]:
    """Slot `j`'s pressed looks (S, S, 4): the named skin's, then `extra`'s for it."""
    return [looks.button_looks[j, 1]] + [lk for jj, lk in extra if jj == j]


def change(pressed: np.ndarray, released: np.ndarray) -> np.ndarray:
    """(S, S) how much a press changes each pixel (max over colour and alpha)."""
    return np.maximum(
        np.abs(pressed[..., :3] - released[..., :3]).max(axis=-1),
        np.abs(pressed[..., 3] - released[..., 3]),
    )


class PressBound:
    """Per button slot, its pressed looks' ranges (the named skin's, tied skins', a
    trigger's part fills): a crop is out of bound when it lies outside all of them."""

    def __init__(
        self,
        looks: Looks,
        gain: np.ndarray,
        extra: Sequence[tuple[int, np.ndarray]] = (),
    ) -> None:
        """`extra`: further pressed looks (S, S, 4) by slot."""
        g = np.asarray(gain, np.float32).reshape(1, 1, 3) * GAIN_LOW
        self.ranges: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = []
        for j in range(len(looks.buttons)):
            rel = looks.button_looks[j, 0]
            out = []
            for p in pressed_looks(looks, j, extra):
                lo = p[..., :3] * g
                hi = lo + (1 - p[..., 3:4] * g)
                cover = p[..., 3] * float(g.mean())
                w = (cover >= COVERS) & (change(p, rel) >= DIFFERS)
                if w.sum() < MIN_PIXELS:  # a press that draws too little to bound
                    out = []
                    break
                out.append((lo[w], hi[w], w))
            self.ranges.append(out)

    def __call__(self, j: int, crops: np.ndarray) -> np.ndarray:
        """(n, S, S, 3) crops of slot `j` -> (n,) the share of press pixels out of range
        of the pressed look they fit best (0 where the slot has no bound)."""
        share = np.zeros(len(crops), np.float32)
        if not self.ranges[j]:
            return share
        best = np.ones(len(crops), np.float32)
        for lo, hi, w in self.ranges[j]:
            px = crops[:, w]  # (n, k, 3)
            out = np.maximum(np.maximum(lo - px, px - hi), 0).max(axis=-1) > BOUND_TOL
            best = np.minimum(best, out.mean(axis=1))
        return best


class Surround:
    """The game around a see-through button, in the same frame, stands in for the game
    behind it. A calibration's background under a released look that lets the game
    through is the game of its own frames; where the game has moved on (P2 c34-0006:
    xbox-one-controller's outline d-pad calibrated over a dark corridor, then a grey
    wall behind the arms) the crop fits neither look and the comparator takes the
    pressed one. Where the clear canvas pixels around the box are of one colour, both
    looks are drawn over it, and a crop the released look then explains twice as well
    shows no press."""

    def __init__(
        self,
        looks: Looks,
        gain: np.ndarray,
        extra: Sequence[tuple[int, np.ndarray]] = (),
    ) -> None:
        g = np.asarray(gain, np.float32).reshape(1, 1, 3)
        gm = float(g.mean())
        h, w = looks.rest.shape[:2]
        clear = (looks.rest[..., 3] < 0.02) & looks.static
        idx: list[np.ndarray] = []
        self.slots: list[tuple[slice, np.ndarray, list[tuple[np.ndarray, np.ndarray]]] | None] = []
        start = 0
        for j, (x, y, bw, bh) in enumerate(looks.button_boxes):
            rel = looks.button_looks[j, 0]
            cands = pressed_looks(looks, j, extra)
            px = change(cands[0], rel) * gm >= DIFFERS  # what a press changes, however faint
            through = float((1 - rel[..., 3][px] * gm).mean()) if px.any() else 0.0
            r = max(2, round(RING_REACH * max(bw, bh)))
            ring = np.zeros((h, w), bool)
            ring[max(0, y - r) : y + bh + r, max(0, x - r) : x + bw + r] = True
            ring[y : y + bh, x : x + bw] = False
            pts = np.flatnonzero(ring & clear)
            if px.sum() < MIN_PIXELS or through < SEE_THROUGH or len(pts) < RING_MIN:
                self.slots.append(None)
                continue
            pts = pts[np.linspace(0, len(pts) - 1, min(len(pts), RING_MAX)).astype(np.int64)]
            idx.append(pts)
            rng = slice(start, start + len(pts))
            start += len(pts)
            # per look: colour times gain and what it lets through, on the press pixels
            drawn = [(lk[px][:, :3] * g[0], 1 - lk[px][:, 3:4] * g[0]) for lk in [rel, *cands]]
            self.slots.append((rng, px, drawn))
        self.idx = np.concatenate(idx) if idx else np.zeros(0, np.int64)

    def veto(self, j: int, crops: np.ndarray, ring: np.ndarray) -> np.ndarray:
        """(n, S, S, 3) crops of slot `j` and (n, P, 3) ring reads (all slots', at
        `idx`) -> (n,) bool: shows no press."""
        out = np.zeros(len(crops), bool)
        slot = self.slots[j]
        if slot is None or not len(crops):
            return out
        rng, px, drawn = slot
        around = ring[:, rng]
        bg = np.median(around, axis=1)  # (n, 3)
        spread = np.median(np.abs(around - bg[:, None]), axis=1).max(axis=1)
        o = crops[:, px]  # (n, k, 3)
        d = [np.abs(o - (c[None] + t[None] * bg[:, None])).mean(axis=(1, 2)) for c, t in drawn]
        pressed = np.min(d[1:], axis=0)
        return (d[0] < AROUND_RATIO * pressed) & (spread <= RING_SPREAD)
