"""Per-video calibration: facts about one video that make every frame easier to read.

An overlay pixel reaches the video as  I = op * P + (1 - op * A) * B  (P premultiplied
colour, A alpha, B the game beneath, op the opacity). Within one video op is fixed, and so
are the encoder's colour shifts, so a handful of frames tell:
  - `fit_gain`: a gain (op times any colour shift) and a map of the background under
    the overlay, fitted on the pixels that no state changes;
  - `refine_alignment`: a sub-pixel correction of the detected placement, by aligning
    the frames' average with the overlay drawn at rest (ECC);
  - `presence`: per frame, how well the unchanging pixels still match the overlay at rest
    (the overlay may be hidden, covered or moved away).
After the whole video is read, `stick_center` and `stick_scale` turn raw stick readings
into the contract's [-1, 1] (centre from resting frames, scale from the travel radius
unless readings overshoot it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], np.float32)
MAX_SHIFT = 3.0  # canvas pixels an alignment correction may move the overlay, at most
MAX_STRETCH = 0.04  # and how much it may scale or shear it
# a button's background seen at rest is kept unless it leaves its crops this badly explained
# (mean absolute error): then the button was likely held through the calibration frames
UNEXPLAINED = 0.004
# a button held through every calibration frame (`_held_through`): the share of frames
# a pressed look over the fill around its box must explain best, how many times better
# than the released look, how close to the median's error, and how many times better
# than the released look where judged against the fill's error at rest instead
HELD_SHARE = 0.9
HELD_GAIN = 1.5
HELD_CLOSE = 1.5
HELD_CLEAR = 3.0
# how much worse than the median of every frame the released frames' median may explain
# a held button's frames and still be taken as its background (see `press_splits`)
SPLIT_WORSE = 1.5
# a split that only some of a box's possible pressed looks find (skins tied at rest)
# must leave its groups this many times `press_splits`' min_sep apart
ALONE_SEP = 1.5
# `texture_gain`: cells (canvas px) within which the game beneath counts as one level, the
# blur both sides get (the video's own softening), how much texture contrast each colour
# needs (sum of squares), how closely the estimate must agree with and without the blur,
# and how far the fitted gain must stray from it before it is replaced
TEX_CELL = 12
TEX_SIGMA = 1.0
TEX_EDGE = 2.0
TEX_MIN = 20.0
TEX_AGREE = 0.1
TEX_STRAY = 0.15


def overlay_pixels(rest: np.ndarray, static: np.ndarray, min_count: int = 64) -> np.ndarray:
    """Indices (flat) of the pixels that show the overlay and never change; all overlay
    pixels when too few never change."""
    alpha = rest[..., 3] > 0.05
    idx = np.flatnonzero(alpha & static)
    if len(idx) < min_count:
        idx = np.flatnonzero(alpha)
    return idx


def background_map(mean_canvas: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """(h, w, 3): the background under the overlay, spread in from its transparent pixels
    (normalised convolution, fine near them and coarse far away); mid-grey when the
    overlay has no transparent pixels at all."""
    clear = (rest[..., 3] < 0.02).astype(np.float32)
    h, w = clear.shape
    if clear.sum() < 16:
        return np.full((h, w, 3), 0.5, np.float32)
    out = np.empty((h, w, 3), np.float32)
    weight = None
    for sigma in (max(2.0, 0.02 * max(h, w)), max(8.0, 0.15 * max(h, w))):
        wsum = cv2.GaussianBlur(clear, (0, 0), sigma)
        vals = cv2.GaussianBlur(mean_canvas * clear[..., None], (0, 0), sigma)
        est = vals / np.maximum(wsum, 1e-6)[..., None]
        if weight is None:
            out[:] = est
            weight = wsum
        else:  # where the fine estimate saw too few clear pixels, the coarse one
            out[:] = np.where((weight < 0.05)[..., None], est, out)
    far = cv2.GaussianBlur(clear, (0, 0), max(8.0, 0.15 * max(h, w))) < 1e-4
    if far.any():
        out[far] = (mean_canvas * clear[..., None]).sum((0, 1)) / clear.sum()
    return np.clip(out, 0, 1)


def fit_gain(
    canvases: np.ndarray,
    rest: np.ndarray,
    static: np.ndarray,
    iters: int = 8,
    opaque: np.ndarray | None = None,
    pressed: Sequence[tuple[tuple[int, int, int, int], np.ndarray]] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """(gain (3,), background map (h, w, 3)) that best explain O = g * P + (1 - g * A) * B
    on the unchanging overlay pixels of `canvases` (K, h, w, 3): `fit_opacity`, then the
    background seen through the overlay (`see_through`)."""
    gain, bmap = fit_opacity(canvases, rest, static, iters)
    return gain, see_through(canvases, rest, gain, bmap, opaque, pressed)


def fit_opacity(
    canvases: np.ndarray,
    rest: np.ndarray,
    static: np.ndarray,
    iters: int = 8,
    mean: np.ndarray | None = None,
    fixed: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(gain (3,), background map (h, w, 3)) from the frames' mean (`mean`, when it is at
    hand); with `fixed`, the gain is that in every channel and only B is fitted.

    B starts as the background spread in from the transparent pixels (`background_map`);
    under opaque parts it hardly matters, and a flat translucent body alone could not
    tell opacity from background. The gain is one number (the opacity) times a colour
    correction kept close to 1; B's level is then adjusted once more under the overlay.
    Where the overlay's own texture tells the gain (`texture_gain`) and the fit strays
    from it by over TEX_STRAY, the texture's is taken: the clear pixels around the
    overlay did not show the game under it (P2 c34-0003: a switch-pro skin half over a
    black pillarbox and half over a blue game fitted blue 1.24 times the opacity).
    """
    K = len(canvases)
    if K == 0:
        return np.ones(3, np.float32), np.full((*rest.shape[:2], 3), 0.5, np.float32)
    mean = canvases.mean(axis=0) if mean is None else mean
    bmap = background_map(mean, rest)
    idx = overlay_pixels(rest, static)
    if len(idx) < 16:
        return np.ones(3, np.float32), bmap
    if len(idx) > 2000:  # plenty: a fixed spread subset
        idx = idx[np.linspace(0, len(idx) - 1, 2000).astype(np.int64)]
    flat = rest.reshape(-1, 4)[idx].astype(np.float64)
    P, A = flat[:, :3], flat[:, 3:4]  # (n, 3), (n, 1)
    o = mean.reshape(-1, 3)[idx].astype(np.float64)  # the fit is linear in O
    B = bmap.reshape(-1, 3)[idx].astype(np.float64)
    n = len(idx)
    rc = 2.0 * n  # pull of the colour correction towards 1
    rb = 0.05 * n  # pull of the background shift towards 0
    g, c, db = 1.0, np.ones(3), np.zeros(3)
    for _ in range(iters):
        Bs = B + db
        x = (P - A * Bs) * c  # o - B = g c (P - A B)
        g = float(np.clip(((o - Bs) * x).sum() / max((x * x).sum(), 1e-9), 0.05, 1.2))
        x = g * (P - A * Bs)
        c = np.clip((((o - Bs) * x).sum(0) + rc * 0.01) / ((x * x).sum(0) + rc * 0.01), 0.7, 1.3)
        w = 1 - g * c * A  # o - g c P - (1 - g c A) B = (1 - g c A) db
        r = o - g * c * P - w * B
        db = np.clip((r * w).sum(0) / ((w * w).sum(0) + rb), -0.5, 0.5)
    gc, again = g * c, fixed is not None
    if fixed is not None:
        gc = np.full(3, fixed, np.float64)
    elif (tex := texture_gain(mean, rest, static)) is not None and float(
        np.abs(gc / tex - 1).max()
    ) > TEX_STRAY:
        gc, again = tex.astype(np.float64), True  # the fit leaned on a background not the game's
    if again:
        w = 1 - gc * A
        r = o - gc * P - w * B
        db = np.clip((r * w).sum(0) / ((w * w).sum(0) + rb), -0.5, 0.5)
    bmap = np.clip(bmap + db.astype(np.float32), 0, 1)
    return gc.astype(np.float32), bmap


def _within_cells(
    P: np.ndarray, A: np.ndarray, o: np.ndarray, m: np.ndarray, cell: int
) -> tuple[np.ndarray, np.ndarray]:
    """(sum of P's and o's cross products, sum of P's squares), per colour, over the pixels
    `m`, after taking out each cell's own level and alpha (its background, whatever it is)."""
    h, w = A.shape
    H, W = -(-h // cell) * cell, -(-w // cell) * cell

    def cells(x: np.ndarray) -> np.ndarray:  # (..., h, w) -> per-cell sums (..., hc, wc)
        pad = np.zeros((*x.shape[:-2], H, W))
        pad[..., :h, :w] = x
        return pad.reshape(*x.shape[:-2], H // cell, cell, W // cell, cell).sum((-3, -1))

    mf = m.astype(np.float64)
    n, sa, saa = cells(mf), cells(mf * A), cells(mf * A * A)
    M = np.stack([np.stack([n, sa], -1), np.stack([sa, saa], -1)], -2)  # (hc, wc, 2, 2)
    Mi = np.linalg.pinv(M)
    Pc, oc = np.moveaxis(P, -1, 0), np.moveaxis(o, -1, 0)  # (3, h, w)
    sp, spa = cells(mf * Pc), cells(mf * Pc * A)
    so, soa = cells(mf * oc), cells(mf * oc * A)
    vp, vo = np.stack([sp, spa], -1), np.stack([so, soa], -1)  # (3, hc, wc, 2)
    proj_po = np.einsum("khwi,hwij,khwj->khw", vp, Mi, vo)
    proj_pp = np.einsum("khwi,hwij,khwj->khw", vp, Mi, vp)
    ok = n >= 8
    cross = ((cells(mf * Pc * oc) - proj_po) * ok).sum((1, 2))
    sq = ((cells(mf * Pc * Pc) - proj_pp) * ok).sum((1, 2))
    return cross, sq


def texture_gain(mean: np.ndarray, rest: np.ndarray, static: np.ndarray) -> np.ndarray | None:
    """The gain (3,) told by the overlay's own texture: within a small cell the game
    beneath is about one level, so how the frames' mean follows the texture's contrast
    there is the gain, whatever that level is. None where the texture has too little
    contrast (flat bodies) or the estimate moves with the blur (too fine to trust)."""
    P, A = rest[..., :3].astype(np.float64), rest[..., 3].astype(np.float64)
    o = mean.astype(np.float64)
    # inside the overlay, away from its edges: across an edge the game beneath changes
    # from what is seen around the overlay to what is under it
    m = (A > 0.05) & static & (np.abs(cv2.GaussianBlur(A, (0, 0), TEX_EDGE) - A) < 0.02)
    if m.sum() < 64:
        return None
    est = []
    for sigma in (0.0, TEX_SIGMA):  # sharp, then both sides softened alike
        soft = [cv2.GaussianBlur(x, (0, 0), sigma) if sigma else x for x in (P, A, o)]
        cross, sq = _within_cells(*soft, m, TEX_CELL)
        if float(sq.min()) < TEX_MIN:
            return None
        est.append(cross / sq)
    sharp, soft = est
    if float(np.abs(sharp / np.maximum(soft, 1e-6) - 1).max()) > TEX_AGREE:
        return None
    return np.clip(soft, 0.05, 1.2)


def see_through(
    canvases: np.ndarray,
    rest: np.ndarray,
    gain: np.ndarray,
    bmap: np.ndarray,
    opaque: np.ndarray | None = None,
    pressed: Sequence[tuple[tuple[int, int, int, int], np.ndarray]] = (),
    least: float = 0.1,
    full: float = 0.3,
    unsplit: Sequence[tuple[int, int, int, int]] = (),
    also: Mapping[tuple[int, int, int, int], Sequence[np.ndarray]] | None = None,
    fills: Mapping[tuple[int, int, int, int], Sequence[np.ndarray]] | None = None,
) -> np.ndarray:
    """The background map, seen through the overlay where it lets enough through.

    Under a translucent overlay the frames' median shows the game's steady parts (a HUD,
    a side bar): there B = (O - g P) / (1 - g A), the overlay taken out. Where less than
    `least` of the background comes through, the map spread in from the transparent
    pixels is kept (ramping to the seen one at `full`).

    Where `opaque` says (the boxes of buttons and sticks) the overlay's look changes, and
    an element is often held for longer than a median can ignore. Stick travel areas are
    filled in from the unchanging pixels around them. Under a button in `pressed` (its
    box and pressed look) the median seen through the released look is kept, unless the
    fill from around the box clearly explains the frames better (each frame by the better
    of its released and pressed looks): then the button was held through most of them,
    and the median shows its pressed look, not the game. Or, when the frames fall in two
    groups along the button's own press and the released group is the smaller
    (`press_splits`), the median was taken from presses: the released group's is kept.
    Not under boxes in `unsplit` (a stick's travel moves them). Where `also` gives a box
    other pressed looks (skins tied at rest), a press may look like any of them; where
    `fills` gives a trigger's part-filled looks, so may its press.
    """
    if len(canvases) < 3:
        return bmap
    if len(canvases) > 24:  # a spread two dozen are plenty for a median
        canvases = canvases[np.linspace(0, len(canvases) - 1, 24).astype(np.int64)]
    g = np.asarray(gain, np.float32)

    def behind(o: np.ndarray, look: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        through = 1 - look[..., 3:4] * g
        return (o - look[..., :3] * g) / np.maximum(through, least), through

    def blend(est: np.ndarray, through: np.ndarray, other: np.ndarray) -> np.ndarray:
        w = np.clip((through - least) / (full - least), 0, 1)
        return np.clip(w * est + (1 - w) * other, 0, 1).astype(np.float32)

    def as_shown(o: np.ndarray, alls: list, pick: np.ndarray, other: np.ndarray) -> np.ndarray:
        """The background of frames each seen through the look it shows (`pick`)."""
        seen_k = [behind(o[k], alls[i]) for k, i in enumerate(pick)]
        est = median0(np.stack([e for e, _ in seen_k]))
        return blend(est, np.min(np.stack([t for _, t in seen_k]), axis=0), other)

    med = median0(canvases)
    out = blend(*behind(med, rest), bmap)
    if opaque is None or not opaque.any() or (~opaque).sum() < 16:
        return out
    prior = _fill_from(out, ~opaque, bmap)
    buttons = np.zeros(opaque.shape, bool)
    for (x, y, bw, bh), _ in pressed:
        buttons[max(y, 0) : y + bh, max(x, 0) : x + bw] = True
    out = np.where((opaque & ~buttons)[..., None], prior, out)
    # buttons that share one box (a d-pad drawn as one element) are judged together: a
    # frame there may show any of their pressed looks
    shared: dict[tuple[int, int, int, int], list[np.ndarray]] = {}
    for box, look in pressed:
        shared.setdefault(tuple(box), []).append(look)
    splits = press_splits(
        canvases,
        rest,
        [
            (b, [lk[0], *(also or {}).get(b, ())])
            for b, lk in shared.items()
            if len(lk) == 1 and not _overlaps(b, unsplit)
        ],
        g,
        prior,
    )
    # each box's looks and each frame's error by each look over the fill from around it
    boxes = []
    for (x, y, bw, bh), _ in pressed:
        if x < 0 or y < 0:
            continue
        sl = (slice(y, y + bh), slice(x, x + bw))
        o = canvases[:, sl[0], sl[1]]
        if o.size == 0:
            continue
        r0 = rest[sl]
        # a skin tied at rest may draw the press otherwise (c27-0018: SNESAlt's purple
        # south, named SNES, mashed through calibration: its median was the press)
        alts = (also or {}).get((x, y, bw, bh), ())
        looks = [lk[: o.shape[1], : o.shape[2]] for lk in [*shared[(x, y, bw, bh)], *alts]]
        # two of them at once (a d-pad's diagonal): both changes over the released look
        looks += [np.clip(a + b - r0, 0, 1) for i, a in enumerate(looks) for b in looks[i + 1 :]]
        # a trigger held part-pulled (P2 c34-0005: at 0.6 through a recalibration's 32
        # frames, whose background then took the fill in, and 0.6 pulls read released)
        looks += [lk[: o.shape[1], : o.shape[2]] for lk in (fills or {}).get((x, y, bw, bh), ())]
        one = len(shared[(x, y, bw, bh)]) == 1
        boxes.append(
            ((x, y, bw, bh), sl, o, r0, looks, _look_errors(o, r0, looks, g, prior[sl]), one)
        )
    # how well the fill explains the frames of one-button boxes shown at rest (by their
    # released and own pressed looks): `_held_through`'s `usual`
    at_rest = [
        float(e[0].mean())
        for *_, e, one in boxes
        if one and (e[:2].argmin(axis=0) == 0).mean() >= 0.5
    ]
    usual = float(np.percentile(at_rest, 75)) if len(at_rest) >= 3 else 0.0
    for box, sl, o, r0, looks, at_prior, one in boxes:
        seen = _explained(o, r0, looks, g, out[sl])
        held = _held_through(at_prior, seen, usual) if one else None
        if held is not None:
            out[sl] = as_shown(o, [r0, *looks], held, bmap[sl])
            continue
        if seen <= UNEXPLAINED:
            continue
        cands = [prior[sl]]
        # the median of only the frames that show the box released, when there are some:
        # a press held through most frames leaves the rest to tell the background
        pick = at_prior.argmin(axis=0)
        for best_look in (pick, _best_look(o, r0, looks, g, out[sl])):
            idle = best_look == 0
            if idle.sum() >= 3 and idle.mean() < 0.8:
                cands.append(blend(*behind(median0(o[idle]), r0), bmap[sl]))
        # or, pressed throughout: each frame seen through the look the fill says it shows
        if (pick > 0).mean() >= 0.8:
            cands.append(as_shown(o, [r0, *looks], pick, bmap[sl]))
        errs = [_explained(o, r0, looks, g, c) for c in cands]
        best = int(np.argmin(errs))
        if errs[best] < 0.8 * seen:
            out[sl] = cands[best]
        elif box in splits:
            # the released group's median explains the frames a little worse at most (the
            # pressed look, drawn from the atlas, fits a press less closely than the
            # median of presses fits it)
            cand = blend(*behind(median0(o[splits[box]]), r0), bmap[sl])
            if _explained(o, r0, looks, g, cand) <= SPLIT_WORSE * seen:
                out[sl] = cand
    return out.astype(np.float32)


def _held_through(err: np.ndarray, seen: float, usual: float = 0.0) -> np.ndarray | None:
    """Per frame, the look (1 + index among the pressed ones) of a button held through
    (nearly) every frame; None where it was not held. `err` is `_look_errors` over the
    fill from around its box.

    The frames' median seen through the released look explains them as well as any
    background can (`seen`): it takes a held press for the game (P2 c34-0003: up-right
    held through all 60 calibration frames, and read released for the next 140). The
    fill from around the box tells them apart: over it, a pressed look explains
    HELD_SHARE of the frames best, nearly as well as the median (HELD_CLOSE times its
    error at most), and HELD_GAIN times better than the released look, which a game's
    own feature under the box would not do. A still game explains its median exactly,
    while a small box's edges leave the fill a few percent off even at rest (`usual`:
    its error over boxes shown at rest); judged against that instead, the press must
    stand out HELD_CLEAR times (c34-0003's arms, once its gain was right: 5-7; a
    trigger over a moving game that was not held, M2 c32-0015: 1.7). Not for a box
    several buttons share (a d-pad drawn as one element: H2 c24-0033, some direction
    pressed in every first frame, read 96 -> 517 errors when it was), where
    `press_splits` and the candidates below judge."""
    pick = err.argmin(axis=0)
    if (pick > 0).mean() < HELD_SHARE:
        return None
    best, released = float(err.min(axis=0).mean()), float(err[0].mean())
    if best <= HELD_CLOSE * max(seen, UNEXPLAINED) and released >= HELD_GAIN * best:
        return pick
    if best <= HELD_CLOSE * usual and released >= HELD_CLEAR * best:
        return pick
    return None


def _overlaps(box: tuple[int, int, int, int], others: Sequence[tuple[int, int, int, int]]) -> bool:
    x, y, w, h = box
    return any(x < a + c and a < x + w and y < b + d and b < y + h for a, b, c, d in others)


def press_splits(
    canvases: np.ndarray,
    rest: np.ndarray,
    pressed: Sequence[tuple[tuple[int, int, int, int], Sequence[np.ndarray]]],
    gain: np.ndarray,
    bg: np.ndarray,
    min_side: int = 3,
    min_sep: float = 4.0,
    min_gap: float = 0.3,
) -> dict[tuple[int, int, int, int], np.ndarray]:
    """Buttons held through most of the frames, told by the frames alone: per box, the
    mask of its released frames, where they are the fewer.

    Each frame's crop is projected on the change the button's press makes (0 released, 1
    pressed, over background `bg`: the look need not be drawn exactly, only changed the
    right way; of several pressed looks, one at least must split them, and each that
    does, alike). Kept where the best split of those values in two groups leaves them
    `min_gap` apart and `min_sep` spreads apart, with `min_side` frames each, and no
    other button's frames split alike (a change of scene moves every box at once).
    """
    found: dict[tuple[int, int, int, int], np.ndarray] = {}
    for box, looks in pressed:
        x, y, bw, bh = box
        if x < 0 or y < 0:
            continue
        sl = (slice(y, y + bh), slice(x, x + bw))
        o = canvases[:, sl[0], sl[1]]
        if o.size == 0 or len(o) < 2 * min_side:
            continue
        base = expected_rest(rest[sl], gain, bg[sl])
        lows: list[np.ndarray | None] = []
        strong = True  # each look that splits them, by a spread at least ALONE_SEP apart
        for look in looks:
            d = (expected_rest(look[: o.shape[1], : o.shape[2]], gain, bg[sl]) - base).ravel()
            if float(d @ d) < 1e-6:
                break
            p = (o.reshape(len(o), -1) - base.ravel()) @ d / float(d @ d)
            low, sep = _low_group(p, min_side, min_sep, min_gap)
            if low is None and len(looks) == 1:
                break
            lows.append(low)
            strong &= low is None or sep >= ALONE_SEP * min_sep
        # of the pressed looks it may show (skins tied at rest draw presses in other
        # colours), one at least splits the frames, and every one that does, alike: the
        # look of the skin not shown may change the pixels along nothing the press does
        # (c27-0018's purple south, named SNES: sep 8.0). Where some look does not split
        # them, a split stands out further: over a game that changes every frame, either
        # look alone split them by chance at 4.6-5.7.
        split = [x for x in lows if x is not None]
        alike = bool(split) and all(_alike(split[0], x) for x in split[1:])
        if len(lows) == len(looks) and alike and (len(split) == len(lows) or strong):
            found[box] = split[0]

    return {
        box: low
        for box, low in found.items()
        if low.mean() < 0.5 and not any(_alike(low, o) for b, o in found.items() if b != box)
    }


def _low_group(
    p: np.ndarray, min_side: int, min_sep: float, min_gap: float
) -> tuple[np.ndarray | None, float]:
    """The lower group (a mask) of the split of press projections `p` in two that leaves
    them furthest apart in spreads, at least `min_gap` apart (None below `min_sep`), and
    how many spreads apart that split leaves them."""
    order = np.argsort(p)
    s = p[order]
    best_sep, best_k = 0.0, 0
    for k in range(min_side, len(s) - min_side + 1):
        lo, hi = s[:k], s[k:]
        gap = float(hi.mean() - lo.mean())
        sep = gap / (float(np.sqrt((lo.var() + hi.var()) / 2)) + 0.02)
        if gap >= min_gap and sep > best_sep:
            best_sep, best_k = sep, k
    if best_sep < min_sep:
        return None, best_sep
    low = np.zeros(len(p), bool)
    low[order[:best_k]] = True
    return low, best_sep


def _alike(a: np.ndarray, b: np.ndarray) -> bool:
    return float((a == b).mean()) >= 0.9


def median0(x: np.ndarray) -> np.ndarray:
    """np.median(x, axis=0), the same values, by sorting: 5x faster over frames."""
    k = len(x)
    s = np.sort(x, axis=0)
    if k % 2:
        return s[k // 2]
    return (s[k // 2 - 1] + s[k // 2]) / 2


def _look_errors(
    o: np.ndarray,
    rest: np.ndarray,
    looks: Sequence[np.ndarray],
    gain: np.ndarray,
    bg: np.ndarray,
) -> np.ndarray:
    """(1 + len(looks), K): per look (the released one, then `looks`) drawn over
    background `bg`, its mean error on each of a button's crops `o` (K, h, w, 3)."""
    out = np.empty((1 + len(looks), len(o)), np.float32)
    diff = np.empty(o.shape, np.float32)  # one buffer, reused: 3x faster than temporaries
    flat = diff.reshape(len(o), -1)
    for i, lk in enumerate((rest, *looks)):
        np.subtract(o, expected_rest(lk, gain, bg), out=diff)
        np.abs(diff, out=diff)
        out[i] = flat.mean(axis=1)
    return out


def _explained(
    o: np.ndarray,
    rest: np.ndarray,
    looks: Sequence[np.ndarray],
    gain: np.ndarray,
    bg: np.ndarray,
) -> float:
    """How badly a background `bg` lets a button's crops be explained: per frame the error
    of the best of its released look and the pressed `looks` (its own, and those of
    buttons sharing its box), averaged over the frames."""
    return float(_look_errors(o, rest, looks, gain, bg).min(axis=0).mean())


def _best_look(
    o: np.ndarray,
    rest: np.ndarray,
    looks: Sequence[np.ndarray],
    gain: np.ndarray,
    bg: np.ndarray,
) -> np.ndarray:
    """(K,) int: per crop, which look explains it best over background `bg`: 0 the
    released one, i > 0 `looks[i - 1]`."""
    return _look_errors(o, rest, looks, gain, bg).argmin(axis=0)


def _fill_from(img: np.ndarray, known: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """`img` spread from its `known` pixels (normalised convolution: a fine pass, then a
    coarse one where the fine saw too little, then `fallback`)."""
    k = known.astype(np.float32)
    out = fallback.astype(np.float32).copy()
    done = np.zeros(known.shape, bool)
    for sigma in (3.0, 12.0, 0.15 * max(known.shape)):
        wsum = cv2.GaussianBlur(k, (0, 0), sigma)
        vals = cv2.GaussianBlur(img * k[..., None], (0, 0), sigma)
        ok = (wsum > 0.05) & ~done
        out[ok] = vals[ok] / wsum[ok, None]
        done |= ok
    return out


def fit_residual(
    mean: np.ndarray, rest: np.ndarray, static: np.ndarray, gain: np.ndarray, bmap: np.ndarray
) -> float:
    """Mean squared error of a fitted gain model (`fit_gain`) on the unchanging overlay
    pixels of the frames' mean canvas: how well a placement explains them."""
    idx = overlay_pixels(rest, static)
    e = expected_rest(rest, gain, bmap).reshape(-1, 3)[idx]
    o = mean.reshape(-1, 3)[idx]
    return float(((o - e) ** 2).mean())


def expected_rest(rest: np.ndarray, gain: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """(h, w, 3): the overlay at rest as the video would show it over background `bg`
    ((3,) or a (h, w, 3) map)."""
    return rest[..., :3] * gain + (1 - rest[..., 3:4] * gain) * bg


def _highpass(img: np.ndarray) -> np.ndarray:
    """Detail only: the image minus its blur (a smooth background drops out)."""
    sigma = max(2.0, 0.03 * max(img.shape))
    return np.ascontiguousarray(img - cv2.GaussianBlur(img, (0, 0), sigma), dtype=np.float32)


def _grey(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(img @ LUMA, dtype=np.float32)


def _details(
    mean: np.ndarray, rest: np.ndarray, gain: np.ndarray, bg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The frames' average and the overlay at rest over `bg`, grey and high-passed: what
    ECC aligns."""
    return _highpass(_grey(mean)), _highpass(_grey(expected_rest(rest, gain, bg)))


def detail_fit(mean: np.ndarray, rest: np.ndarray, gain: np.ndarray, bmap: np.ndarray) -> float:
    """How well the overlay's own detail lines up with the frames' average: the
    correlation over the overlay's pixels of the two high-passed (ECC's measure), the
    overlay drawn over the smooth background so that no game detail is in the model."""
    img, ref = _details(mean, rest, gain, bmap)
    m = rest[..., 3] > 0.05
    a, b = ref[m] - ref[m].mean(), img[m] - img[m].mean()
    d = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / d if d > 1e-12 else 0.0


def refine_alignment(
    mean_canvas: np.ndarray, rest: np.ndarray, gain: np.ndarray, bg: np.ndarray
) -> np.ndarray | None:
    """A 2x3 canvas correction that aligns the video's average canvas with the overlay at
    rest (ECC on the overlay's own pixels), or None when none is found or it would move
    too much. Canvas index u is then read where `correction @ [u, 1]` was."""
    img, ref = _details(mean_canvas, rest, gain, bg)
    if ref.std() < 1e-4 or img.std() < 1e-4 or min(ref.shape) < 8:
        return None
    mask = cv2.dilate((rest[..., 3] > 0.05).astype(np.uint8), np.ones((3, 3), np.uint8))
    if mask.sum() < 32:
        return None
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-5)
    # img(x) ~ ref(W x), counted on the overlay's own pixels of ref. Coarse to fine: a
    # translation on blurred images first (thin line-art skins have a narrow basin),
    # then an affine refinement from there.
    warp = np.eye(2, 3, dtype=np.float32)
    for motion, blur in ((cv2.MOTION_TRANSLATION, 7), (cv2.MOTION_AFFINE, 3)):
        try:
            _, w = cv2.findTransformECC(img, ref, warp.copy(), motion, criteria, mask, blur)
        except cv2.error:
            continue
        if np.isfinite(w).all():
            warp = w
    lin = warp[:, :2].astype(np.float64)
    if np.abs(lin - np.eye(2)).max() > MAX_STRETCH:
        return None
    if np.abs(warp[:, 2]).max() > MAX_SHIFT + 0.01 * max(ref.shape):
        return None
    if np.allclose(warp, np.eye(2, 3)):
        return None
    full = np.vstack([warp.astype(np.float64), [0, 0, 1]])
    return np.linalg.inv(full)[:2]


class Presence:
    """Per frame: zero-normalised correlation of the unchanging overlay pixels with the
    overlay at rest. Near the video's usual value where the overlay shows, near 0 where
    it does not."""

    def __init__(self, rest: np.ndarray, static: np.ndarray, gain: np.ndarray, bg: np.ndarray):
        """`bg`: the background, (3,) or a (h, w, 3) map."""
        idx = overlay_pixels(rest, static)
        if len(idx) > 3000:
            idx = idx[np.linspace(0, len(idx) - 1, 3000).astype(np.int64)]
        self.idx = idx
        ref = expected_rest(rest, gain, bg).reshape(-1, 3)[idx].reshape(-1)
        ref = ref - ref.mean()
        n = np.linalg.norm(ref)
        self.ref = (ref / n).astype(np.float32) if n > 1e-6 else None

    def __call__(self, canvases: np.ndarray) -> np.ndarray:
        """(K,) correlations for canvases (K, h, w, 3), float or uint8."""
        k = len(canvases)
        if self.ref is None or k == 0:
            return np.ones(k, np.float32)
        return self.score(canvases.reshape(k, -1, 3)[:, self.idx])

    def score(self, values: np.ndarray) -> np.ndarray:
        """(K,) correlations for the canvas values at `idx` (K, len(idx), 3), as
        geometry.PointSampler reads them."""
        k = len(values)
        if self.ref is None or k == 0:
            return np.ones(k, np.float32)
        x = values.reshape(k, -1).astype(np.float32)
        x = x - x.mean(axis=1, keepdims=True)
        n = np.linalg.norm(x, axis=1)
        return ((x @ self.ref) / np.maximum(n, 1e-6)).astype(np.float32)


def presence_score(z: np.ndarray, shown: float = 0.3) -> np.ndarray:
    """Raw correlations over a video -> [0, 1]: 1 at the level usual where the overlay
    shows (the median of the frames above `shown`), 0 at no correlation."""
    if len(z) == 0:
        return z
    above = z[z >= shown]
    ref = float(np.median(above)) if len(above) >= 5 else float(np.percentile(z, 90))
    if ref <= 0.15:  # the overlay barely stands out anywhere: do not judge by it
        return np.ones_like(z)
    return np.clip((z - 0.1) / (0.8 * ref - 0.1), 0.0, 1.0).astype(np.float32)


# -- sticks, after the whole video -------------------------------------------------------
def stick_center(
    xy: np.ndarray,
    weight: np.ndarray | None = None,
    reach: float = 0.08,
    tight: float = 0.03,
    far: float = 0.35,
    still: float = 0.12,
    most: float = 0.5,
) -> np.ndarray:
    """The rest position of a stick: the densest spot of its readings within `reach` of
    the nominal centre (a placement off by a pixel or so), if the stick ever rests there.
    A resting thumb keeps still, so rest is a tight cluster: at least 3% of the readings
    (and 10) within `tight` of one spot. A stick that never rests there keeps the
    nominal centre (a slight push held a while is not a rest), unless `most` of its
    readings lie within `still` of their median, itself within `far` of the nominal
    centre: a stick that never moves, read off centre (famicom's one-pixel red stick
    over its dark cross, corpus c28-0014: 0.3 low in every frame). (2,)"""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    if weight is not None:
        xy = xy[np.asarray(weight) > 0.5]
    near = xy[np.hypot(xy[:, 0], xy[:, 1]) < reach]
    need = max(10, 0.03 * len(xy))
    if len(near) < need:
        if len(xy) >= 20:
            mid = np.median(xy, axis=0)
            if np.hypot(*mid) < far and np.mean(np.hypot(*(xy - mid).T) < still) >= most:
                return mid
        return np.zeros(2)
    step = tight
    bins = np.arange(-reach, reach + step, step)
    hist, _, _ = np.histogram2d(near[:, 0], near[:, 1], bins=[bins, bins])
    i, j = np.unravel_index(int(np.argmax(hist)), hist.shape)
    spot = np.array([(bins[i] + bins[i + 1]) / 2, (bins[j] + bins[j + 1]) / 2])
    pts = near[np.hypot(*(near - spot).T) < tight * 1.5]
    if len(pts) < need:
        return np.zeros(2)
    return np.median(pts, axis=0)


def stick_scale(xy: np.ndarray, q: float = 99.5) -> float:
    """Deflection that counts as full: 1 (the template's radius) unless the readings
    overshoot it, then their high percentile."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    if len(xy) < 20:
        return 1.0
    top = float(np.percentile(np.abs(xy), q))
    return top if top > 1.05 else 1.0


# -- buttons, after the whole video -----------------------------------------------------
def button_threshold(
    z: np.ndarray,
    max_shift: float = 3.0,
    separation: float = 4.0,
    max_flip: float = 0.5,
    max_run: float = 150.0,
    min_runs: int = 2,
    up: bool = True,
) -> float:
    """The logit above which a button counts as pressed in this video: 0 (the network's
    own boundary), unless its readings fall in two clear clusters (released, pressed)
    that 0 does not cleanly split; then the widest gap between the two.

    Within one video a button's two looks are drawn the same way every time, so its
    readings cluster; a skin the network reads a little off shifts both clusters, not
    their order. The clusters must be well apart, each near its own side of 0, the
    new boundary within `max_shift` of 0, and it may turn at most `max_flip` of the
    readings from one state to the other (a button the network reads as barely released
    throughout, beside a few clearly released readings, is not held all video);
    otherwise the network's boundary stands.

    `z` is in frame order: the readings the new boundary turns must come in runs shorter
    than `max_run` frames on average. Presses do (no corpus button's mean press lasts 3
    s); a card or a new game behind a see-through button shifts its readings for as long
    as it lasts, in one run (H2 c24-0007: both triggers, never pressed, read pressed
    through a 282-frame "be right back" card; c24-0003: a trigger after a switch to
    Boxing, 428 frames; L2 c29-0009, a retrained network: a trigger read -2.2 over Doom
    and -0.9 over Breakout, and pressed for the 600 Breakout frames). They must also come
    in at least `min_runs` runs: one stretch alone is as likely a short card (L2
    c29-0006: SNES B, never pressed, read -0.8 through a 60-frame card and -5.9 elsewhere,
    and pressed through the card).

    Without `up` the boundary only moves down: a trigger's pulls ramp in and out over a
    frame or two, drawn part-filled, and those frames read between the clusters; a
    boundary moved above 0 left them released (N2 c33-0018: +2.42, the first frame of
    144 pulls, a third filled, read released).
    """
    seq = np.asarray(z, np.float64).reshape(-1)
    z = np.sort(seq)
    n = len(z)
    if n < 20:
        return 0.0
    # best 2-cluster split of the sorted readings (Otsu on 1-D data)
    c = np.cumsum(z)
    k = np.arange(1, n)  # split after k readings
    m1 = c[:-1] / k
    m2 = (c[-1] - c[:-1]) / (n - k)
    between = k * (n - k) * (m1 - m2) ** 2
    lo = max(2, int(0.002 * n))
    between[: lo - 1] = -1
    between[n - lo :] = -1
    j = int(np.argmax(between))
    if between[j] <= 0:
        return 0.0
    split = j + 1
    a, b = z[:split], z[split:]
    sd = np.sqrt((a.var() + b.var()) / 2) + 1e-6
    if (b.mean() - a.mean()) / sd < separation:
        return 0.0
    if a.mean() > 1.0 or b.mean() < -1.0:  # both clusters on one side: not a press/release pair
        return 0.0
    t = 0.5 * (a[-1] + b[0])
    if not -max_shift <= t <= (max_shift if up else 0.0):
        return 0.0
    if (a[-1] < 0 < b[0]) or a[-1] == b[0]:
        return 0.0  # 0 already splits them cleanly
    flip = (seq >= min(t, 0.0)) & (seq < max(t, 0.0))
    if flip.mean() > max_flip:
        return 0.0
    runs = int(np.count_nonzero(np.diff(flip.astype(np.int8)) == 1) + flip[0])
    if runs < min_runs or flip.sum() / runs >= max_run:
        return 0.0
    return float(t)
