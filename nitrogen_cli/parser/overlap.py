"""A stick drawn over buttons: read them together.

Some presets draw a stick on top of a d-pad (the pixel presets' `-analog` looks: the
stick is one pixel that moves over the cross). Read apart, each fools the other: a stick
pushed right looks like d-pad right pressed to the button comparator, and a pressed
d-pad arm looks like the stick moved to the stick's correlation. Together they are
plain: the stick's travel area is compared with every pairing of a stick cell and a
small set of pressed buttons, each rendered from the template, and the best pairing
gives both the stick's position and those buttons' states.

Only buttons whose box lies mostly inside the stick's box, and whose press changes its
pixels, are read this way; on every other skin nothing changes.
"""

from __future__ import annotations

import itertools

import numpy as np

from nitrogen_cli.actions import State
from nitrogen_cli.overlays import Template, press_state
from nitrogen_cli.parser.looks import THUMB_OF, Looks, StickBank, expected, fit, grid_axis

INSIDE = 0.5  # a button's box lies at least this much inside the stick's box
VISIBLE = 0.1  # and its press changes a pixel of the stick's box at least this much
MAX_PRESSED = 2  # buttons pressed at once among them (a d-pad's diagonals)
# Correlation a pairing with presses must win by over the best one without, to claim
# them (0.2 to 0.35 on a clear skin where one was pressed); at most QUIET, nothing is
# pressed (0.004 at most on the corpus where none was; up to 0.047 for nes-pixel's
# stick over Pong at opacity 0.54, corpus c26-0024, where the arms' comparator then read
# the stick as presses in 1213 frames, against 0.28-0.38 where one was). Between the two
# the reading is not sure (a faint skin over a busy game, where a stick pushed onto a
# d-pad arm looks much like that arm pressed): the buttons' own comparator and the
# stick's own bank stand.
CLAIM = 0.1
QUIET = 0.06
SURE = 0.5  # below this best correlation the overlay is not seen well: nothing is claimed
CLICK_GAIN = 200.0  # click logit per unit of correlation (clicked minus released)


def _intersect(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0)


class JointBank:
    """The candidates of one stick with each small set of its covered buttons pressed,
    correlated with the stick's crops the way `StickBank` does (one weighting for all,
    so that the sets' scores compare)."""

    def __init__(
        self,
        template: Template,
        looks: Looks,
        k: int,
        members: list[int],
        gain: np.ndarray,
        bg: np.ndarray,
        floor: float = 0.1,
        highpass: float = 2.0,
    ):
        slot = looks.sticks[k]
        self.members = members  # button slot indices
        names = [looks.buttons[j].name for j in members]
        self.subsets: list[tuple[int, ...]] = [()]
        for n in range(1, min(MAX_PRESSED, len(members)) + 1):
            self.subsets += list(itertools.combinations(range(len(members)), n))
        r = template.renderer(looks.scale)
        G, Ss = looks.grid, looks.stick_size
        axis = grid_axis(G)
        thumb = frozenset([THUMB_OF[slot.name]])  # as `build_looks` draws the clicked looks
        cands = np.zeros((len(self.subsets), 2, G, G, Ss, Ss, 4), np.float32)
        cands[0] = looks.stick_looks[k]
        for s, sub in enumerate(self.subsets[1:], start=1):
            pressed = frozenset(names[i] for i in sub)
            for c, click in enumerate((frozenset(), thumb)):
                for gy, ay in enumerate(axis):
                    for gx, ax in enumerate(axis):
                        st = State(pressed=pressed | click, **{slot.name: (float(ax), float(ay))})
                        img = np.asarray(r.premultiplied(st, slot.box), np.float32)
                        cands[s, c, gy, gx] = fit(img, Ss)
        e = expected(cands, gain, bg).reshape(-1, Ss, Ss, 3)
        # one weighting for all sets, so that their scores compare
        self.bank = StickBank.from_candidates(e, G, floor, highpass)
        # which members each set presses
        self.presses = np.zeros((len(self.subsets), len(members)), bool)
        for s, sub in enumerate(self.subsets):
            self.presses[s, list(sub)] = True
        self.shape = (len(self.subsets), 2, G, G)

    def read(
        self, obs: np.ndarray, alone: StickBank, own: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Crops (F, Ss, Ss, 3) -> (the chosen set's maps (F, 2, G, G), its index (F,),
        the members' logits (F, len(members)), a click logit (F,)). Where no pairing
        matches well (the overlay hidden, covered), or it is not sure (see CLAIM), the
        members' logits are NaN: their own comparator stands. Where it is not sure, the
        maps are those of the pairing that presses what `own` (that comparator's logits,
        (F, len(members))) presses; elsewhere, or without `own`, the stick's own bank
        `alone` gives them."""
        maps = self.bank.correlate(obs).reshape(len(obs), *self.shape)
        peak = maps.reshape(len(obs), len(self.subsets), -1).max(axis=2)
        best = np.argmax(peak, axis=1)
        top = peak[np.arange(len(obs)), best]
        gap = top - peak[:, 0]
        claim = (top >= SURE) & (gap >= CLAIM)
        sure = claim | ((top >= SURE) & (gap <= QUIET))
        best = np.where(claim, best, 0)
        chosen = maps[np.arange(len(obs)), best].astype(np.float32)
        # not sure which pairing: the members' own comparator says which are pressed, and
        # the stick is read among the pairings with those (an arm pressed under a resting
        # stick otherwise reads as the stick pushed onto it)
        by_own = np.zeros(len(obs), bool)
        if own is not None:
            middle = np.flatnonzero(~sure & (top >= SURE))
            hit = (self.presses[None] == (np.asarray(own)[middle] > 0)[:, None]).all(axis=2)
            found = hit.any(axis=1)
            rows = middle[found]
            chosen[rows] = maps[rows, hit[found].argmax(axis=1)]
            by_own[rows] = True
        alone_rows = ~sure & ~by_own
        if alone_rows.any():
            chosen[alone_rows] = alone.scores(obs[alone_rows])
        logits = np.where(self.presses[best], 10.0, -10.0).astype(np.float32)
        logits[~sure] = np.nan
        flat = chosen.reshape(len(obs), 2, -1).max(axis=2)
        click = (CLICK_GAIN * (flat[:, 1] - flat[:, 0])).astype(np.float32)
        return chosen, best, logits, click


def joint_banks(
    template: Template,
    looks: Looks,
    gain: np.ndarray,
    bg_sticks: np.ndarray,
    floor: float = 0.1,
    highpass: float = 2.0,
) -> list[JointBank | None]:
    """Per stick slot, a JointBank when buttons sit under it (see the module docstring),
    else None."""
    out: list[JointBank | None] = []
    rest = State()
    r = None
    for k, s in enumerate(looks.sticks):
        members = []
        for j, b in enumerate(looks.buttons):
            area = b.box[2] * b.box[3]
            if area == 0 or _intersect(b.box, s.box) < INSIDE * area:
                continue
            r = r or template.renderer(looks.scale)
            diff = np.abs(
                np.asarray(r.premultiplied(press_state(b.name), s.box), np.float32)
                - np.asarray(r.premultiplied(rest, s.box), np.float32)
            ).max()
            if diff >= VISIBLE:
                members.append(j)
        out.append(
            JointBank(template, looks, k, members, gain, bg_sticks[k], floor, highpass)
            if members
            else None
        )
    return out
