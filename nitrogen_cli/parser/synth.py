"""Synthetic training clips, made on the fly with the overlay library.

A clip is a short video of one template drawn in random, human-like states over game
frames (or solid colours, or moving textures), at a random scale and opacity, maybe
blurred and colour-shifted, then really encoded (H.264 through PyAV, or JPEG) and read
back through the same calibration and cropping as `nitrogen extract-actions`, from a
slightly wrong placement (as detection would give). What comes out is what the network
trains on: crops, the looks they are compared with, and the true states.

    bgs = Backgrounds.build(rng)                        # game frames + procedural ones
    clip = make_clip(rng, template, bgs, ClipConfig())  # a dict of arrays (see Clip)
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from nitrogen_cli.actions import BUTTONS, STICKS, TRIGGER_THRESHOLD, TRIGGERS, State
from nitrogen_cli.overlays import Renderer, Template
from nitrogen_cli.overlays.render import PIXEL_ART_MAX
from nitrogen_cli.parser.geometry import CanvasMap, CropReader
from nitrogen_cli.parser.looks import StickBank, build_looks, level_only, nearest_cell
from nitrogen_cli.parser.pipeline import calibrate

DPAD = ("dpad_up", "dpad_down", "dpad_left", "dpad_right")
# d-pad directions a thumb can hold: none, four, four diagonals (never opposite ones)
DPAD_COMBOS = (
    (),
    ("dpad_up",),
    ("dpad_down",),
    ("dpad_left",),
    ("dpad_right",),
    ("dpad_up", "dpad_left"),
    ("dpad_up", "dpad_right"),
    ("dpad_down", "dpad_left"),
    ("dpad_down", "dpad_right"),
)


@dataclass
class ClipConfig:
    frames: int = 40
    size: int = 16  # button crops
    stick_size: int = 32
    grid: int = 15
    stick_highpass: float = 2.0
    stick_floor: float = 0.1
    width: tuple[float, float] = (110.0, 560.0)  # overlay width in video pixels
    opacity: tuple[float, float] = (0.4, 1.0)
    opaque: float = 0.35  # share of clips at opacity 1
    h264: float = 0.75  # share encoded with H.264 (the rest JPEG)
    crf: tuple[int, int] = (18, 36)
    jpeg: tuple[int, int] = (35, 95)
    blur: float = 0.3  # share of clips blurred a little
    colour: float = 0.3  # share of clips colour-shifted
    jitter: float = 0.6  # placement error (video pixels, sd) as detection leaves it
    jitter_scale: float = 0.006  # and relative scale error (sd)


# -- backgrounds -----------------------------------------------------------------------
@dataclass
class Backgrounds:
    """Frames to draw overlays on: short runs of real game frames, and procedural ones."""

    games: list[np.ndarray] = field(default_factory=list)  # each (T, h, w, 3) uint8

    @classmethod
    def build(
        cls, rng: np.random.Generator, games: Sequence[str], frames: int = 160
    ) -> Backgrounds:
        """Play each game with random inputs for a few seconds (games that fail to start
        are left out: procedural backgrounds still work)."""
        out: list[np.ndarray] = []
        if not games:
            return cls([])
        try:
            from nitrogen_cli.envs import make_env
        except Exception:  # pragma: no cover - envs are a hard dependency in practice
            return cls([])
        for g in games:
            try:
                env = make_env(g)
                env.action_space.seed(int(rng.integers(1 << 31)))
                obs, _ = env.reset(seed=int(rng.integers(1 << 31)))
                run = []
                for _ in range(frames):
                    obs, _, term, trunc, _ = env.step(env.action_space.sample())
                    run.append(np.asarray(obs, np.uint8))
                    if term or trunc:
                        obs, _ = env.reset()
                env.close()
                out.append(np.stack(run))
            except Exception:
                continue
        return cls(out)

    def sample(self, rng: np.random.Generator, n: int, size: tuple[int, int]) -> np.ndarray:
        """(n, h, w, 3) uint8 consecutive background frames of `size` (w, h)."""
        w, h = size
        kind = rng.random()
        if self.games and kind < 0.5:
            run = self.games[int(rng.integers(len(self.games)))]
            step = int(rng.integers(1, 3))
            start = int(rng.integers(0, max(1, len(run) - n * step)))
            idx = np.minimum(start + np.arange(n) * step, len(run) - 1)
            zoom = float(rng.uniform(1.0, 4.0))
            gh, gw = run.shape[1:3]
            big = (max(w, round(gw * zoom)), max(h, round(gh * zoom)))
            ox = int(rng.integers(0, big[0] - w + 1))
            oy = int(rng.integers(0, big[1] - h + 1))
            interp = cv2.INTER_NEAREST if rng.random() < 0.5 else cv2.INTER_LINEAR
            return np.stack(
                [
                    cv2.resize(run[i], big, interpolation=interp)[oy : oy + h, ox : ox + w]
                    for i in idx
                ]
            )
        if kind < 0.62:
            colour = rng.integers(0, 256, 3) if rng.random() < 0.6 else np.zeros(3, int)
            frames = np.empty((n, h, w, 3), np.uint8)
            frames[:] = colour.astype(np.uint8)
            if rng.random() < 0.3:  # a slow gradient
                ramp = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
                other = rng.integers(0, 256, 3).astype(np.float32)
                img = frames[0] * (1 - ramp) + other * ramp
                frames[:] = img.astype(np.uint8)
            return frames
        if kind < 0.75:
            return _card(rng, n, w, h)
        return _texture(rng, n, w, h)


def _card(rng: np.random.Generator, n: int, w: int, h: int) -> np.ndarray:
    """A still card or menu: flat colour, big text, bars and boxes (what streams show
    between games), maybe sliding a little."""
    big = np.empty((h + 16, w + 16, 3), np.uint8)
    big[:] = rng.integers(0, 256, 3).astype(np.uint8)
    for _ in range(int(rng.integers(1, 6))):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        x0, y0 = int(rng.integers(-20, w)), int(rng.integers(-20, h))
        if rng.random() < 0.5:
            x1, y1 = x0 + int(rng.integers(10, w)), y0 + int(rng.integers(4, h // 2 + 5))
            cv2.rectangle(big, (x0, y0), (x1, y1), colour, -1)
        else:
            text = "".join(rng.choice(list("ABCDEFGHIJKLMNOPRSTUVW 0123456789"), 10))
            scale = float(rng.uniform(0.6, 3.0))
            cv2.putText(big, text, (x0, y0 + 30), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 3)
    dx, dy = rng.integers(-1, 2, 2)
    return np.stack(
        [
            big[8 + int(np.clip(dy * i, -8, 8)) :, 8 + int(np.clip(dx * i, -8, 8)) :][:h, :w]
            for i in range(n)
        ]
    )


def _texture(rng: np.random.Generator, n: int, w: int, h: int) -> np.ndarray:
    """Smooth random colour noise panning across the frame, plus moving blobs."""
    cell = int(rng.integers(4, 40))
    big_w, big_h = w + 2 * n * 4 + 8, h + 2 * n * 4 + 8
    base = rng.integers(0, 256, (big_h // cell + 2, big_w // cell + 2, 3), dtype=np.uint8)
    base = cv2.resize(base, (big_w, big_h), interpolation=cv2.INTER_CUBIC)
    vx, vy = rng.uniform(-4, 4, 2)
    out = np.empty((n, h, w, 3), np.uint8)
    blobs = rng.uniform(0, 1, (int(rng.integers(0, 4)), 5))
    for i in range(n):
        ox = int(np.clip(n * 4 + vx * i, 0, big_w - w))
        oy = int(np.clip(n * 4 + vy * i, 0, big_h - h))
        f = base[oy : oy + h, ox : ox + w].copy()
        for bx, by, br, bc, bv in blobs:
            cx = int((bx + 0.02 * i * (bv - 0.5)) * w) % max(w, 1)
            cv2.circle(f, (cx, int(by * h)), int(4 + br * 30), (int(bc * 255), 80, 200), -1)
        out[i] = f
    return out


# -- states --------------------------------------------------------------------------------
def _runs(rng: np.random.Generator, n: int, duty: float, hold: float) -> np.ndarray:
    """(n,) bool: on/off runs with mean on-length `hold` frames, on a `duty` share."""
    out = np.zeros(n, bool)
    if duty <= 0:
        return out
    off = hold * (1 - duty) / max(duty, 1e-3)
    i, on = 0, rng.random() < duty
    while i < n:
        mean = hold if on else off
        length = max(1, int(rng.geometric(1 / max(mean, 1.0))))
        if on:
            out[i : i + length] = True
        i += length
        on = not on
    return out


def _stick_path(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 2) human-like stick axes: rests at exactly 0, pushes with slew and jitter."""
    xy = np.zeros((n, 2), np.float32)
    mode = rng.random()
    if mode < 0.1:
        return xy  # never touched
    cur = np.zeros(2)
    i = 0
    while i < n:
        length = int(rng.integers(2, 24))
        r = rng.random()
        if r < 0.3:
            target = np.zeros(2)
        elif r < 0.6:
            ang = rng.integers(8) * np.pi / 4
            gain = rng.uniform(0.6, 1.0)
            target = np.array([math.cos(ang), math.sin(ang)]) * gain
            if rng.random() < 0.5:  # digital-style: square corners
                target = np.round(np.array([math.cos(ang), math.sin(ang)])) * gain
        else:
            ang = rng.uniform(0, 2 * np.pi)
            target = np.array([math.cos(ang), math.sin(ang)]) * math.sqrt(rng.uniform(0, 1))
        slew = int(rng.integers(0, 4))
        for k in range(length):
            if i >= n:
                break
            a = 1.0 if slew == 0 else min(1.0, (k + 1) / (slew + 1))
            pos = cur + (target - cur) * a
            if np.linalg.norm(target) > 0:
                pos = pos + rng.normal(0, 0.04, 2)
            xy[i] = np.clip(pos, -1, 1)
            i += 1
        cur = target if np.linalg.norm(target) > 0 else np.zeros(2)
    return xy


def random_states(rng: np.random.Generator, shows: Sequence[str], n: int) -> list[State]:
    """n human-like states of the elements a template shows (others stay released)."""
    pressed = {b: np.zeros(n, bool) for b in BUTTONS}
    for b in BUTTONS:
        if b not in shows or b in DPAD or b in TRIGGERS:
            continue
        duty = float(rng.choice([0.0, 0.05, 0.15, 0.3, 0.5], p=[0.1, 0.2, 0.25, 0.25, 0.2]))
        pressed[b] = _runs(rng, n, duty, float(rng.uniform(1.5, 10)))
    if any(d in shows for d in DPAD):
        duty = float(rng.choice([0.0, 0.3, 0.6, 0.9], p=[0.1, 0.3, 0.3, 0.3]))
        on = _runs(rng, n, duty, float(rng.uniform(2, 10)))
        combo = 0
        for i in range(n):
            if on[i] and (i == 0 or not on[i - 1] or rng.random() < 0.15):
                combo = int(rng.integers(1, len(DPAD_COMBOS)))
            for d in DPAD_COMBOS[combo] if on[i] else ():
                pressed[d][i] = True
    trig = np.zeros((n, 2), np.float32)
    for k, t in enumerate(TRIGGERS):
        if t not in shows:
            continue
        on = _runs(rng, n, float(rng.choice([0.0, 0.2, 0.4, 0.6])), float(rng.uniform(2, 12)))
        depth = 1.0 if rng.random() < 0.5 else float(rng.uniform(0.15, 1.0))
        slew = int(rng.integers(0, 4))  # frames a pull takes, as a thumb's travel does
        run = 0
        for i in range(n):
            run = run + 1 if on[i] else 0
            if on[i]:
                trig[i, k] = depth * min(1.0, run / (slew + 1))
        # now and then a frame part way out, and pulls right at the threshold
        for e in np.flatnonzero(np.diff(on.astype(np.int8)) < 0):
            if rng.random() < 0.3 and e + 1 < n:
                trig[e + 1, k] = float(rng.choice([0.05, 0.1, 0.2, 0.33, 0.5])) * depth
        edge = (trig[:, k] > 0) & (trig[:, k] < 0.3)
        trig[edge & (rng.random(n) < 0.3), k] = TRIGGER_THRESHOLD
    sticks = {
        s: _stick_path(rng, n) if s in shows else np.zeros((n, 2), np.float32) for s in STICKS
    }
    states = []
    for i in range(n):
        names = frozenset(b for b in BUTTONS if pressed[b][i] and b not in TRIGGERS)
        states.append(
            State(
                names,
                (float(sticks["j_left"][i, 0]), float(sticks["j_left"][i, 1])),
                (float(sticks["j_right"][i, 0]), float(sticks["j_right"][i, 1])),
                (float(trig[i, 0]), float(trig[i, 1])),
            )
        )
    return states


# -- skins -----------------------------------------------------------------------------------
def recolour(rng: np.random.Generator, t: Template) -> Template:
    """A colour variant of a template: same layout and boxes, a transformed atlas (channel
    swaps, inversion, hue-like mixing, contrast, translucency)."""
    atlas = t.atlas.astype(np.float32) / 255
    rgb, a = atlas[..., :3], atlas[..., 3:]
    if rng.random() < 0.5:
        rgb = rgb[..., rng.permutation(3)]
    if rng.random() < 0.2:
        rgb = 1 - rgb
    if rng.random() < 0.4:
        m = np.eye(3) * 0.6 + rng.uniform(0, 0.4, (3, 3))
        rgb = rgb @ (m / m.sum(axis=0, keepdims=True)).astype(np.float32)
    if rng.random() < 0.5:
        c = rng.uniform(0.6, 1.3)
        rgb = (rgb - 0.5) * c + 0.5 + rng.uniform(-0.15, 0.15)
    if rng.random() < 0.25:
        a = a * rng.uniform(0.45, 0.9)
    out = np.concatenate([np.clip(rgb, 0, 1), a], axis=-1)
    atlas8 = (out * 255 + 0.5).astype(np.uint8)
    nt = Template(t.id + "~", t.layout_json, atlas=atlas8, layout=t.layout)
    # same geometry: what it shows and where does not change with colour
    nt.__dict__["_visibility"] = t._visibility
    return nt


# -- encoding ---------------------------------------------------------------------------------
def h264_roundtrip(frames: np.ndarray, crf: int, fps: int = 30) -> list:
    """Encode RGB frames with libx264 (yuv420p) in memory; return the decoded av frames."""
    import av

    buf = io.BytesIO()
    h, w = frames.shape[1:3]
    with av.open(buf, "w", format="mp4") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": str(crf), "preset": "veryfast"}
        s.thread_count = 1
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    buf.seek(0)
    with av.open(buf) as src:
        st = src.streams.video[0]
        return list(src.decode(st))


def jpeg_roundtrip(frame: np.ndarray, quality: int) -> np.ndarray:
    _, data = cv2.imencode(".jpg", frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].copy()


# -- a clip -----------------------------------------------------------------------------------
def placement_scale(rng: np.random.Generator, t: Template, cfg: ClipConfig) -> float:
    W, H = t.size
    width = math.exp(rng.uniform(math.log(cfg.width[0]), math.log(cfg.width[1])))
    scale = width / W
    if max(W, H) <= PIXEL_ART_MAX and rng.random() < 0.5:
        scale = float(round(scale))  # pixel art is often scaled by a whole number
    return max(scale, 1e-3)


def make_clip(
    rng: np.random.Generator, template: Template, bgs: Backgrounds, cfg: ClipConfig
) -> dict[str, np.ndarray] | None:
    """One synthetic clip, read back as the parser reads a video (see module docstring).

    Returns arrays: gain (3,); btn_bg (nb, S, S, 3) and thumb_bg (ns, S, S, 3) (the
    background under each crop); btn_obs (F, nb, S, S, 3), btn_looks (nb, 2, S, S, 4),
    btn_label (F, nb); stick_maps (F, ns, 2, G, G) (correlations with the stick's
    candidates), stick_xy (F, ns, 2), thumb_obs (F, ns, S, S, 3), thumb_looks
    (F, ns, 2, S, S, 4), thumb_label (F, ns), thumb_shown (ns,); None when the template
    shows nothing.
    """
    t = template
    if not t.shows:
        return None
    n = cfg.frames
    scale = placement_scale(rng, t, cfg)
    r = Renderer(t, scale)
    mx0, mx1, my0, my1 = (int(v) for v in rng.integers(2, 40, 4))
    fw, fh = r.width + mx0 + mx1, r.height + my0 + my1
    fw, fh = fw + fw % 2, fh + fh % 2
    fw, fh = max(fw, 64), max(fh, 64)
    bg = bgs.sample(rng, n, (fw, fh))
    states = random_states(rng, t.shows, n)
    op = 1.0 if rng.random() < cfg.opaque else float(rng.uniform(*cfg.opacity))
    frames = bg.copy()
    for i in range(n):
        r.draw(frames[i], states[i], mx0, my0, op)
    info: dict[str, float] = {"scale": scale, "opacity": op, "blur": 0.0, "colour": 0.0}
    if rng.random() < cfg.blur:
        sigma = float(rng.uniform(0.3, 1.0))
        info["blur"] = sigma
        frames = np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in frames])
    if rng.random() < cfg.colour:
        info["colour"] = 1.0
        g = rng.uniform(0.92, 1.08, 3).astype(np.float32)
        o = rng.uniform(-8, 8, 3).astype(np.float32)
        frames = np.clip(frames.astype(np.float32) * g + o, 0, 255).astype(np.uint8)

    true_t = np.array([[r.sx, 0, mx0], [0, r.sy, my0]], np.float64)
    det = true_t.copy()
    if rng.random() < 0.7:
        det[:, 2] += rng.normal(0, cfg.jitter, 2)
        det[:, :2] *= 1 + rng.normal(0, cfg.jitter_scale)
    cmap = CanvasMap.make(det, t.size, (fw, fh))
    if rng.random() < cfg.h264:
        crf = int(rng.integers(cfg.crf[0], cfg.crf[1] + 1))
        info["crf"] = crf
        decoded = h264_roundtrip(frames, crf)
        rois = [cmap.roi_rgb(f) for f in decoded[:n]]
    else:
        q = int(rng.integers(cfg.jpeg[0], cfg.jpeg[1] + 1))
        info["jpeg"] = q
        x0, y0, x1, y1 = cmap.roi
        rois = [jpeg_roundtrip(f, q)[y0:y1, x0:x1] for f in frames]
    looks = build_looks(t, cmap.scale, cfg.size, cfg.stick_size, cfg.grid)
    cal = calibrate(rois, cmap, looks)
    reader = CropReader.make(cal.cmap, looks.crop_groups)  # as extraction reads them
    if reader is not None:
        direct = reader(np.stack(rois))
        crops = [tuple(g[i] for g in direct) for i in range(len(rois))]
    else:
        crops = [looks.crops(cal.cmap.from_rgb_roi(roi, as_float=False)) for roi in rois]
    nb, ns = len(looks.buttons), len(looks.sticks)
    G = cfg.grid
    stick_xy = np.array(
        [[getattr(s, st.name) for st in looks.sticks] for s in states], np.float32
    ).reshape(n, ns, 2)
    stick_obs = np.stack([c[1] for c in crops]).reshape(n, ns, cfg.stick_size, cfg.stick_size, 3)
    bg_b, bg_s, bg_t = looks.crops(cal.bg)
    bg_s = level_only(bg_s)  # as extraction builds its stick banks
    maps = np.zeros((n, ns, 2, G, G), np.float32)
    thumb_looks = np.zeros((n, ns, 2, cfg.size, cfg.size, 4), np.float32)
    for k in range(ns):
        bank = StickBank(looks, k, cal.gain, bg_s[k], cfg.stick_floor, cfg.stick_highpass)
        maps[:, k] = bank.scores(stick_obs[:, k])
        # the click is judged against looks at the cell nearest the stick (as read: the
        # reading is off by a cell now and then)
        cell = nearest_cell(stick_xy[:, k], G)
        cell = np.clip(cell + (rng.random((n, 2)) < 0.15) * rng.integers(-1, 2, (n, 2)), 0, G - 1)
        thumb_looks[:, k] = looks.thumb_looks[k][:, cell[:, 1], cell[:, 0]].transpose(1, 0, 2, 3, 4)
    return {
        "gain": cal.gain.astype(np.float32),
        "btn_bg": bg_b,
        "thumb_bg": bg_t,
        "btn_obs": np.stack([c[0] for c in crops]).reshape(n, nb, cfg.size, cfg.size, 3),
        "btn_looks": looks.button_looks,
        "btn_label": np.array(
            [[s.is_pressed(b.name) for b in looks.buttons] for s in states], bool
        ).reshape(n, nb),
        "stick_maps": maps,
        "stick_xy": stick_xy,
        "thumb_obs": np.stack([c[2] for c in crops]).reshape(n, ns, cfg.size, cfg.size, 3),
        "thumb_looks": thumb_looks,
        "thumb_label": np.array(
            [
                [st.thumb is not None and s.is_pressed(st.thumb) for st in looks.sticks]
                for s in states
            ],
            bool,
        ).reshape(n, ns),
        "thumb_shown": np.array([st.thumb is not None for st in looks.sticks], bool),
        "info": {
            **info,
            "shift": (cal.cmap.transform[:, 2] - true_t[:, 2]).tolist(),
            "shift0": (det[:, 2] - true_t[:, 2]).tolist(),
            "aligned": cal.aligned,
        },
    }


def trigger_pressed(value: float) -> bool:
    return value >= TRIGGER_THRESHOLD
