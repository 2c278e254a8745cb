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
all. Where the pressed look is itself translucent the range is wide and bounds little
(P2 c34-0006, xbox-one-controller's outline skin: none of its 2778 errors go).
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
            cands = [looks.button_looks[j, 1]] + [lk for jj, lk in extra if jj == j]
            out = []
            for p in cands:
                lo = p[..., :3] * g
                hi = lo + (1 - p[..., 3:4] * g)
                cover = p[..., 3] * float(g.mean())
                differ = np.maximum(
                    np.abs(p[..., :3] - rel[..., :3]).max(axis=-1), np.abs(p[..., 3] - rel[..., 3])
                )
                w = (cover >= COVERS) & (differ >= DIFFERS)
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
