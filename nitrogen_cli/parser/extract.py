"""Read every frame's gamepad state off the overlay: the library behind extract-actions.

    from nitrogen_cli.parser.extract import extract
    result = extract("run.overlay.h5", "run.actions.h5")

One streaming decode of the video. Each frame's overlay rectangle (only that) is
converted to RGB and warped onto the template's grid (geometry.CanvasMap). The first
frames calibrate the video (pipeline.calibrate: gain, background, a sub-pixel alignment
correction); then frames are parsed in batches: each button's crop against its released
and pressed looks, each stick's crop correlated with the stick drawn at every grid cell
and refined to a position, each stick click judged at the stick's cell (of those around
the reading, the one its looks fit best). A crop that has
not changed since it was last parsed keeps its reading. After the last frame, per-video
post-processing: stick centre from resting frames, stick scale, and a per-frame
confidence (how well the overlay's unchanging pixels still match, times how sure the
button readings are).

Where detection's samples show the overlay moved for a while (`elsewhere`), the frames
around those samples are decoded again from a seek and read at the box it moved to;
each frame keeps the reading from whichever box shows the overlay better.

Memory is bounded by the batch and the calibration buffer, whatever the video's length:
per frame only a few numbers are kept.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from nitrogen_cli import formats
from nitrogen_cli.actions import BUTTON_INDEX, N_BUTTONS, TRIGGERS, Actions
from nitrogen_cli.batch import NitrogenError, Skip
from nitrogen_cli.detect import RESIZED_APART, iou
from nitrogen_cli.parser import calib
from nitrogen_cli.parser.bound import BOUND_SHARE, PressBound, Surround
from nitrogen_cli.parser.geometry import CanvasMap, CropReader, PointSampler, i420_crop, plane
from nitrogen_cli.parser.looks import Looks, StickBank, build_looks, level_only
from nitrogen_cli.parser.pipeline import Calibration, calibrate

SHOWN = 0.3  # a frame whose overlay pixels correlate this well with it at rest shows it
KEEP_NEAR = 0.25  # a calibration's frames show it at most this much less well than the best
# A face or menu button whose readings this video does not split elsewhere is pressed
# above this, not at the network's 0: over the ten corpora such readings in (0, 0.75]
# were 853 released frames and 64 pressed ones (a game moving behind a see-through skin:
# E2 c25-0027, SNES west never pressed, 36 false frames; V1 c31-0009, xbox-clear back
# and start, 65), while the median press reads 8. The d-pad (the same bar there missed
# 409 more G2 frames than it saved) and triggers (part-filled pulls) keep 0.
QUIET_BAR = 0.75
TIED_DIFFER = 0.05  # a tied skin's button look this far from the others' counts (max abs)
TIED_MARGIN = 0.02  # a tied skin is taken where it lowers the residual by this share
RES_RISE = 12.0  # a button crop its looks explain this many times worse than usual: changed
RES_STEP = 16  # every this many frames of a batch is checked for that
CUT = 0.1  # the median change (max over channels) of overlay pixels that marks a cut
MIN_SCENE = 30  # frames a scene lasts at least to be calibrated on apart from the next
KNOWN = 4  # earlier calibrations kept to go back to
NEAR_CUT = 8  # changed frames from a cut within which the overlay's fall counts as at it
THIN = 8  # a first calibration on fewer frames is tried again on the changed frames after it
RAMP_ABOVE = 2.5  # a trigger frame beside a pull reading this far above far ones: pulled
RAMP_MARGIN = 1.0  # ... and this far above nearly all of them
RAMP_REACH = 3  # frames within this of a pull are not far from it
RAMP_FAR = 50  # frames far from any pull needed to tell what they read
BLIP_FRAMES = 2  # a face or menu button's press this short ...
BLIP_PEAK = 2.0  # ... read no higher than this is the game behind it (`blips`)
SAME_OPACITY = (0.75, 1.33)  # calibrations of one overlay fit gains this near each other
# a calibration, its usual presence and its usual button fit (None: not yet measured)
Known = tuple[Calibration, float, np.ndarray | None]


@dataclass
class ExtractConfig:
    batch: int = 128  # frames parsed together
    calib_frames: int = 60  # frames the calibration wants (showing the overlay)
    calib_max: int = 300  # frames it waits for them at most (their video crops are kept)
    reuse_tol: float = 4 / 255  # a crop within this (max abs) of the last parsed keeps its reading
    refine: bool = True  # per-video button boundaries (calib.button_threshold)
    # no press where a crop lies outside every pressed look's range, or where the game
    # around a see-through button explains it as released (bound.py)
    bound: bool = True
    ramps: bool = True  # a part-filled trigger's frames beside a pull (`ramp_frames`)
    # Calibrate again where the overlay's presence falls below this share of its level
    # after the last calibration (the game behind a see-through overlay changed); 0: never
    recal_drop: float = 0.85
    recal_frames: int = 32  # frames held back and calibrated on
    recal_wait: int = 300  # frames before trying again after a calibration was not kept
    keep_readings: bool = False  # hand the raw readings back (ExtractResult.readings)
    checkpoint: str | None = None  # None: the shipped one


@dataclass
class Readings:
    """Raw per-frame outputs, in decode order."""

    index: list[np.ndarray] = field(default_factory=list)
    button: list[np.ndarray] = field(default_factory=list)  # (B, nb) logits
    stick: list[np.ndarray] = field(default_factory=list)  # (B, ns, 2) raw axes
    thumb: list[np.ndarray] = field(default_factory=list)  # (B, ns) logits
    peak: list[np.ndarray] = field(default_factory=list)  # (B, ns) best correlation
    presence: list[np.ndarray] = field(default_factory=list)  # (B,) raw correlation
    tied: list[np.ndarray] = field(default_factory=list)  # (B, T) logits: tied_looks' slots
    # (B, nb) share of a press's pixels out of its range; 1 where the game around rules it out
    bound: list[np.ndarray] = field(default_factory=list)

    def cat(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        parts = getattr(self, name)
        return np.concatenate(parts) if parts else np.zeros((0, *shape), np.float32)


@dataclass
class ExtractResult:
    path: Path
    frames: int  # rows written
    decoded: int  # frames that decoded
    seconds: float
    note: str = ""  # why some frames are missing (a truncated or corrupt video)
    stats: dict[str, Any] = field(default_factory=dict)
    readings: Any = None  # (Readings, Looks, OverlayInfo, video info, Calibration) if asked


class FrameParser:
    """Parses batches of canvases of one template at one placement."""

    def __init__(
        self,
        net: Any,
        looks: Looks,
        cal: Calibration,
        reuse_tol: float = 4 / 255,
        template: Any = None,
        tied: Sequence[Tied] = (),
        tied_fit: np.ndarray | None = None,
    ):
        import torch

        from nitrogen_cli.parser.overlap import joint_banks

        self.torch = torch
        self.net = net
        self.looks = looks
        self.cal = cal
        self.tol = reuse_tol
        L = looks
        self.nb, self.ns, self.G = len(L.buttons), len(L.sticks), L.grid
        self.gain = torch.as_tensor(cal.gain, dtype=torch.float32)
        # the background under each crop, (n, 3, S, S)
        _, bg_s, bg_t = L.crops(cal.bg)
        if cal.click_bg is not None:
            bg_t = L.crops(cal.click_bg)[2]
        self.thumb_bg = torch.as_tensor(bg_t).permute(0, 3, 1, 2).contiguous()
        # what every frame's crop of a button is compared with; buttons of skins detection
        # could not tell apart (the same at rest) that draw a press differently are read
        # against those looks too (the video picks, `_finish`)
        prep, tied_preps, fill_preps, near_preps = button_preps(net, L, cal, tied)
        with torch.inference_mode():
            self.btn_prep = net.button.fold(prep)
            self.tied_prep = [net.button.fold(tp) for tp in tied_preps]
            # a part-filled trigger: read pressed by whichever fill fits it best
            self.fill_prep = [(j, net.button.fold(fp)) for j, fp in fill_preps]
            # another button's press lighting part of this one's (Looks.neighbours)
            self.near_prep = [(j, net.button.fold(fp)) for j, fp in near_preps]
        self.tied = np.array([j for j, _, _ in tied], np.int64)
        # what a press can look like whatever the game behind it
        extra = [(j, t[1]) for j, t, _ in tied] + list(L.fills)
        self.bound = PressBound(L, cal.gain, extra)
        # the game around see-through buttons, read per frame (`parse`'s `ring`)
        self.surround = Surround(L, cal.gain, extra)
        self.ring_at = PointSampler(cal.cmap, self.surround.idx) if len(self.surround.idx) else None
        # how well the looks explain the crops (a changed background fits neither)
        self.fit = ButtonFit(
            self.btn_prep,
            list(zip(self.tied.tolist(), self.tied_prep, strict=True))
            + self.fill_prep
            + self.near_prep,
        )
        pc = net.cfg
        bg_s = level_only(bg_s)  # a stick's candidates: the background's level only
        self.banks = [
            StickBank(L, k, cal.gain, bg_s[k], pc.stick_floor, pc.stick_highpass)
            for k in range(self.ns)
        ]
        # a stick drawn over buttons is read with them (overlap.py; needs the template)
        self.joint = (
            joint_banks(template, L, cal.gain, bg_s, pc.stick_floor, pc.stick_highpass)
            if template is not None
            else [None] * self.ns
        )
        self.last_j: list[np.ndarray | None] = [None] * self.ns
        # per stick, what its click's crop is compared with at each cell ([gy * G + gx])
        self.thumb_prep = []
        with torch.inference_mode():
            for k in range(self.ns):
                looks = torch.as_tensor(L.thumb_looks[k]).permute(1, 2, 0, 5, 3, 4)
                looks = looks.reshape(self.G * self.G, 2, 4, L.size, L.size).contiguous()
                n = len(looks)
                bg = self.thumb_bg[k : k + 1].expand(n, -1, -1, -1)
                prep = net.button.prepare(looks, self.gain.expand(n, 3), bg)
                self.thumb_prep.append(net.button.fold(prep))
        self.has_thumb = [s.thumb is not None for s in L.sticks]
        self.last_tied = np.full(len(tied), -20.0, np.float32)
        # per tied look: [sum over parsed crops of how much better it explains them than
        # the named skin's looks, the named skin's own residual] (`_explains`)
        self.tied_fit = np.zeros((2, len(tied))) if tied_fit is None else tied_fit
        # last parsed crop and reading of each slot (for reuse)
        self.ref_b: np.ndarray | None = None
        self.last_b = np.zeros(self.nb, np.float32)
        self.last_bd = np.zeros(self.nb, np.float32)
        self.ref_s: np.ndarray | None = None
        self.last_s = np.zeros((self.ns, 2), np.float32)
        self.last_t = np.zeros(self.ns, np.float32)
        self.last_p = np.zeros(self.ns, np.float32)
        self.parsed = 0  # slot readings computed
        self.reused = 0  # slot readings reused

    def _click_cells(self, k: int, obs: Any, xy: np.ndarray) -> Any:
        """The cell (gy * G + gx) each click crop is judged at: of the up to four cells
        around the reading, the one whose released or pressed look the crop fits best.

        A reading halfway between two cells (a pixel-art stick pushed half way snaps to
        one of them) took the nearest by a few hundredths, often the wrong one; the
        crop then matched neither look there and read as a click (L2 c29-0017: 255
        false clicks, all at half pushes)."""
        import torch

        G = self.G
        g = np.clip((np.asarray(xy, np.float32) + 1) * (G - 1) / 2, 0, G - 1)
        lo, hi = np.floor(g).astype(np.int64), np.ceil(g).astype(np.int64)
        at = torch.as_tensor(
            np.stack([gy * G + gx for gy in (lo[:, 1], hi[:, 1]) for gx in (lo[:, 0], hi[:, 0])], 1)
        )  # (n, 4)
        prep = self.thumb_prep[k]
        o = obs.float()[:, None]
        res = torch.minimum(
            (o - prep["er"][at]).pow(2).mean(dim=(2, 3, 4)),
            (o - prep["ep"][at]).pow(2).mean(dim=(2, 3, 4)),
        )  # (n, 4)
        return at[torch.arange(len(at)), res.argmin(dim=1)]

    def _changed(self, crops: np.ndarray, ref: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(B, n) bool: which crops differ from the last parsed one of their slot (walking
        the batch in order), and the new references."""
        B, n = crops.shape[:2]
        flat = crops.reshape(B, n, -1)
        changed = np.zeros((B, n), bool)
        if ref is None:  # nothing parsed yet: the first frame is parsed whole
            ref = flat[0].copy()
            changed[0] = True
        for i in range(B):
            d = np.abs(flat[i] - ref).max(axis=1) > self.tol
            changed[i] |= d
            ref[d] = flat[i][d]
        return changed, ref

    def parse(
        self,
        btn: np.ndarray,
        stk: np.ndarray,
        thm: np.ndarray,
        presence: np.ndarray,
        ring: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """A batch of B frames' crops (Looks.crops' three groups, each (B, n, s, s, 3))
        and raw presence (B,) -> per-frame readings. `ring`: (B, P, 3) the canvas at
        `surround.idx` (none: no button is judged against the game around it)."""
        torch = self.torch
        B = len(btn)
        out_b = np.zeros((B, self.nb), np.float32)
        out_s = np.zeros((B, self.ns, 2), np.float32)
        out_t = np.zeros((B, self.ns), np.float32)
        out_p = np.zeros((B, self.ns), np.float32)
        out_tied = np.zeros((B, len(self.tied)), np.float32)
        out_bd = np.zeros((B, self.nb), np.float32)
        with torch.inference_mode():
            if self.nb:
                changed, self.ref_b = self._changed(btn, self.ref_b)
                vals = np.zeros((B, self.nb), np.float32)
                bvals = np.zeros((B, self.nb), np.float32)
                tvals = np.zeros((B, len(self.tied)), np.float32)
                for j in range(self.nb):  # slot by slot: its looks broadcast, not copied
                    rows = np.flatnonzero(changed[:, j])
                    if len(rows):
                        obs = torch.as_tensor(btn[rows, j]).permute(0, 3, 1, 2)
                        n = len(rows)
                        prep = {
                            k: v[j : j + 1].expand(n, *v.shape[1:])
                            for k, v in self.btn_prep.items()
                        }
                        vals[rows, j] = self.net.button.compare(obs, prep).numpy()
                        bvals[rows, j] = self.bound(j, btn[rows, j])
                        if ring is not None:
                            none = self.surround.veto(j, btn[rows, j], ring[rows])
                            bvals[rows, j] = np.where(none, 1.0, bvals[rows, j])
                        for jj, fp in self.fill_prep:
                            if jj == j:
                                part = self.net.button.compare(obs, _broadcast(fp, n)).numpy()
                                vals[rows, j] = np.maximum(vals[rows, j], part)
                        for jj, fp in self.near_prep:
                            if jj == j:
                                # a crop the neighbour's press explains better than this
                                # button's own is that press (R2 c36-0013: a left press
                                # read as up and down too, 472 and 299 false frames)
                                near = self.net.button.compare(obs, _broadcast(fp, n)).numpy()
                                v = vals[rows, j]
                                vals[rows, j] = np.where(near > v, np.minimum(v, v - near), v)
                        own = None
                        for s, jj in enumerate(self.tied):
                            if jj == j:
                                alt = _broadcast(self.tied_prep[s], n)
                                tvals[rows, s] = self.net.button.compare(obs, alt).numpy()
                                own = _explains(obs, prep) if own is None else own
                                other = _explains(obs, alt)
                                self.tied_fit[0, s] += float((own - other).sum())
                                self.tied_fit[1, s] += float(own.sum())
                for i in range(B):  # carry readings forward over unchanged crops
                    c = changed[i]
                    self.last_b[c] = vals[i][c]
                    out_b[i] = self.last_b
                    self.last_bd[c] = bvals[i][c]
                    out_bd[i] = self.last_bd
                    ct = c[self.tied]
                    self.last_tied[ct] = tvals[i][ct]
                    out_tied[i] = self.last_tied
                self.parsed += int(changed.sum())
                self.reused += int((~changed).sum())
            if self.ns:
                changed, self.ref_s = self._changed(stk, self.ref_s)
                for k in range(self.ns):
                    rows = np.flatnonzero(changed[:, k])
                    xy = np.zeros((B, 2), np.float32)
                    tl = np.zeros(B, np.float32)
                    pk = np.zeros(B, np.float32)
                    joint = self.joint[k]
                    if joint is not None:
                        jlog = np.zeros((B, len(joint.members)), np.float32)
                    if len(rows):
                        if joint is not None:
                            maps, jset, jlog[rows], jclick = joint.read(
                                stk[rows, k], self.banks[k], out_b[rows][:, joint.members]
                            )
                        else:
                            maps = self.banks[k].scores(stk[rows, k])
                        pk[rows] = maps.reshape(len(rows), -1).max(axis=1)
                        pred, _ = self.net.sticks(torch.as_tensor(maps))
                        xy[rows] = pred.numpy()
                        if self.has_thumb[k]:
                            obs = torch.as_tensor(thm[rows, k]).permute(0, 3, 1, 2)
                            at = self._click_cells(k, obs, xy[rows])
                            prep = {name: v[at] for name, v in self.thumb_prep[k].items()}
                            tl[rows] = self.net.button.compare(obs, prep).numpy()
                        if joint is not None:  # buttons pressed under it: judge its click there
                            tl[rows] = np.where(jset > 0, jclick, tl[rows])
                    for i in range(B):
                        if changed[i, k]:
                            self.last_s[k], self.last_t[k], self.last_p[k] = xy[i], tl[i], pk[i]
                            if joint is not None:
                                self.last_j[k] = jlog[i]
                        if joint is not None and self.last_j[k] is not None:
                            own = out_b[i, joint.members]
                            out_b[i, joint.members] = np.where(
                                np.isnan(self.last_j[k]), own, self.last_j[k]
                            )
                        out_s[i, k], out_t[i, k], out_p[i, k] = (
                            self.last_s[k],
                            self.last_t[k],
                            self.last_p[k],
                        )
                self.parsed += int(changed.sum())
                self.reused += int((~changed).sum())
        return {
            "button": out_b,
            "stick": out_s,
            "thumb": out_t,
            "peak": out_p,
            "presence": presence,
            "tied": out_tied,
            "bound": out_bd,
        }


Tied = tuple[int, np.ndarray, str]  # a button slot, its looks (2, S, S, 4), the skin's id


def _explains(obs: Any, prep: dict) -> np.ndarray:
    """(n,) per crop: the mean squared residual of the better of an element's two looks
    (each locally fitted to the crop, as the comparator sees them)."""
    from nitrogen_cli.parser.model import _local_fit

    fr, fp = _local_fit(obs, prep["er"], prep["ep"], prep["keep"])
    r = ((obs - fr) ** 2).mean(dim=(1, 2, 3))
    p = ((obs - fp) ** 2).mean(dim=(1, 2, 3))
    return np.minimum(r.numpy(), p.numpy())


def _broadcast(prep: dict, n: int) -> dict:
    """One look's preparation (leading dimension 1) over `n` crops, without copying."""
    return {k: v.expand(n, *v.shape[1:]) for k, v in prep.items()}


def button_preps(net: Any, looks: Looks, cal: Calibration, tied: Sequence[Tied] = ()) -> tuple:
    """What each button's crop is compared with under `cal` (`ButtonNet.prepare`): the
    named skin's looks, per tied look its own, and per part-filled trigger look
    (`Looks.fills`) and neighbour's press (`Looks.neighbours`) that one as pressed with
    its slot, over the background under the crop."""
    import torch

    nb = len(looks.buttons)
    bg = torch.as_tensor(looks.crops(cal.bg)[0]).permute(0, 3, 1, 2).contiguous()
    gain = torch.as_tensor(cal.gain, dtype=torch.float32)

    def prepare(lk: np.ndarray, j: slice) -> dict:
        """Looks (n, 2, S, S, 4) over the background of slots `j`."""
        t = torch.as_tensor(lk).permute(0, 1, 4, 2, 3).contiguous()
        return net.button.prepare(t, gain.expand(len(t), 3), bg[j])

    with torch.inference_mode():
        prep = prepare(looks.button_looks, slice(0, nb))
        tied_preps = [prepare(t[None], slice(j, j + 1)) for j, t, _ in tied]
        fill_preps, near_preps = (
            [
                (j, prepare(np.stack([looks.button_looks[j, 0], lk])[None], slice(j, j + 1)))
                for j, lk in pairs
            ]
            for pairs in (looks.fills, looks.neighbours)
        )
    return prep, tied_preps, fill_preps, near_preps


class ButtonFit:
    """How well each button's two looks, over one calibration's background, explain its
    crops (`_explains`): a background that changed under a see-through button (a new
    game, a card, a score) fits neither look, where the overlay's own pixels may not
    change at all. A button of skins tied at rest counts as explained by any of their
    looks (a press of the skin the video shows looks unlike the named skin's), a
    part-filled trigger by any of its fills, a button by a neighbour's press that lights
    part of it."""

    def __init__(self, prep: dict, tied: Sequence[tuple[int, dict]] = ()):
        """`button_preps`' (or the parser's folded) preparations, tied ones by slot."""
        self.prep, self.tied = prep, list(tied)

    @classmethod
    def of(cls, net: Any, looks: Looks, cal: Calibration, tied: Sequence[Tied] = ()) -> ButtonFit:
        prep, tied_preps, fill_preps, near_preps = button_preps(net, looks, cal, tied)
        alts = [(j, tp) for (j, _, _), tp in zip(tied, tied_preps, strict=True)]
        return cls(prep, alts + fill_preps + near_preps)

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """(n, nb, S, S, 3) button crops -> (n, nb) residuals."""
        import torch

        n, nb, S = crops.shape[:3]
        with torch.inference_mode():
            obs = torch.as_tensor(crops).permute(0, 1, 4, 2, 3)  # (n, nb, 3, S, S)
            prep = {
                k: self.prep[k][None].expand(n, -1, -1, -1, -1).reshape(n * nb, -1, S, S)
                for k in ("er", "ep", "keep")
            }
            out = _explains(obs.reshape(n * nb, 3, S, S), prep).reshape(n, nb)
            for j, tp in self.tied:
                prep = {k: tp[k].expand(n, -1, -1, -1) for k in ("er", "ep", "keep")}
                out[:, j] = np.minimum(out[:, j], _explains(obs[:, j], prep))
        return out


def risen(res: np.ndarray, usual: np.ndarray) -> int:
    """The first row from which some button's crops are mostly explained `RES_RISE`
    times worse than usual, or -1."""
    high = res > RES_RISE * usual
    first = -1
    for j in range(res.shape[1]):
        k = int(np.argmax(high[:, j]))
        if high[k, j] and high[k:, j].mean() >= 0.5 and (first < 0 or k < first):
            first = k
    return first


def tied_looks(looks: Looks, others: Sequence[tuple[str, Looks]]) -> list[Tied]:
    """The presses that skins tied with `looks` (the same at rest) draw unlike it."""
    out: list[Tied] = []
    for tid, other in others:
        names = [b.name for b in other.buttons]
        for j, slot in enumerate(looks.buttons):
            if slot.name not in names:
                continue
            lk = other.button_looks[names.index(slot.name)]
            if lk.shape != looks.button_looks[j].shape:
                continue
            if float(np.abs(lk[1] - looks.button_looks[j][1]).max()) > TIED_DIFFER:
                out.append((j, lk, tid))
    return out


# -- reading the overlay file ------------------------------------------------------------------
@dataclass
class OverlayInfo:
    template: Any
    transform: np.ndarray
    video: Path
    info: dict[str, Any]
    video_record: list[dict[str, Any]]
    ties: list[Any] = field(default_factory=list)  # skins detection could not tell apart
    # detection's sampled frames: (frame index, found, [x, y, w, h]) each, where recorded
    samples: list[tuple[int, bool, np.ndarray]] = field(default_factory=list)

    @property
    def box(self) -> np.ndarray:
        """The template canvas in video pixels, [x, y, w, h]: where most samples show it."""
        if "bbox" in self.info:
            return np.asarray(self.info["bbox"], np.float64).reshape(4)
        x0, y0 = self.transform @ np.array([0.0, 0.0, 1.0])
        x1, y1 = self.transform @ np.array([*self.template.size, 1.0])
        return np.array([x0, y0, x1 - x0, y1 - y0])


def read_overlay_file(path: str | Path) -> OverlayInfo:
    """The template, placement and video of an overlay file; Skip when none was found;
    NitrogenError when its video is missing or changed."""
    from nitrogen_cli.overlays import Template, TemplateError

    with formats.open_file(path, "overlay") as f:
        info = formats.read_overlay(f)
        if not info.get("found"):
            raise Skip("no overlay found in its video")
        for key in ("transform", "layout_json", "template"):
            if key not in info:
                raise formats.FormatError(f"found overlay lacks /overlay attribute {key!r}")
        atlas = formats.read_atlas_png(f)
        if atlas is None:
            raise formats.FormatError("found overlay lacks /overlay/atlas_png")
        video = formats.video_path(f, path)
        formats.verify_input(f, video)
        tied = (
            [
                (
                    str(d.attrs["template"]),
                    str(d.attrs.get("layout", info.get("layout"))),
                    str(d.attrs["layout_json"]),
                    d[()].tobytes(),
                )
                for _, d in sorted(f["overlay/ties"].items(), key=lambda kv: int(kv[0]))
            ]
            if "overlay/ties" in f
            else []
        )
        samples = []
        if "overlay/sample_frame_index" in f and "overlay/sample_bbox" in f:
            where = f["overlay/sample_found"][()] if "overlay/sample_found" in f else None
            boxes = np.asarray(f["overlay/sample_bbox"][()], np.float64).reshape(-1, 4)
            at = np.asarray(f["overlay/sample_frame_index"][()], np.int64).reshape(-1)
            if where is not None and len(where) == len(at) == len(boxes):
                samples = [(int(i), bool(w), b) for i, w, b in zip(at, where, boxes, strict=True)]
        records = [
            r
            for r in formats.provenance(f)["inputs"]
            if Path(r.get("path", "")).name == Path(video).name
        ]
    try:
        template = Template.from_bytes(
            info["layout_json"], atlas, id=str(info["template"]), layout=info.get("layout")
        )
        ties = [Template.from_bytes(j, png, id=i, layout=lay) for i, lay, j, png in tied]
    except TemplateError as exc:
        raise formats.FormatError(f"its template cannot be rebuilt: {exc}") from None
    transform = np.asarray(info["transform"], np.float64).reshape(2, 3)
    return OverlayInfo(template, transform, Path(video), info, records, ties, samples)


# sampled boxes that overlap this much are one placement: detection writes each sample
# one of a few boxes, at least this far apart (an overlay resized in place: 0.86)
MOVED_IOU = RESIZED_APART
MOVED_SAMPLES = 2  # samples in a row that show the overlay elsewhere before it is read there
MOVED_CALIB = 240  # frames showing the overlay that a box it moved to is calibrated on


def placed_transform(ov: OverlayInfo, box: np.ndarray) -> np.ndarray:
    """The template-to-video transform that puts its canvas at `box`: detection's own,
    moved and scaled from its box to this one."""
    home = ov.box
    if np.allclose(box, home):
        return ov.transform
    sx, sy = box[2] / max(home[2], 1e-9), box[3] / max(home[3], 1e-9)
    move = np.array([[sx, 0.0, box[0] - sx * home[0]], [0.0, sy, box[1] - sy * home[1]]])
    return move @ np.vstack([ov.transform, [0.0, 0.0, 1.0]])


def elsewhere(ov: OverlayInfo) -> list[tuple[np.ndarray, tuple[int, int | None]]]:
    """Where detection's samples show the overlay moved from its usual box: each run of
    samples at another box (samples that found it nowhere may lie among them), as that
    box and the frames from the sample before the run to the sample after it.

    Extraction reads these frames at both places and keeps, frame by frame, the reading
    where the overlay shows better: a streamer who moves the overlay for a while would
    otherwise lose those frames (and, moved a little, have them read wrong)."""
    places = [ov.box]
    label: list[int | None] = []
    for _, found, b in ov.samples:
        if not found or b[2] <= 0 or b[3] <= 0:
            label.append(None)
            continue
        k = next((k for k, p in enumerate(places) if iou(b, p) >= MOVED_IOU), None)
        if k is None:
            places.append(b)
            k = len(places) - 1
        label.append(k)
    out: list[tuple[np.ndarray, tuple[int, int | None]]] = []
    seen = [(i, k) for i, k in enumerate(label) if k is not None]
    j = 0  # the run's first place in `seen`
    for k, run in itertools.groupby(seen, key=lambda s: s[1]):
        e = j + len(list(run))  # the place after it
        if k != 0 and e - j >= MOVED_SAMPLES:
            a = ov.samples[seen[j - 1][0]][0] + 1 if j > 0 else 0
            b = ov.samples[seen[e][0]][0] if e < len(seen) else None
            out.append((places[k], (a, b)))
        j = e
    return out


# -- the whole video ---------------------------------------------------------------------------
def scene_cuts(items: Sequence[tuple[int, np.ndarray | None]], sampler: PointSampler) -> list[int]:
    """Positions in `items` where another scene starts: most of the overlay's unchanging
    pixels change by CUT at once from the changed frame before. Over the corpora such a
    change comes at cards, switches and the overlay hidden or moved; in play rarely (a
    flash), and a scene shorter than MIN_SCENE frames joins the next."""
    real = [i for i, (_, r) in enumerate(items) if r is not None]
    if len(real) < 2:
        return []
    moved = cut_steps(np.stack([sampler(items[i][1]) for i in real]))
    cuts, last = [], 0
    for i in np.flatnonzero(moved):
        at = real[i + 1]
        if at - last >= MIN_SCENE:
            cuts.append(at)
            last = at
    return cuts


def cut_steps(pts: np.ndarray) -> np.ndarray:
    """(K - 1,) bool: which steps between K frames' presence pixels (K, P, 3) are cuts."""
    return np.median(np.abs(np.diff(pts, axis=0)).max(axis=2), axis=1) >= CUT


def _later(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    return a if b is None else b


def _spread(n: int, k: int) -> np.ndarray:
    """At most k indices spread evenly over range(n)."""
    return np.linspace(0, n - 1, min(n, k)).astype(np.int64)


def _yuv_crop(frame: Any, roi: tuple[int, int, int, int]) -> list[np.ndarray]:
    """Views of a yuv420p frame's planes under `roi` (every other pixel: enough to see a
    change, at a quarter of the cost)."""
    x0, y0, x1, y1 = roi
    y = plane(frame, 0)[y0:y1:2, x0:x1:2]
    u = plane(frame, 1)[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2]
    v = plane(frame, 2)[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2]
    return [y, u, v]


def _same(planes: list[np.ndarray], ref: list[np.ndarray], tol: int = 2) -> bool:
    """Whether every sampled value is within `tol` of the reference's."""
    for a, b in zip(planes, ref, strict=True):
        if a.shape != b.shape or cv2.absdiff(a, b).max() > tol:
            return False
    return True


def _checked_roi(cmap: CanvasMap, frame: Any) -> tuple[np.ndarray, bool]:
    """The first frame's crop, and whether the cheap I420 conversion matches the decoder's
    own (a video tagged BT.709 or full range does not: then the exact path is used)."""
    exact = cmap.roi_rgb(frame, exact=True)
    if getattr(frame.format, "name", "") != "yuv420p":
        return exact, True
    cheap = i420_crop(frame, cmap.roi)
    if np.abs(cheap.astype(np.int16) - exact).mean() > 2.5:
        return exact, True
    return cheap, False


AHEAD_BYTES = 64 << 20  # crops decoded ahead of the parser at most (about 160 at 720p)


class ReadAhead:
    """Decodes on a thread of its own, up to `depth` frames ahead of the parser, and
    cuts each frame's overlay rectangle there: (index, RGB crop or None, still).

    The decoder's threads would otherwise idle whenever the parser works through a
    batch or calibrates (its few frames in flight fill up): decoding and parsing then
    take turns instead of sharing the cores. PyAV, OpenCV and torch all release the GIL
    in their heavy parts. `still`: the frame's overlay rectangle did not change at all
    (the decoder often copies the very same pixels); its crop is then None.
    """

    END = object()

    def __init__(
        self,
        video: Path,
        cmap: CanvasMap,
        depth: int | None = None,
        span: tuple[int, int | None] = (0, None),
    ):
        import queue
        import threading

        from nitrogen_cli import video as vid

        self.vid, self.cmap = vid, cmap
        self.exact = False  # set from the first frame (_checked_roi)
        if depth is None:  # enough to decode on through a calibration, in bounded memory
            x0, y0, x1, y1 = cmap.roi
            depth = int(np.clip(AHEAD_BYTES // max(1, 3 * (x1 - x0) * (y1 - y0)), 16, 512))
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.span = span
        self.thread = threading.Thread(target=self._run, args=(video,), daemon=True)
        self.thread.start()

    def _put(self, item: Any) -> bool:
        import queue

        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, video: Path) -> None:
        still: list[np.ndarray] | None = None
        try:
            start, stop = self.span
            frames = self.vid.stream_frames(video, start=start, stop=stop, raw=True)
            for n, (index, frame) in enumerate(frames):
                if n == 0:
                    roi, self.exact = _checked_roi(self.cmap, frame)
                    item = (index, roi, False)
                elif self.exact:
                    item = (index, self.cmap.roi_rgb(frame, exact=True), False)
                else:
                    planes = _yuv_crop(frame, self.cmap.roi)
                    if still is not None and _same(planes, still):
                        item = (index, None, True)
                    else:
                        still = [p.copy() for p in planes]
                        item = (index, self.cmap.roi_rgb(frame), False)
                if not self._put(item):
                    return
            self._put(self.END)
        except BaseException as exc:  # handed to the reader, raised there
            self._put(exc)

    def __iter__(self) -> Any:
        while True:
            item = self.queue.get()
            if item is self.END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
# buffers at least this big are mapped, and unmapped when freed; glibc's own ceiling for
# the threshold it would otherwise move
MMAP_FROM = 32 * 1024 * 1024


def steady_heap() -> None:
    """Keep a long extraction's memory flat, and its buffers cheap (glibc only).

    A batch allocates many large, short-lived buffers (crops, the comparator's inputs)
    of varying size. glibc raises its mmap threshold each time such a buffer is freed,
    so later ones come from the heap, which fragments: resident memory crept up by some
    400 MB over the first few thousand 1080p frames before it levelled off. A threshold
    fixed from the start gives the heap its working set at once, and it stays flat
    (peak RSS 684 / 679 / 693 MB over 480 / 960 / 12000 frames of 1080p).

    Fixed low instead (256 KB), every buffer was a fresh mapping, faulted in page by
    page: a batch's crops took 86 ms instead of 45, and the main thread spent 1.76 s and
    2.36 s of CPU on the two 20 s bench videos, against 1.10 s and 1.55 s.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_FROM)
    except (OSError, AttributeError):
        pass


def extract(
    overlay_path: str | Path,
    dst: str | Path,
    config: ExtractConfig | None = None,
    net: Any = None,
    log: Callable[[str], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExtractResult:
    """Write `dst` (kind "actions") from an overlay file and its video (module docstring).

    Runs OpenCV, torch and numpy's BLAS on one thread each while it works: the decoder's
    own threads take the other cores, and these small images gain nothing from more.
    (BLAS threads that spin while the decoder wants the core are worse than nothing:
    128 stick crops against 450 candidates took 65 ms with OpenBLAS's default threads
    on 2 busy cores, 5 ms on one.)
    """
    import torch
    from threadpoolctl import threadpool_limits

    steady_heap()
    cv_threads, torch_threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1, user_api="blas"):
            return _extract(overlay_path, dst, config, net, log, progress)
    finally:
        cv2.setNumThreads(cv_threads)
        torch.set_num_threads(torch_threads)


def _extract(
    overlay_path: str | Path,
    dst: str | Path,
    config: ExtractConfig | None,
    net: Any,
    log: Callable[[str], None] | None,
    progress: Callable[[int], None] | None,
) -> ExtractResult:
    from nitrogen_cli import video as vid
    from nitrogen_cli.parser.model import load, read_info

    cfg = config or ExtractConfig()
    log = log or (lambda _: None)
    t0 = time.perf_counter()
    ov = read_overlay_file(overlay_path)
    net = net if net is not None else load(cfg.checkpoint)
    vinfo = vid.probe(ov.video)
    moves = elsewhere(ov)
    main = _read(ov, ov.box, (0, None), net, cfg, vinfo, log, progress, away=[s for _, s in moves])
    if main.decoded == 0:
        note = main.note
        raise NitrogenError(f"no frame of {ov.video} could be decoded{': ' + note if note else ''}")
    runs = [main]
    # calibrated on a longer stretch: a move often comes with a change of scene, and the
    # frames just after it may not be the game that goes on (H2 c24-0040: a menu's 43
    # frames among the first 60 read see-through triggers pressed over the game after
    # it, 806 errors; 0 on the first 240)
    moved_cfg = replace(cfg, calib_frames=max(cfg.calib_frames, MOVED_CALIB))
    for box, span in moves:
        log(
            f"frames {span[0]}-{span[1] or 'end'}: samples show the overlay moved to "
            f"{[round(v) for v in box]}; read there too"
        )
        run = _read(ov, box, span, net, moved_cfg, vinfo, log, progress)
        # one overlay, one opacity: a calibration there far off the usual box's is of a
        # box not quite right, or of no overlay (G2 c26-0015: 2 samples found it there
        # while it was hidden, x1.38; H2 c24-0004: a box 2% small, x0.29, 58 errors in
        # its frames); the other 21 boxes moved to over the corpora came out x0.94-1.10
        ratio = _opacity_ratio(run.cal, main.cal)
        if not SAME_OPACITY[0] <= ratio <= SAME_OPACITY[1]:
            log(f"frames {span[0]}-{span[1] or 'end'}: opacity x{ratio:.2f} there: not read")
        elif run.decoded:
            runs.append(run)
    result = _finish(runs, ov, vinfo, dst, overlay_path, net, read_info, cfg)
    result.seconds = time.perf_counter() - t0
    result.decoded = main.decoded
    cal = main.cal
    if cfg.keep_readings:
        result.readings = (main.reads, main.looks, ov, vinfo, cal)
    if main.reused is not None:
        result.stats["reused"] = main.reused
    result.stats.update(
        recalibrated=main.recalibrated,
        gain=cal.gain.tolist() if cal else None,
        aligned=bool(cal.aligned) if cal else False,
        fps=main.decoded / result.seconds if result.seconds else 0.0,
        placements=len(runs),
    )
    return result


def _opacity_ratio(cal: Calibration | None, usual: Calibration | None) -> float:
    if cal is None or usual is None:
        return 0.0
    return float(np.mean(cal.gain) / max(float(np.mean(usual.gain)), 1e-6))


@dataclass
class Placed:
    """The video read at one placement of the overlay: raw readings, and what read them."""

    box: np.ndarray  # [x, y, w, h] in video pixels
    span: tuple[int, int | None]  # the frames read, [start, stop)
    reads: Readings
    looks: Looks
    cal: Calibration | None
    tied: list[Tied]
    tied_fit: np.ndarray
    note: str
    decoded: int
    recalibrated: int
    reused: float | None


def _read(
    ov: OverlayInfo,
    box: np.ndarray,
    span: tuple[int, int | None],
    net: Any,
    cfg: ExtractConfig,
    vinfo: Any,
    log: Callable[[str], None],
    progress: Callable[[int], None] | None,
    away: Sequence[tuple[int, int | None]] = (),
) -> Placed:
    """Read the frames of `span` with the overlay's canvas at `box` ([x, y, w, h]).
    Frames in the spans `away` (detection's samples show the overlay elsewhere then) are
    not taken for a faint overlay."""
    from nitrogen_cli import video as vid

    pcfg = net.cfg
    transform = placed_transform(ov, box)
    cmap = CanvasMap.make(transform, ov.template.size, (vinfo.width, vinfo.height))
    every = [ov.template, *ov.ties]
    looks = build_looks(ov.template, cmap.scale, pcfg.size, pcfg.stick_size, pcfg.grid, also=every)
    others = {
        t.id: build_looks(t, cmap.scale, pcfg.size, pcfg.stick_size, pcfg.grid, also=every)
        for t in ov.ties
    }
    tied = tied_looks(looks, list(others.items()))
    tied_fit = np.zeros((2, len(tied)))  # summed over every calibration's parser
    # the pressed looks at their boxes of the buttons a tied skin presses otherwise
    unsure: dict[int, list[np.ndarray]] = {}
    for j, _, tid in tied:
        names = [b.name for b in others[tid].buttons]
        lk = others[tid].pressed[names.index(looks.buttons[j].name)]
        if lk.shape == looks.pressed[j].shape:
            unsure.setdefault(j, []).append(lk)
    reads = Readings()
    parser: FrameParser | None = None
    pending: list[tuple[int, np.ndarray]] = []  # (index, roi) awaiting a batch
    calib_rois: list[tuple[int, np.ndarray, float]] = []  # frames that show the overlay
    unclear: list[tuple[int, np.ndarray, float]] = []  # frames that may not
    note = ""
    cal: Calibration | None = None
    # a skin that stands out little against the probe's grey (a dark minimal skin over a
    # dark game) is still calibrated on where it shows at detection's opacity
    det_opacity = float(ov.info.get("opacity") or 0.0)
    next_faint, faint_wait = 0, cfg.calib_max // 2
    probe_pres = calib.Presence(looks.rest, looks.static, np.ones(3), np.full(3, 0.5))
    probe_at = PointSampler(cmap, probe_pres.idx)
    reader: CropReader | None = None  # crops straight from the video, once calibrated
    sampler: PointSampler | None = None  # the presence score's pixels, likewise

    last: dict[str, np.ndarray] = {}  # the latest frame's readings
    usual = 0.0  # the overlay's presence on the frames of the last calibration
    fit: ButtonFit | None = None  # the last calibration's button fit
    fit_usual: np.ndarray | None = None  # its residuals on the first frames read after it
    res_hold = False  # the frames held back were held for a button's residual
    held: list[tuple[int, np.ndarray | None]] = []  # frames held back to calibrate on
    wait_until = -1  # no new calibration is tried before this frame
    # ... for the overlay standing out less: a miss held for a button's crops says
    # nothing of the next scene (J2 c27-0011: one at frame 700 held off a game switch
    # after a card at 1127, and 85 frames read west pressed on the old background)
    wait_shown = -1
    recalibrated = 0
    # the calibrations left for a newer one, latest last, with their usual presence and
    # button fit: a stream goes back to a scene it left (a game after its pause menu)
    known: list[Known] = []
    then_fit: np.ndarray | None = None  # the usual button fit of a calibration gone back to
    last_pts = np.zeros((0, len(probe_pres.idx), 3), np.float32)  # the last frame read's
    thin = False  # the first calibration rests on fewer than THIN frames

    def switch(to: Known) -> None:
        nonlocal cal, usual, parser, then_fit
        assert cal is not None
        others = [k for k in known if k[0] is not to[0]]
        # a first calibration on a frame or few is not gone back to (J2 c27-0008)
        known[:] = others[-KNOWN:] if thin else [*others[-(KNOWN - 1) :], (cal, usual, fit_usual)]
        (cal, usual, then_fit), parser = to, None

    def revisit(pts: np.ndarray) -> Known | None:
        """The known calibration that fits these frames (their presence pixels) as well
        as it fitted its own."""
        if not known or not len(pts):
            return None
        best, top = None, 0.0
        for k in known:
            z = float(np.median(k[0].presence.score(pts)))
            if z >= max(cfg.recal_drop * k[1], SHOWN) and z > top:
                best, top = k, z
        return best

    def recalibrate() -> None:
        """Calibrate on the held-back frames (`settle`). Where they hold a cut to another
        scene (a card, then a game), each scene before the last is settled on its own,
        and the last is held on: calibrated on together, the scenes' median was neither
        (E2 c25-0027: a still card's one changed frame among a game's 30 read as three
        presses held through the card's 213 frames)."""
        nonlocal held
        assert cal is not None and sampler is not None
        items, held = held, []
        cuts = scene_cuts(items, sampler)
        if not cuts:
            settle(items)
            return
        cands: list[Known] = [(cal, usual, fit_usual)]
        for a, b in zip([0, *cuts[:-1]], cuts, strict=True):
            got = settle(items[a:b], scene=True)
            if got is not None:
                cands.append(got)
        held = items[cuts[-1] :]
        # the last scene goes on under whichever calibration fits it best, and is judged
        # against that: after a card, the same game may come back (c25-0029: Boxing idle,
        # a card, Boxing played, its punch mashed through the frames after the card)
        real = [r for _, r in held if r is not None]
        cands += known
        if len(cands) > 1 and real:
            pts = np.stack([sampler(r) for r in real])
            z = [float(np.median(c[0].presence.score(pts))) for c in cands]
            best = int(np.argmax(z))
            if cands[best][0] is not cal:
                switch(cands[best])
        if len(real) >= cfg.recal_frames:
            recalibrate()

    def settle(items: list[tuple[int, np.ndarray | None]], scene: bool = False) -> Known | None:
        """Calibrate on `items`, then read them; keep it where the overlay stands out
        clearly better against the new background (or, held for a button's crops, where
        they are explained twice as well), with an opacity like the old one's (frames
        without the overlay would otherwise be taken for its background). A `scene` that
        a cut ended is read under its calibration, which is handed back where kept (for
        the scene after it) and let go: its frames are taken as long as each lasts (a
        still card's one changed frame is most of it)."""
        nonlocal cal, parser, usual, wait_until, wait_shown, recalibrated, res_hold, fit
        nonlocal fit_usual, then_fit, thin
        assert cal is not None and sampler is not None
        rois = [r for _, r in items if r is not None]
        if len(rois) >= 3 or (scene and rois):
            if scene:  # the frame in effect at evenly spread items
                latest = list(itertools.accumulate((r for _, r in items), _later))
                rois = [latest[i] for i in _spread(len(items), cfg.recal_frames)]
                rois = [r for r in rois if r is not None]
            chosen = [rois[i] for i in _spread(len(rois), cfg.recal_frames)]
            new = calibrate(chosen, cal.cmap, looks, False, unsure)
            new.aligned = cal.aligned
            pts = np.stack([sampler(r) for r in rois])  # the presence score's pixels
            z_old, z_new = cal.presence.score(pts), new.presence.score(pts)
            ratio = _opacity_ratio(new, cal)
            gained = float(np.median(z_new) - np.median(z_old))
            better = gained >= 0.1
            why = ""
            if res_hold and fit is not None and fit_usual is not None and reader is not None:
                # held for some buttons' crops: the new background is taken under those
                # alone (elsewhere the old one explained the frames, a held press too),
                # and kept where it explains them twice as well
                crops = reader(np.stack(rois))[0]
                old_fit = fit(crops) / fit_usual
                changed = np.median(old_fit, axis=0) >= RES_RISE / 2
                if changed.any() and not better:
                    bg = cal.bg.copy()
                    for j in np.flatnonzero(changed):
                        x, y, w, h = looks.button_boxes[j]
                        bg[y : y + h, x : x + w] = new.bg[y : y + h, x : x + w]
                    pres = calib.Presence(looks.rest, looks.static, cal.gain, bg)
                    new = Calibration(cal.cmap, cal.gain, bg, pres, cal.aligned, cal.click_bg)
                    z_new = new.presence.score(pts)
                    ratio = 1.0
                r_old = old_fit.max(axis=1)
                r_new = (ButtonFit.of(net, looks, new, tied)(crops) / fit_usual).max(axis=1)
                m_old, m_new = float(np.median(r_old)), float(np.median(r_new))
                better = better or (m_new <= 0.5 * m_old and m_new <= 2 * RES_RISE)
                why = f", buttons fit x{m_old:.1f} -> x{m_new:.1f} usual"
            if thin and not scene:
                # the first calibration rested on a frame or few (J2 c27-0008: on one,
                # after 300 where the overlay stood out little against the probe), so
                # more frames of the same scene are taken where the overlay stands out
                # about as well
                better = better or gained >= -0.05
            keep = (
                better
                and float(np.median(z_new)) >= SHOWN
                and SAME_OPACITY[0] <= ratio <= SAME_OPACITY[1]
            )
            log(
                f"frame {items[0][0]}: presence {np.median(z_old):.2f} -> "
                f"{np.median(z_new):.2f}{why} on a new calibration (opacity x{ratio:.2f}"
                f"{', a scene up to a cut' if scene else ''}): {'kept' if keep else 'not kept'}"
            )
            if keep and scene:
                was = cal, parser, usual, fit, fit_usual, then_fit
                cal, parser, then_fit = new, None, None
                recalibrated += 1
                flush_all(items, check=False)
                cal, parser, usual, fit, fit_usual, then_fit = was
                return new, float(np.median(z_new)), None
            if keep:
                switch((new, float(np.median(z_new)), None))
                recalibrated += 1
            elif not scene:
                # no back-off after a miss: one at frame 168 of L2 c29-0006 doubled the
                # wait past a card at 712 (corpus J2 without it: 3636 -> 2200 errors)
                wait_until = items[-1][0] + cfg.recal_wait
                if not res_hold:
                    wait_shown = wait_until
        if not scene:
            res_hold = thin = False
        flush_all(items, check=False)
        return None

    def flush(
        items: list[tuple[int, np.ndarray | None]], check: bool = True, switched: bool = False
    ) -> None:
        """Parse a batch; an item without a crop (its frame's overlay rectangle did not
        change at all) repeats the reading before it. A batch where the overlay stands
        out much less than it did, or a button's crops fit its looks much worse, is held
        back and calibrated on anew (`recalibrate`), or goes back to a calibration it
        left (not at its first frame where it was just `switched` there: two could
        otherwise take turns on a batch where half its frames fall under each)."""
        nonlocal parser, last, reader, sampler, held, fit, fit_usual, then_fit, last_pts
        if not items:
            return
        assert cal is not None
        if held and check:
            if not res_hold and not thin and sampler is not None:
                # held for the overlay standing out less: where the old calibration fits
                # again from some frame on (a pause menu or card that passed), the held
                # frames end there, so that they show one scene (J2 c27-0018: a menu's 35
                # changed frames and the game's 43 after it, calibrated on together, kept
                # the old calibration, and the menu read as presses)
                idx = [i for i, (_, r) in enumerate(items) if r is not None]
                if idx and sum(r is not None for _, r in held) >= 3:
                    pres = cal.presence.score(np.stack([sampler(items[i][1]) for i in idx]))
                    back = pres >= cfg.recal_drop * usual
                    k = int(np.argmax(back))
                    if back[k] and back[k:].mean() >= 0.5:
                        held += items[: idx[k]]
                        recalibrate()
                        flush(items[idx[k] :])
                        return
            held += items
            if sum(r is not None for _, r in held) >= cfg.recal_frames:
                recalibrate()
            return
        if parser is None:
            parser = FrameParser(net, looks, cal, cfg.reuse_tol, ov.template, tied, tied_fit)
            reader = CropReader.make(cal.cmap, looks.crop_groups)
            sampler = PointSampler(cal.cmap, cal.presence.idx)
            fit = parser.fit if cfg.recal_drop and looks.buttons else None
            fit_usual, then_fit = then_fit, None
        real = [r for _, r in items if r is not None]
        out: dict[str, np.ndarray] = {}

        def hold(k: int, for_fit: bool) -> None:
            """Read the batch up to its k-th changed frame; hold back the rest."""
            nonlocal held, res_hold
            at = [i for i, (_, r) in enumerate(items) if r is not None][k]
            flush(items[:at], check=False)
            held, res_hold = list(items[at:]), for_fit
            if len(real) - k >= cfg.recal_frames:
                recalibrate()

        if thin and check and real and reader is not None:
            hold(0, False)
            return
        if real and reader is not None and sampler is not None:
            pts = np.stack([sampler(r) for r in real])
            pres = cal.presence.score(pts)
            before, last_pts = last_pts, pts[-1:]
            if check and cfg.recal_drop and usual >= SHOWN:
                # from the first frame where it falls, if it mostly stays down after
                low = pres < cfg.recal_drop * usual
                k = int(np.argmax(low))
                if low[k] and low[k:].mean() >= 0.5:
                    # at a cut, maybe back to a scene left before (c25-0029: the game
                    # after its pause menu); not within one scene (over Doom, c26-0011,
                    # calibrations of its own moments took turns)
                    back = None
                    if known and not (switched and k == 0):
                        seq = np.concatenate([before, pts])
                        j = len(before) + k  # the first low frame's place in seq
                        near = seq[max(j - NEAR_CUT - 1, 0) : j + NEAR_CUT + 1]
                        back = revisit(pts[k:]) if cut_steps(near).any() else None
                    if back is not None:
                        at = [i for i, (_, r) in enumerate(items) if r is not None][k]
                        flush(items[:at], check=False)
                        log(f"frame {items[at][0]}: back to an earlier calibration")
                        switch(back)
                        flush(items[at:], switched=True)
                        return
                    if items[-1][0] >= wait_shown:
                        hold(k, False)
                        return
            groups = reader(np.stack(real))
            if fit is not None:
                sub = np.arange(0, len(real), RES_STEP)
                res = fit(groups[0][sub])
                if fit_usual is None:  # the frames read first after a calibration
                    fit_usual = np.maximum(np.median(res, axis=0), 1e-4)
                elif check and items[-1][0] >= wait_until:
                    k = risen(res, fit_usual)
                    if k >= 0:
                        # from the frame since the last one checked that it shows in
                        # throughout (a passing object before a switch is not its start)
                        lo = sub[k - 1] + 1 if k else 0
                        worse = (fit(groups[0][lo : sub[k] + 1]) > RES_RISE * fit_usual).any(1)
                        first = (
                            lo + len(worse) - int(np.argmin(worse[::-1])) if not worse.all() else lo
                        )
                        hold(first, True)
                        return
            ring = np.stack([parser.ring_at(r) for r in real]) if parser.ring_at else None
            out = parser.parse(*groups, pres, ring)
        elif real:  # a placement too rotated for the direct crops: through the canvas
            canv = np.stack([cal.cmap.from_rgb_roi(r, as_float=False) for r in real])
            crops = [looks.crops(c) for c in canv]
            groups = [np.stack([c[j] for c in crops]) for j in range(3)]
            idx = parser.surround.idx
            ring = (
                canv.reshape(len(canv), -1, 3)[:, idx].astype(np.float32) / 255
                if len(idx)
                else None
            )
            out = parser.parse(*groups, cal.presence(canv), ring)
        if len(real) < len(items):  # spread the parsed readings over the repeats
            pos = np.cumsum([r is not None for _, r in items]) - 1
            full = {}
            for k in ("button", "stick", "thumb", "peak", "presence", "tied", "bound"):
                src = out[k] if real else np.zeros((0, *last[k].shape[1:]), np.float32)
                prev = last[k] if last else np.zeros((1, *src.shape[1:]), np.float32)
                both = np.concatenate([prev, src])
                full[k] = both[pos + 1]
            out = full
        reads.index.append(np.array([i for i, _ in items], np.int64))
        for k, v in out.items():
            getattr(reads, k).append(v)
        last = {k: v[-1:] for k, v in out.items()}
        if progress:
            progress(len(items))

    def flush_all(items: list[tuple[int, np.ndarray | None]], check: bool = True) -> None:
        for j in range(0, len(items), cfg.batch):
            flush(items[j : j + cfg.batch], check=check)

    def absent(items: list[tuple[int, float]]) -> None:
        """Frames met before calibration that do not show the overlay at its place: rows
        read as released and centred, with their (low) presence, unparsed."""
        if not items:
            return
        n = len(items)
        reads.index.append(np.array([i for i, _ in items], np.int64))
        reads.button.append(np.full((n, len(looks.buttons)), -20.0, np.float32))
        reads.stick.append(np.zeros((n, len(looks.sticks), 2), np.float32))
        reads.thumb.append(np.full((n, len(looks.sticks)), -20.0, np.float32))
        reads.peak.append(np.zeros((n, len(looks.sticks)), np.float32))
        reads.presence.append(np.array([z for _, z in items], np.float32))
        reads.tied.append(np.full((n, len(tied)), -20.0, np.float32))
        reads.bound.append(np.zeros((n, len(looks.buttons)), np.float32))
        if progress:
            progress(n)

    def start(
        buffer: list[tuple[int, np.ndarray, float]],
        faint: bool = False,
        aside: Sequence[tuple[int, np.ndarray, float]] = (),
    ) -> bool:
        """Calibrate on the buffered frames that show the overlay best, then parse them.
        With `faint` (no frame stood out against the probe), only where the calibration
        finds the overlay there, at an opacity like the one detection fitted: frames
        without it fit a small fraction of it. Frames kept `aside` while it waited (they
        did not stand out against the probe's grey) are read first, and the calibration's
        own presence judges them: a skin over a game of the same grey, corpus c25-0006,
        had its first 187 frames unread."""
        nonlocal cal, usual, fit_usual, thin
        z = np.array([zi for _, _, zi in buffer], np.float32)
        best = float(z.max()) if len(z) else 0.0
        # near the best: a card shown over the hidden overlay still correlated 0.61 with
        # it, against 0.96 where it showed, and half the frames of a calibration were the
        # card's (V1 c31-0000: gain 0.47 at opacity 1.0, a trigger read pressed throughout)
        bar = max(0.6 * best, best - KEEP_NEAR)
        keep = [r for _, r, zi in buffer if zi >= bar][-cfg.calib_frames :]
        trial = calibrate(keep, cmap, looks, unsure=unsure, opacity=det_opacity)
        at = PointSampler(trial.cmap, trial.presence.idx)
        usual = 0.0
        if keep:
            usual = float(np.median(trial.presence.score(np.stack([at(r) for r in keep]))))
        if faint:
            ratio = float(np.mean(trial.gain)) / max(det_opacity, 1e-6)
            ok = usual >= SHOWN and 0.5 <= ratio <= 2
            log(
                f"frame {buffer[0][0]}: faint overlay, presence {usual:.2f} on a calibration "
                f"(opacity x{ratio:.2f} detection's): {'kept' if ok else 'not kept'}"
            )
            if not ok:
                return False
        cal, thin = trial, len(keep) < THIN
        log(
            f"calibration: {len(keep)} frames, gain {np.round(cal.gain, 3).tolist()}, "
            f"background {np.round(cal.bg.mean(axis=(0, 1)), 3).tolist()}, aligned {cal.aligned}"
        )
        if aside:
            flush_all([(i, r) for i, r, _ in aside], check=False)
            fit_usual = None  # the usual fit is the calibration frames'
        flush_all([(i, r) for i, r, _ in buffer])
        return True

    decoded = 0
    feed = ReadAhead(ov.video, cmap, span=span)
    roi = np.zeros(0, np.uint8)
    try:
        for index, crop, unchanged in feed:
            if decoded == 0 and feed.exact:
                log("colour: the decoder's own RGB conversion is used (not plain BT.601)")
            decoded += 1
            if unchanged and cal is not None:
                # a still overlay over a still background: nothing to convert or read
                pending.append((index, None))
                if len(pending) >= cfg.batch:
                    flush(pending)
                    pending = []
                continue
            roi = roi if crop is None else crop
            if cal is None:
                # Calibrate on frames that show the overlay (it may start hidden, or
                # elsewhere). Frames that do not are set aside unread, but the latest
                # few are kept in case the overlay never stands out clearly.
                z = float(probe_pres.score(probe_at(roi)[None])[0])
                if z >= SHOWN:
                    calib_rois.append((index, roi, z))
                else:
                    unclear.append((index, roi, z))
                    faint = not calib_rois and det_opacity and len(unclear) >= cfg.calib_max
                    # not where detection's samples show the overlay elsewhere: moved, it
                    # still half matches here (Q2 c35-0012: 18% larger over a box inside
                    # it, taken for a faint overlay at 0.54 of its opacity 1.0)
                    faint = faint and not any(
                        a <= index and (b is None or index < b) for a, b in away
                    )
                    if faint and index >= next_faint:
                        if start(unclear, faint=True):
                            unclear = []
                            continue
                        faint_wait *= 2  # tries back off: 300, 600, 1200 frames on
                        next_faint = index + faint_wait
                    if len(unclear) > cfg.calib_max:
                        i0, _, z0 = unclear.pop(0)
                        absent([(i0, z0)])
                if len(calib_rois) >= cfg.calib_frames:
                    start(calib_rois, aside=unclear)
                    calib_rois, unclear = [], []
                elif calib_rois and len(calib_rois) + len(unclear) >= cfg.calib_max:
                    # Few frames clear the bar (a dark skin over a dark game stands out
                    # less against the probe's grey): those near the best are as good.
                    start(sorted(calib_rois + unclear, key=lambda item: item[0]))
                    calib_rois, unclear = [], []
                continue
            pending.append((index, roi))
            if len(pending) >= cfg.batch:
                flush(pending)
                pending = []
    except vid.VideoError as exc:
        note = f"video decoding stopped after {decoded} frames: {exc}"
    finally:
        feed.close()
    if cal is None:
        if calib_rois:
            start(calib_rois, aside=unclear)
        else:  # the overlay never stood out: read the last frames as best one can
            log("the overlay never showed clearly at its place; calibrated on the last frames")
            start(unclear)
    flush(pending)
    while held:
        recalibrate()
    reused = None
    if parser is not None:
        total = parser.parsed + parser.reused
        reused = parser.reused / total if total else 0.0
    return Placed(box, span, reads, looks, cal, tied, tied_fit, note, decoded, recalibrated, reused)


def _finish(
    runs: Sequence[Placed],
    ov: OverlayInfo,
    vinfo: Any,
    dst: str | Path,
    overlay_path: str | Path,
    net: Any,
    read_info: Callable,
    cfg: ExtractConfig,
) -> ExtractResult:
    """Per-video post-processing and the file: the usual placement's rows, and where the
    overlay moved, the rows that show it better there."""
    main = runs[0]
    note, looks, cal = main.note, main.looks, main.cal
    index = main.reads.cat("index", ())
    # as many rows as the video has frames: what detection counted, what the container
    # says now, or what decoded, whichever is most (frames that did not decode are marked)
    seen = int(index.max()) + 1 if len(index) else 0
    n_rows = max(int(ov.info.get("frame_count") or 0), int(vinfo.frame_count), seen)
    if not note and n_rows - seen <= 2:  # a count estimated from the duration is often off by one
        n_rows = seen
    rows = _rows(main, n_rows, cfg)
    valid = rows.valid
    missing = int((~valid).sum())
    if missing and not note:
        note = f"{missing} of {n_rows} frames could not be decoded"
    boxes = np.tile(main.box, (n_rows, 1))
    placements = []
    for run in runs[1:]:
        other = _rows(run, n_rows, cfg)
        a, b = run.span
        take = np.zeros(n_rows, bool)
        take[a:b] = True
        # where the overlay shows better (not where the reading is surer: moved a little,
        # it still half matches at its usual box, and reads wrong there)
        take &= valid & other.valid & (other.level > 0.7) & (other.level > rows.level)
        for name in ("buttons", "j_left", "j_right", "confidence", "level"):
            getattr(rows, name)[take] = getattr(other, name)[take]
        boxes[take] = run.box
        placements.append(
            {
                "bbox": [float(v) for v in run.box],
                "frames": [a, b if b is not None else n_rows],
                "rows": int(take.sum()),
                "thresholds": other.thresholds,
            }
        )
    # buttons the template draws alike: which one was pressed is unknown, so released
    # and left out of the shown mask, as for an element it does not draw at all
    rows.buttons[:, [BUTTON_INDEX[name] for name in ov.template.alike]] = False
    known = ov.template.told_apart  # in ELEMENTS order, as `shows`
    actions = Actions(rows.buttons, rows.j_left, rows.j_right)

    info = read_info(cfg.checkpoint)
    with formats.create(dst, "actions", inputs=[overlay_path], input_records=ov.video_record) as f:
        formats.write_actions(f, actions, np.arange(n_rows, dtype=np.int64))
        formats.write_confidence(f, rows.confidence)
        formats.write_valid(f, valid)
        formats.write_shown(f, known)
        with formats.open_file(overlay_path, "overlay") as src:
            formats.copy_overlay(src, f)
        if placements:
            formats.write_bbox_per_frame(f, boxes)
        formats.write_meta(
            f,
            fps=float(ov.info.get("fps") or vinfo.fps),
            frame_count=n_rows,
            frames_decoded=int(valid.sum()),
            template=str(ov.template.id),
            parser=dict(
                config=info.get("config", {}),
                parameters=info.get("parameters"),
                held_out=info.get("train", {}).get("holdout", []),
                **({"trained": info["trained_groups"]} if "trained_groups" in info else {}),
            ),
            calibration={
                "gain": [float(v) for v in (cal.gain if cal else np.ones(3))],
                "background": [
                    float(v) for v in (cal.bg.mean(axis=(0, 1)) if cal else np.zeros(3))
                ],
                "aligned": bool(cal.aligned) if cal else False,
                "transform": (cal.cmap.transform.tolist() if cal else ov.transform.tolist()),
                "canvas_scale": looks.scale,
            },
            sticks=rows.stick_info,
            thresholds=rows.thresholds,
            pressed_looks_from=rows.chosen,
            moved=placements or None,
            decode_note=note or None,
            elements=list(known),
        )
    return ExtractResult(Path(dst), n_rows, int(valid.sum()), 0.0, note)


@dataclass
class Rows:
    """One placement's readings settled into the video's rows."""

    buttons: np.ndarray  # (N, N_BUTTONS) bool
    j_left: np.ndarray  # (N, 2)
    j_right: np.ndarray  # (N, 2)
    confidence: np.ndarray  # (N,)
    valid: np.ndarray  # (N,) bool: read
    level: np.ndarray  # (N,) the overlay's correlation there over its usual level
    thresholds: dict[str, float]
    stick_info: dict[str, Any]
    chosen: dict[str, str]


def ramp_frames(pressed: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Frames of a trigger, beside a frame read pulled, whose reading stands clearly above
    the readings far from a pull (RAMP_ABOVE over their median, RAMP_MARGIN over their
    95th percentile): a pull ramps in and out over a frame or two, drawn a third filled,
    and those frames read between the two clusters (Q2 c35-0003, switch-pro's ZR: the
    frames at 0.19-0.33 read -1.9 at the median, against -4.8 far from a pull; N2
    c33-0018: -0.65 against -5.7). The frames beside a pull that the truth has released
    read as far ones do (-4.4 and -4.8 there)."""
    on = pressed.astype(bool)
    near = np.convolve(on.astype(np.int32), np.ones(2 * RAMP_REACH + 1, np.int32), "same") > 0
    far = ~near & np.isfinite(z)
    if far.sum() < RAMP_FAR:
        return np.zeros_like(on)
    # robust to the far frames of a pull read nowhere (c35-0003's 99.9th percentile,
    # -0.7, was one of those)
    med, p95 = np.percentile(z[far], [50, 95])
    top = max(float(med) + RAMP_ABOVE, float(p95) + RAMP_MARGIN)
    beside = np.r_[False, on[:-1]] | np.r_[on[1:], False]
    with np.errstate(invalid="ignore"):
        return ~on & beside & (z > top)


def _face_or_menu(name: str) -> bool:
    """A button QUIET_BAR and `blips` judge: not a trigger (part-filled pulls read low),
    not a d-pad arm (the bar there cost G2 409 missed frames)."""
    return name not in TRIGGERS and not name.startswith("dpad_")


def blips(pressed: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Presses of at most BLIP_FRAMES frames whose readings (z, frame order) all stay
    under BLIP_PEAK: a game moving behind a see-through skin brushes a button's boundary
    for a frame or two (P2's outline xbox-one over Doom: north F1 0.79), while a press
    reads far above its boundary (median 8) over the frames it is held. Measured on the
    ten corpora after QUIET_BAR, button errors fell by 48 and rose by 14 on the per-skin
    corpus (faint presses read low). Stick clicks read at the stick likewise (H2 c24-0043,
    snes-pixel analog: left_thumb false in 75 frames of such runs, 37 after)."""
    on = pressed.astype(bool)
    out = np.zeros_like(on)
    edges = np.diff(np.r_[0, on.astype(np.int8), 0])
    for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if b - a <= BLIP_FRAMES and not np.nanmax(z[a:b], initial=-np.inf) >= BLIP_PEAK:
            out[a:b] = True
    return out


def _rows(run: Placed, n_rows: int, cfg: ExtractConfig) -> Rows:
    """Per-placement post-processing: button boundaries, stick centre and scale, and
    confidence, over the frames read there."""
    reads, looks, tied, tied_fit = run.reads, run.looks, run.tied, run.tied_fit
    nb, ns = len(looks.buttons), len(looks.sticks)
    index = reads.cat("index", ())
    btn = reads.cat("button", (nb,))
    stk = reads.cat("stick", (ns, 2))
    thm = reads.cat("thumb", (ns,))
    pres_raw = reads.cat("presence", ())
    bnd = reads.cat("bound", (nb,))
    # one row per frame; where a frame decoded twice, the first reading wins
    row_of = np.full(n_rows, -1, np.int64)
    order = np.argsort(index, kind="stable")[::-1]
    ok = (index >= 0) & (index < n_rows)
    row_of[index[order[ok[order]]]] = order[ok[order]]
    valid = row_of >= 0

    presence = calib.presence_score(pres_raw, SHOWN)
    good = presence > 0.5
    # skins detection could not tell apart: the one whose looks explain the crops of
    # the buttons they draw differently clearly better than the named skin's (pressed
    # frames; released ones are drawn alike)
    chosen: dict[str, str] = {}
    if tied and tied_fit is not None:
        alt = reads.cat("tied", (len(tied),))
        gain: dict[str, list[float]] = {}
        for s, (_, _, tid) in enumerate(tied):
            g = gain.setdefault(tid, [0.0, 0.0])
            g[0] += float(tied_fit[0, s])
            g[1] += float(tied_fit[1, s])
        skin = max(gain, key=lambda t: gain[t][0])
        if gain[skin][0] > TIED_MARGIN * gain[skin][1]:
            for s, (j, _, tid) in enumerate(tied):
                if tid == skin:
                    btn[:, j] = alt[:, s]
                    chosen[looks.buttons[j].name] = tid
    # buttons: per video, the boundary between a button's two clusters of readings
    thresholds: dict[str, float] = {}
    btn_t = np.zeros(nb, np.float32)
    thm_t = np.zeros(ns, np.float32)
    if cfg.refine:
        timed = np.flatnonzero(good)[np.argsort(index[good], kind="stable")]  # frame order
        for j, slot in enumerate(looks.buttons):
            btn_t[j] = calib.button_threshold(btn[timed, j], up=j not in looks.partial)
            if btn_t[j]:
                thresholds[slot.name] = float(btn_t[j])
            elif _face_or_menu(slot.name):
                btn_t[j] = QUIET_BAR
        for k, slot in enumerate(looks.sticks):
            if slot.thumb is not None:
                thm_t[k] = calib.button_threshold(thm[timed, k])
                if thm_t[k]:
                    thresholds[slot.thumb] = float(thm_t[k])

    # |2 sigmoid(z) - 1| = |tanh(z / 2)|, which does not overflow for large logits.
    sure = np.abs(np.tanh((btn - btn_t) / 2))
    certainty = sure.mean(axis=1) if nb else np.ones(len(index), np.float32)
    if ns:
        has = np.array([s.thumb is not None for s in looks.sticks])
        if has.any():
            tc = np.abs(np.tanh((thm - thm_t)[:, has] / 2))
            certainty = (certainty * nb + tc.sum(axis=1)) / (nb + int(has.sum()))
    conf_read = (presence * certainty).astype(np.float32)

    # sticks: centre from resting frames, scale from the radius (or overshoot)
    sticks_out = np.zeros((len(index), 2, 2), np.float32)
    stick_info: dict[str, Any] = {}
    for k, s in enumerate(looks.sticks):
        xy = stk[:, k]
        c = calib.stick_center(xy[good] if good.sum() > 20 else xy)
        v = xy - c
        scale = calib.stick_scale(v[good] if good.sum() > 20 else v)
        v = np.clip(v / scale, -1, 1)
        v[~good] = 0  # the overlay not seen: centred, as frames read before calibration
        sticks_out[:, 0 if s.name == "j_left" else 1] = v
        stick_info[s.name] = {"center": [float(c[0]), float(c[1])], "scale": float(scale)}

    buttons = np.zeros((n_rows, N_BUTTONS), bool)
    j_left = np.zeros((n_rows, 2), np.float32)
    j_right = np.zeros((n_rows, 2), np.float32)
    confidence = np.zeros(n_rows, np.float32)
    r = row_of[valid]

    def by_row(readings: np.ndarray) -> np.ndarray:
        """One slot's readings per row, in frame order (NaN where none)."""
        z = np.full(n_rows, np.nan, np.float32)
        z[valid] = readings[r]
        return z

    for j, slot in enumerate(looks.buttons):
        pressed = btn[r, j] > btn_t[j]
        if cfg.bound:
            pressed &= bnd[r, j] <= BOUND_SHARE
        col = buttons[:, BUTTON_INDEX[slot.name]]
        col[valid] = pressed
        z = by_row(btn[:, j])
        if cfg.ramps and j in looks.partial:  # drawn part-filled: its pulls ramp in and out
            col |= ramp_frames(col, z)
        if _face_or_menu(slot.name):
            col &= ~blips(col, z)
    for k, slot in enumerate(looks.sticks):
        if slot.thumb is not None:
            col = buttons[:, BUTTON_INDEX[slot.thumb]]
            col[valid] = thm[r, k] > thm_t[k]
            col &= ~blips(col, by_row(thm[:, k]))
    j_left[valid] = sticks_out[r, 0]
    j_right[valid] = sticks_out[r, 1]
    confidence[valid] = conf_read[r]
    # raw, not `presence`: that saturates at 0.8 of the usual level, and where a moved
    # overlay left, a background it was calibrated over still correlates 0.87 (L2
    # c29-0012, against 0.99 where it went)
    above = pres_raw[pres_raw >= SHOWN]
    usual = float(np.median(above)) if len(above) >= 5 else float(np.max(pres_raw, initial=1.0))
    shows = np.zeros(n_rows, np.float32)
    shows[valid] = pres_raw[r] / max(usual, 1e-6)
    return Rows(buttons, j_left, j_right, confidence, valid, shows, thresholds, stick_info, chosen)
