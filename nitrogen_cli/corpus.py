"""A synthetic streamer corpus: gameplay videos with an input overlay, and their truth.

NitroGen mined videos of people playing with a controller overlay in a corner. This
module makes such videos from games we can run, so that every later stage (overlay
detection, action extraction, filtering, masking) can be scored against exact answers:

    specs = plan_corpus(["Breakout", "DoomBasic"], minutes=2, seed=0)   # pure planning
    mp4, truth = make_video(specs[0], "corpus/")                          # one video
    mp4s = make_corpus(["Breakout"], 2, "corpus/", seed=0, jobs=2)        # all, in parallel

A plan is a list of VideoSpecs, plain data drawn from generators seeded by (seed, k), so
one seed always gives the same corpus, whatever `jobs` is. Rendering a spec plays the
games with the scripted or human-like players of nitrogen_cli.envs, lays each game
frame into a 1280x720 or 1920x1080 canvas, draws the overlay in the very State the
player pressed on that frame, and encodes H.264 the way OBS streamers do (libx264,
yuv420p, preset veryfast). Some videos have no overlay; some have idle stretches (the
player away, a pause menu, a "be right back" card), overlays that vanish or move, game
switches. The truth file (kind "truth", man nitrogen-formats(5)) records it all per frame.
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from nitrogen_cli import formats
from nitrogen_cli.actions import N_BUTTONS, Actions, State
from nitrogen_cli.batch import NitrogenError
from nitrogen_cli.video import VideoWriter

# What streamers use, and how often this corpus picks each.
CANVASES: tuple[tuple[int, int], ...] = ((1280, 720), (1920, 1080))
CANVAS_WEIGHTS = (0.7, 0.3)
FPS_CHOICES: tuple[int, ...] = (30, 60)
FPS_WEIGHTS = (0.6, 0.4)
CRF_RANGE = (18, 32)  # inclusive
PRESET = "veryfast"  # OBS's default x264 preset
KEYFRAME_S = 2  # OBS/Twitch keyframe interval
OVERLAY_WIDTH = (0.10, 0.35)  # of the canvas width
OPACITY = (0.4, 1.0)
NO_OVERLAY = 0.18  # share of videos with no overlay at all
VIDEO_SECONDS = (20.0, 90.0)  # the length range of one video
CORPUS_VERSION = 2  # bumped when a video's content or its truth layout changes: remade

PLAY, AFK, MENU, CARD = range(4)
PHASES: tuple[str, ...] = ("play", "afk", "menu", "card")  # /meta/phase codes
IDLE = State()
CARD_TEXTS = ("BE RIGHT BACK", "STARTING SOON", "INTERMISSION", "TECHNICAL DIFFICULTIES")


class CorpusError(NitrogenError):
    """A corpus that cannot be planned or a video that could not be made."""


# -- the plan: plain data, picklable and JSON-able ---------------------------------------
@dataclass(frozen=True)
class Placement:
    """Where the overlay is drawn: top-left (x, y) in video pixels, template scale."""

    x: int
    y: int
    scale: float


@dataclass(frozen=True)
class Segment:
    """Frames [start, end) with one game, one phase and one overlay placement (-1: none)."""

    start: int
    end: int
    game: int  # index into VideoSpec.games
    phase: int  # index into PHASES
    placement: int


@dataclass(frozen=True)
class VideoSpec:
    """Everything one video is made from; rendering it twice gives the same truth."""

    id: str
    k: int
    seed: int  # the corpus seed; the video's own generators are seeded by (seed, k)
    games: tuple[str, ...]  # game ids in order of appearance; games[0] is the main one
    fps: int
    frames: int
    canvas: tuple[int, int]  # width, height
    crf: int
    template: str | None  # None: no overlay in this video
    opacity: float
    placements: tuple[Placement, ...]
    segments: tuple[Segment, ...]
    display: dict[str, Any]  # how the game sits in the canvas: aspect, zoom, align, filter
    background: dict[str, Any]  # kind (black, solid, blur) and colour
    player: str  # player kind for make_player
    human: dict[str, float]  # HumanParams overrides
    template_dirs: tuple[str, ...] = ()
    builtin: bool = True

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> VideoSpec:
        d = json.loads(text)
        d["games"] = tuple(d["games"])
        d["canvas"] = tuple(d["canvas"])
        d["placements"] = tuple(Placement(**p) for p in d["placements"])
        d["segments"] = tuple(Segment(**s) for s in d["segments"])
        d["template_dirs"] = tuple(d["template_dirs"])
        return cls(**d)


# -- templates ---------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _templates(dirs: tuple[str, ...], builtin: bool) -> tuple[Any, ...]:
    """Every usable template (it shows at least one contract element), loaded once."""
    from nitrogen_cli.overlays import load_templates

    return tuple(t for t in load_templates(dirs, builtin) if t.id.startswith("builtin/") or t.shows)


@lru_cache(maxsize=8)
def _template(id: str, dirs: tuple[str, ...], builtin: bool) -> Any:
    """One template by id; a preset's lookup skips building the built-in skins."""
    from nitrogen_cli.overlays import get_template

    return get_template(id, dirs, builtin and id.startswith("builtin/"))


def _family(template: Any) -> str:
    """Templates are drawn family first, so 16 colour variants of one preset do not
    crowd out the rest: a built-in's layout, a preset's folder."""
    return template.layout if template.id.startswith("builtin/") else template.id.split("/")[0]


# -- planning ----------------------------------------------------------------------------
def resolve_games(games: Iterable[str] | str | None) -> list[str]:
    """Game ids from names or ids (`Breakout`, `nitrogen/Pong-v0`); None or "all": every game."""
    from nitrogen_cli.envs import game_ids, get_game

    if games is None or games == "all" or (isinstance(games, str) and not games.strip()):
        return game_ids()
    if isinstance(games, str):
        games = [g for g in games.split(",") if g.strip()]
    out: list[str] = []
    for g in games:
        g = g.strip()
        if g == "all":
            ids = game_ids()
        else:
            try:
                ids = [get_game(g).id]
            except KeyError as exc:
                raise CorpusError(str(exc.args[0]) if exc.args else f"unknown game {g!r}") from None
        out.extend(i for i in ids if i not in out)
    if not out:
        raise CorpusError("no games given")
    return out


def video_lengths(total_s: float, rng: np.random.Generator, lo: float, hi: float) -> list[float]:
    """Cut `total_s` seconds into videos of lo..hi seconds (one shorter video if the total
    itself is shorter); the lengths add up to the total."""
    out: list[float] = []
    remaining = float(total_s)
    while remaining > 1e-9:
        d = float(rng.uniform(lo, hi))
        if remaining - d < lo:  # the rest would be too short to stand alone
            d = remaining if remaining <= hi else remaining / 2
        out.append(d)
        remaining -= d
    return out


def plan_corpus(
    games: Iterable[str] | str | None,
    minutes: float,
    seed: int = 0,
    templates: Sequence[str | Path] = (),
    builtin: bool = True,
    canvas: tuple[int, int] | None = None,
    fps: int | None = None,
    video_seconds: tuple[float, float] | None = None,
) -> list[VideoSpec]:
    """The videos of a corpus: `minutes` of video in all, shared evenly among `games`.

    `canvas` and `fps` fix what is otherwise drawn per video (1280x720 or 1920x1080, 30 or
    60 fps); `video_seconds` the length range (by default 20-90 s, shorter where there are
    many games for the time, so that each gets a video of its own).
    """
    if not minutes > 0 or not math.isfinite(minutes):
        raise CorpusError(f"minutes must be a positive number, got {minutes!r}")
    ids = resolve_games(games)
    dirs = tuple(str(d) for d in templates)
    pool = _templates(dirs, builtin)
    if not pool:  # else every video would quietly come out without an overlay
        raise CorpusError(
            f"no skin to draw: no preset under {', '.join(dirs) or '(no --templates)'} "
            "shows a gamepad element"
        )
    families: dict[str, list[Any]] = {}
    for t in pool:
        families.setdefault(_family(t), []).append(t)
    total = minutes * 60.0
    if video_seconds is None:
        target = min(60.0, max(VIDEO_SECONDS[0], total / len(ids)))
        video_seconds = (max(VIDEO_SECONDS[0], 0.6 * target), min(VIDEO_SECONDS[1], 1.4 * target))
    lo, hi = video_seconds
    if not 0 < lo <= hi:
        raise CorpusError(f"bad video length range {video_seconds!r}")
    rng = np.random.default_rng([seed])
    lengths = video_lengths(total, rng, lo, hi)
    played = dict.fromkeys(ids, 0.0)
    specs = []
    for k, seconds in enumerate(lengths):
        least = min(played.values())
        main = str(rng.choice([g for g in ids if played[g] == least]))
        played[main] += seconds
        specs.append(_plan_video(k, seed, main, ids, seconds, families, dirs, builtin, canvas, fps))
    return specs


def _plan_video(
    k: int,
    seed: int,
    main: str,
    ids: list[str],
    seconds: float,
    families: dict[str, list[Any]],
    dirs: tuple[str, ...],
    builtin: bool,
    canvas: tuple[int, int] | None,
    fps: int | None,
) -> VideoSpec:
    rng = np.random.default_rng([seed, k])
    if canvas is None:
        canvas = CANVASES[int(rng.choice(len(CANVASES), p=CANVAS_WEIGHTS))]
    if fps is None:
        fps = FPS_CHOICES[int(rng.choice(len(FPS_CHOICES), p=FPS_WEIGHTS))]
    frames = max(1, round(seconds * fps))
    crf = int(rng.integers(CRF_RANGE[0], CRF_RANGE[1] + 1))
    games = [main]
    others = [g for g in ids if g != main]
    if others and seconds >= 20 and rng.random() < 0.3:
        games.append(str(rng.choice(others)))

    template = None
    if families and rng.random() >= NO_OVERLAY:
        family = sorted(families)[int(rng.integers(len(families)))]
        members = families[family]
        template = members[int(rng.integers(len(members)))]
    opacity = 1.0 if rng.random() < 0.35 else round(float(rng.uniform(*OPACITY)), 3)
    placements: list[Placement] = []
    if template is not None:
        first = _placement(rng, template.size, canvas, None)
        placements = [first, _placement(rng, template.size, canvas, first)]

    segments, moved = _timeline(rng, frames, fps, len(games) > 1, template is not None)
    if template is not None and not moved:
        placements = placements[:1]
    display = {
        "aspect": str(rng.choice(["4:3", "native", "wide"], p=[0.65, 0.2, 0.15])),
        "zoom": 1.0 if rng.random() < 0.7 else round(float(rng.uniform(0.8, 1.0)), 3),
        "align": "center" if rng.random() < 0.8 else "left",
        "filter": "nearest" if rng.random() < 0.5 else "linear",
    }
    kind = str(rng.choice(["black", "solid", "blur"], p=[0.5, 0.2, 0.3]))
    background = {"kind": kind, "colour": [int(v) for v in rng.integers(0, 48, 3)]}
    human = {
        "reaction_s": round(float(rng.uniform(0.1, 0.3)), 3),
        "mistake_rate": round(float(rng.uniform(0.03, 0.2)), 3),
        "idle_rate": round(float(rng.uniform(0.0, 0.05)), 3),
        "dpad_prob": round(float(rng.uniform(0.1, 0.6)), 3),
    }
    return VideoSpec(
        id=f"c{seed}-{k:04d}",
        k=k,
        seed=seed,
        games=tuple(games),
        fps=int(fps),
        frames=frames,
        canvas=(int(canvas[0]), int(canvas[1])),
        crf=crf,
        template=None if template is None else template.id,
        opacity=opacity if template is not None else 0.0,
        placements=tuple(placements),
        segments=tuple(segments),
        display=display,
        background=background,
        player="auto" if rng.random() < 0.9 else "noisy",
        human=human,
        template_dirs=dirs,
        builtin=builtin,
    )


def _placement(
    rng: np.random.Generator,
    size: tuple[int, int],
    canvas: tuple[int, int],
    other: Placement | None,
) -> Placement:
    """Mostly a corner with a small margin, now and then an edge's middle or anywhere;
    10-35% of the canvas width (less if that would make it over half the height)."""
    W, H = size
    cw, ch = canvas
    if other is None:
        frac = float(rng.uniform(*OVERLAY_WIDTH))
    else:  # a moved overlay is often resized a little too
        frac = float(np.clip(other.scale * W / cw * rng.uniform(0.75, 1.25), *OVERLAY_WIDTH))
    scale = min(frac * cw / W, 0.5 * ch / H)
    w, h = max(1, round(W * scale)), max(1, round(H * scale))
    margin = round(float(rng.uniform(0.005, 0.04)) * cw)
    where = rng.random()
    if where < 0.8:
        x = margin if rng.random() < 0.5 else cw - w - margin
        y = ch - h - margin if rng.random() < 0.6 else margin
    elif where < 0.92:
        side = int(rng.integers(4))
        x = [(cw - w) // 2, (cw - w) // 2, margin, cw - w - margin][side]
        y = [ch - h - margin, margin, (ch - h) // 2, (ch - h) // 2][side]
    else:
        x, y = int(rng.integers(0, max(1, cw - w))), int(rng.integers(0, max(1, ch - h)))
    x = int(min(max(x, 0), max(cw - w, 0)))
    y = int(min(max(y, 0), max(ch - h, 0)))
    return Placement(x, y, round(scale, 6))


def _timeline(
    rng: np.random.Generator, n: int, fps: int, switch: bool, overlay: bool
) -> tuple[list[Segment], bool]:
    """Per-frame game, phase and placement, as runs: (segments, whether the overlay moves)."""
    game = np.zeros(n, np.int16)
    phase = np.full(n, PLAY, np.uint8)
    place = np.zeros(n, np.int16) if overlay else np.full(n, -1, np.int16)

    def frames(lo_s: float, hi_s: float) -> int:
        return max(1, min(n, round(float(rng.uniform(lo_s, hi_s)) * fps)))

    def stretch(lo_s: float, hi_s: float) -> slice:
        length = frames(lo_s, hi_s)
        a = int(rng.integers(0, n - length + 1))
        return slice(a, a + length)

    if switch:
        t = int(n * rng.uniform(0.35, 0.65))
        game[t:] = 1
        if rng.random() < 0.35:  # a card between the two games
            phase[max(0, t - frames(0.5, 1.5)) : t + frames(1.0, 3.0)] = CARD
    for _ in range(int(rng.poisson(n / fps / 45))):
        phase[stretch(2.0, 7.0)] = AFK if rng.random() < 0.5 else MENU
    if rng.random() < 0.12:
        phase[stretch(2.0, 5.0)] = CARD
    moved = False
    if overlay:
        if rng.random() < 0.2:  # the streamer hides the overlay for a while
            place[stretch(2.0, 8.0)] = -1
        if rng.random() < 0.2:  # a scene cut moves it
            a = int(n * rng.uniform(0.2, 0.8))
            b = a + frames(5.0, 20.0) if rng.random() < 0.6 else n
            place[a:b] = 1
            moved = bool((place == 1).any())
        if rng.random() < 0.7:  # a card scene usually has no overlay source
            place[phase == CARD] = -1
    key = (game.astype(np.int64) * 256 + phase) * 65536 + place + 1  # one code per triple
    segments = [Segment(a, b, int(game[a]), int(phase[a]), int(place[a])) for a, b, _ in runs(key)]
    return segments, moved


def runs(values: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, value) of each run of equal values in a 1-d integer array."""
    cuts = np.flatnonzero(values[1:] != values[:-1]) + 1
    bounds = [0, *cuts.tolist(), len(values)]
    return [(a, b, int(values[a])) for a, b in itertools.pairwise(bounds)]


# -- drawing: the canvas, a pause menu, a card -------------------------------------------
class Compositor:
    """Lays game frames into the stream canvas and draws the overlay on top.

    The canvas is kept between frames: a frame rewrites only the game's rectangle and
    the box the overlay covered last time, so a frame costs little more than the resize.
    """

    def __init__(
        self,
        canvas: tuple[int, int],
        display: dict[str, Any] | None = None,
        background: dict[str, Any] | None = None,
        fps: int = 30,
    ) -> None:
        self.width, self.height = canvas
        self.display = {"aspect": "4:3", "zoom": 1.0, "align": "center", "filter": "nearest"}
        self.display.update(display or {})
        self.background = {"kind": "black", "colour": [0, 0, 0]}
        self.background.update(background or {})
        self.bg = np.zeros((self.height, self.width, 3), np.uint8)
        if self.background["kind"] == "solid":
            self.bg[:] = np.asarray(self.background["colour"], np.uint8)
        self.buf = self.bg.copy()
        self.blur_every = max(1, fps // 2)  # a blurred background follows the game twice a second
        self._age = 0
        self._full = True
        self._rect: tuple[int, int, int, int] | None = None
        self._dirty: list[tuple[int, int, int, int]] = []
        self._rects: dict[tuple[int, int], tuple[int, int, int, int]] = {}

    def rect(self, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """(x, y, w, h) of a game frame of this shape in the canvas: fitted, keeping the
        display aspect (pillarboxed or letterboxed)."""
        key = (int(shape[0]), int(shape[1]))
        if key not in self._rects:
            h, w = key
            aspect = {"4:3": 4 / 3, "native": w / h, "wide": 2.0}[self.display["aspect"]]
            zoom = float(self.display["zoom"])
            if aspect > self.width / self.height:
                gw = self.width * zoom
                gh = gw / aspect
            else:
                gh = self.height * zoom
                gw = gh * aspect
            gw, gh = max(1, round(gw)), max(1, round(gh))
            if self.display["align"] == "left":
                x = min(round(0.02 * self.width), self.width - gw)
            else:
                x = (self.width - gw) // 2
            self._rects[key] = (x, (self.height - gh) // 2, gw, gh)
        return self._rects[key]

    def _paste(self, dst: np.ndarray, img: np.ndarray) -> None:
        x, y, w, h = self.rect(img.shape)
        if img.shape[:2] == (h, w):
            dst[y : y + h, x : x + w] = img
            return
        interp = cv2.INTER_NEAREST if self.display["filter"] == "nearest" else cv2.INTER_LINEAR
        dst[y : y + h, x : x + w] = cv2.resize(img, (w, h), interpolation=interp)

    def _blurred(self, img: np.ndarray) -> np.ndarray:
        """A dim, blurred stretch of the game: the "stream background" many layouts use."""
        small = cv2.resize(img, (32, 18), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (5, 5), 0)
        big = cv2.resize(small, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        return (big >> 1).astype(np.uint8)

    def base(self, img: np.ndarray) -> np.ndarray:
        """A fresh canvas holding only the background and this game frame (no overlay)."""
        out = self.bg.copy()
        self._paste(out, img)
        return out

    def frame(
        self,
        img: np.ndarray | None,
        overlay: tuple[Any, State, int, int, float] | None = None,
        card: np.ndarray | None = None,
    ) -> np.ndarray:
        """The canvas for one video frame (valid until the next call): the game frame
        `img` (or a full-canvas `card`), then the overlay (renderer, state, x, y, opacity)."""
        if card is not None:
            self.buf[:] = card
            self._full = True
        else:
            assert img is not None
            if self.background["kind"] == "blur":
                if self._age == 0:
                    self.bg = self._blurred(img)
                    self._full = True
                self._age = (self._age + 1) % self.blur_every
            rect = self.rect(img.shape)
            if self._full or rect != self._rect:
                self.buf[:] = self.bg
                self._full = False
            else:
                for x, y, w, h in self._dirty:
                    self.buf[y : y + h, x : x + w] = self.bg[y : y + h, x : x + w]
            self._rect = rect
            self._paste(self.buf, img)
        self._dirty = []
        if overlay is not None:
            renderer, state, x, y, opacity = overlay
            renderer.draw(self.buf, state, x, y, opacity)
            self._dirty.append((x, y, renderer.width, renderer.height))
        return self.buf


class Menu:
    """A pause menu over the frozen game: start opens it, the d-pad moves through it,
    start closes it. Its inputs are scheduled up front, so truth and picture agree."""

    def __init__(self, frozen: np.ndarray, length: int, fps: int, rng: np.random.Generator):
        self.dim = (frozen.astype(np.uint16) * 90 >> 8).astype(np.uint8)
        self.items = int(rng.integers(3, 6))
        self.pressed: list[frozenset[str]] = [frozenset()] * length
        self.selected = np.zeros(length, np.int64)
        hold = max(1, round(0.1 * fps))
        for j in range(min(hold, length)):
            self.pressed[j] = frozenset({"start"})
        t, sel = hold + round(float(rng.uniform(0.3, 1.0)) * fps), 0
        while t + 2 * hold < length - hold:
            button = "dpad_down" if rng.random() < 0.6 else "dpad_up"
            sel = (sel + (1 if button == "dpad_down" else -1)) % self.items
            for j in range(t, t + hold):
                self.pressed[j] = frozenset({button})
            self.selected[t:] = sel
            t += hold + round(float(rng.uniform(0.3, 1.5)) * fps)
        if length > 2 * hold:
            for j in range(length - hold, length):
                self.pressed[j] = frozenset({"start"})
        self._images: dict[int, np.ndarray] = {}

    def state(self, j: int) -> State:
        return State(pressed=self.pressed[j])

    def image(self, j: int) -> np.ndarray:
        sel = int(self.selected[j])
        if sel not in self._images:
            img = self.dim.copy()
            h, w = img.shape[:2]
            x0, x1 = w // 5, w - w // 5
            y0, y1 = h // 4, h - h // 4
            img[y0:y1, x0:x1] = (24, 24, 32)
            step = (y1 - y0) / (self.items + 1)
            for i in range(self.items):
                cy = round(y0 + step * (i + 1))
                colour = (240, 200, 40) if i == sel else (150, 150, 160)
                bh = max(1, round(step * 0.25))
                img[cy - bh : cy + bh, x0 + (x1 - x0) // 6 : x1 - (x1 - x0) // 6] = colour
            self._images[sel] = img
        return self._images[sel]


def card_image(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A full-screen scene card ("be right back"): a gradient, a few panels, a caption."""
    c0, c1 = rng.integers(0, 140, 3), rng.integers(0, 140, 3)
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = np.ascontiguousarray(
        np.broadcast_to((c0 * (1 - t) + c1 * t).astype(np.uint8), (height, width, 3))
    )
    for _ in range(int(rng.integers(2, 6))):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = (
            int(rng.integers(width // 10, width // 3)),
            int(rng.integers(height // 20, height // 4)),
        )
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.rectangle(img, (x, y), (x + w, y + h), colour, -1)
    text = str(rng.choice(CARD_TEXTS))
    scale = width / 640
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, 2)
    org = ((width - tw) // 2, (height + th) // 2)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_DUPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)
    return img


# -- playing -----------------------------------------------------------------------------
class GameRun:
    """One game of a video: its env, its player and the frame on screen now."""

    def __init__(
        self, game: str, fps: int, kind: str, human: dict[str, float], rng: np.random.Generator
    ) -> None:
        from nitrogen_cli.envs import make_env
        from nitrogen_cli.envs.players import HumanParams, make_player

        known = {f.name for f in fields(HumanParams)}
        self.game, self.rng = game, rng
        self.env = make_env(game, fps=fps, disable_env_checker=True)
        self.player = make_player(
            game,
            seed=int(rng.integers(2**31)),
            kind=kind,
            **{k: v for k, v in human.items() if k in known},
        )
        self.episodes = 0
        self.reset()

    def reset(self) -> None:
        self.obs, self.info = self.env.reset(seed=int(self.rng.integers(2**31)))
        self.player.reset(self.obs, self.info)
        self.episodes += 1

    def act(self) -> State:
        return self.player.act(self.obs, self.info, self.env)

    def step(self, state: State) -> bool:
        """Play one frame; True when the episode ended (and a new one has begun)."""
        self.obs, _, terminated, truncated, self.info = self.env.step(state)
        if terminated or truncated:
            self.reset()
            return True
        return False

    def close(self) -> None:
        self.env.close()


@dataclass
class Record:
    """What was drawn on each frame of a video, and what happened along the way."""

    n: int
    buttons: np.ndarray = field(init=False)
    j_left: np.ndarray = field(init=False)
    j_right: np.ndarray = field(init=False)
    triggers: np.ndarray = field(init=False)
    bbox: np.ndarray = field(init=False)
    visible: np.ndarray = field(init=False)
    placement: np.ndarray = field(init=False)
    game_index: np.ndarray = field(init=False)
    phase: np.ndarray = field(init=False)
    resets: list[dict[str, Any]] = field(default_factory=list)
    players: dict[str, str] = field(default_factory=dict)
    rects: dict[str, list[int]] = field(default_factory=dict)
    boxes: list[list[int]] = field(default_factory=list)  # per placement [x, y, w, h]
    scales: list[tuple[float, float]] = field(default_factory=list)  # per placement sx, sy

    def __post_init__(self) -> None:
        n = self.n
        self.buttons = np.zeros((n, N_BUTTONS), bool)
        self.j_left = np.zeros((n, 2), np.float32)
        self.j_right = np.zeros((n, 2), np.float32)
        self.triggers = np.zeros((n, 2), np.float32)
        self.bbox = np.zeros((n, 4), np.float32)
        self.visible = np.zeros(n, bool)
        self.placement = np.full(n, -1, np.int16)
        self.game_index = np.zeros(n, np.int16)
        self.phase = np.zeros(n, np.uint8)

    def put(self, i: int, state: State) -> None:
        row = state.to_actions()
        self.buttons[i] = row.buttons[0]
        self.j_left[i] = row.j_left[0]
        self.j_right[i] = row.j_right[0]
        self.triggers[i] = state.triggers


FrameHook = Callable[[int, np.ndarray, np.ndarray], None]


def render(
    spec: VideoSpec,
    mp4: str | Path,
    threads: int = 0,
    stats: dict[str, float] | None = None,
    on_frame: FrameHook | None = None,
) -> Record:
    """Play, composite and encode one video into `mp4`; return what each frame shows.

    `stats`, when given, receives seconds spent per stage (play, draw, convert, encode).
    `on_frame(i, canvas, base)`, for tests, sees each canvas before encoding and the same
    canvas drawn without the overlay.
    """
    rng = np.random.default_rng([spec.seed, spec.k, 1])
    template = _template(spec.template, spec.template_dirs, spec.builtin) if spec.template else None
    renderers = [template.renderer(p.scale) for p in spec.placements] if template else []
    comp = Compositor(spec.canvas, spec.display, spec.background, spec.fps)
    rec = Record(spec.frames)
    for r, p in zip(renderers, spec.placements, strict=True):
        rec.boxes.append([p.x, p.y, r.width, r.height])
        rec.scales.append((r.sx, r.sy))
    runs: dict[int, GameRun] = {}
    clock = {"play": 0.0, "draw": 0.0, "convert": 0.0, "encode": 0.0}
    tick = time.perf_counter
    W, H = spec.canvas
    writer = VideoWriter(
        mp4, W, H, spec.fps, crf=spec.crf, preset=PRESET, threads=threads, gop=KEYFRAME_S * spec.fps
    )
    try:
        for seg in spec.segments:
            t0 = tick()
            run = runs.get(seg.game)
            if run is None:
                run = runs[seg.game] = GameRun(
                    spec.games[seg.game], spec.fps, spec.player, spec.human, rng
                )
                rec.players[run.game] = run.player.name
            menu = Menu(run.obs, seg.end - seg.start, spec.fps, rng) if seg.phase == MENU else None
            card = card_image(W, H, rng) if seg.phase == CARD else None
            r = renderers[seg.placement] if seg.placement >= 0 and renderers else None
            p = spec.placements[seg.placement] if r is not None else None
            clock["play"] += tick() - t0
            for i in range(seg.start, seg.end):
                t0 = tick()
                img: np.ndarray | None = run.obs
                if seg.phase == PLAY:
                    state = run.act()
                elif seg.phase == MENU:
                    assert menu is not None
                    state, img = menu.state(i - seg.start), menu.image(i - seg.start)
                else:
                    state = IDLE
                t1 = tick()
                overlay = None if p is None else (r, state, p.x, p.y, spec.opacity)
                canvas = comp.frame(img, overlay, card)
                t2 = tick()
                if on_frame is not None:
                    on_frame(i, canvas, card if card is not None else comp.base(img))
                yuv = cv2.cvtColor(canvas, cv2.COLOR_RGB2YUV_I420)
                t3 = tick()
                writer.write_yuv420p(yuv)
                t4 = tick()
                rec.put(i, state)
                rec.game_index[i] = seg.game
                rec.phase[i] = seg.phase
                if p is not None:
                    rec.visible[i] = True
                    rec.placement[i] = seg.placement
                    rec.bbox[i] = rec.boxes[seg.placement]
                if seg.phase in (PLAY, AFK) and run.step(state):
                    rec.resets.append({"frame": i + 1, "kind": "reset", "game": run.game})
                t5 = tick()
                clock["play"] += (t1 - t0) + (t5 - t4)
                clock["draw"] += t2 - t1
                clock["convert"] += t3 - t2
                clock["encode"] += t4 - t3
        t0 = tick()
        writer.close()
        clock["encode"] += tick() - t0
    except BaseException:
        writer.container.close()
        raise
    finally:
        for run in runs.values():
            run.close()
    for game, run in zip(spec.games, [runs.get(i) for i in range(len(spec.games))], strict=True):
        if run is not None:
            rec.rects[game] = list(comp.rect(run.obs.shape))
    if stats is not None:
        for key, value in clock.items():
            stats[key] = stats.get(key, 0.0) + value
    return rec


def events(spec: VideoSpec, rec: Record) -> list[dict[str, Any]]:
    """What happens in a video, in frame order: idle stretches, cards, overlay cuts, game
    switches and episode resets ([frame, end) for stretches)."""
    out: list[dict[str, Any]] = []
    for a, b, ph in runs(rec.phase):
        if ph != PLAY:
            out.append({"frame": a, "end": b, "kind": PHASES[ph]})
    if spec.template is not None:
        for a, b, pl in runs(rec.placement):
            if pl < 0:
                out.append({"frame": a, "end": b, "kind": "overlay_hidden"})
            elif pl > 0:
                out.append({"frame": a, "end": b, "kind": "overlay_moved", "bbox": rec.boxes[pl]})
    for a, _, g in runs(rec.game_index)[1:]:
        out.append({"frame": a, "kind": "switch", "game": spec.games[g]})
    out.extend(rec.resets)
    return sorted(out, key=lambda e: (e["frame"], e["kind"]))


def write_truth(
    spec: VideoSpec, rec: Record, mp4: str | Path, truth: str | Path, command: str | None = None
) -> Path:
    """The truth file of one video; the mp4 must be whole (its hash is recorded)."""
    mp4, truth = Path(mp4), Path(truth)
    W, H = spec.canvas
    template = _template(spec.template, spec.template_dirs, spec.builtin) if spec.template else None
    info: dict[str, Any] = {
        "found": template is not None,
        "video": str(mp4.resolve()),
        "fps": float(spec.fps),
        "frame_count": spec.frames,
        "width": W,
        "height": H,
    }
    main = 0
    if template is not None:
        shown = rec.placement[rec.placement >= 0]
        if len(shown):
            main = Counter(shown.tolist()).most_common(1)[0][0]
        x, y, w, h = rec.boxes[main]
        sx, sy = rec.scales[main]
        info.update(
            template=template.id,
            layout=template.layout,
            bbox=[x, y, w, h],
            transform=[[sx, 0.0, float(x)], [0.0, sy, float(y)]],
            shows=list(template.shows),
            scale=spec.placements[main].scale,
            opacity=spec.opacity,
            layout_json=template.layout_json,
        )
    with formats.create(truth, "truth", inputs=[mp4], command=command) as f:
        formats.write_actions(f, Actions(rec.buttons, rec.j_left, rec.j_right))
        formats.write_triggers(f, rec.triggers)
        formats.write_overlay(
            f,
            info,
            atlas_png=template.atlas_png if template is not None else None,
            per_frame={"bbox_per_frame": rec.bbox, "visible": rec.visible},
        )
        formats.write_meta(
            f,
            fps=float(spec.fps),
            game=spec.games[0],
            games=list(spec.games),
            id=spec.id,
            seed=spec.seed,
            k=spec.k,
            crf=spec.crf,
            canvas=[W, H],
            codec="libx264",
            preset=PRESET,
            pix_fmt="yuv420p",
            keyframe_interval=KEYFRAME_S * spec.fps,
            template=spec.template or "",
            scale=spec.placements[main].scale if template is not None else 0.0,
            opacity=spec.opacity,
            placements=rec.boxes,
            player=spec.player,
            players=rec.players,
            human=spec.human,
            display=spec.display,
            background=spec.background,
            game_rects=rec.rects,
            events=events(spec, rec),
            corpus_version=CORPUS_VERSION,
            spec=spec.to_json(),
        )
        formats.write_meta_array(f, "game_index", rec.game_index, labels=spec.games)
        formats.write_meta_array(f, "phase", rec.phase, labels=PHASES)
    return truth


def paths(spec: VideoSpec, out_dir: str | Path) -> tuple[Path, Path]:
    out = Path(out_dir)
    return out / f"{spec.id}.mp4", out / f"{spec.id}.truth.h5"


def make_video(
    spec: VideoSpec,
    out_dir: str | Path,
    command: str | None = None,
    threads: int = 0,
    stats: dict[str, float] | None = None,
    on_frame: FrameHook | None = None,
) -> tuple[Path, Path]:
    """Render one video and write `<id>.mp4` and `<id>.truth.h5` into `out_dir`.

    Both appear only when whole: the mp4 is encoded under a temporary name, and the truth
    (written after it, so that it records the mp4's hash) is written atomically.
    """
    mp4, truth = paths(spec, out_dir)
    mp4.parent.mkdir(parents=True, exist_ok=True)
    tmp = mp4.with_name(f".{spec.id}.{os.getpid()}.part.mp4")
    try:
        rec = render(spec, tmp, threads, stats, on_frame)
        os.replace(tmp, mp4)
    finally:
        tmp.unlink(missing_ok=True)
    write_truth(spec, rec, mp4, truth, command)
    return mp4, truth


def is_done(spec: VideoSpec, out_dir: str | Path) -> bool:
    """Whether `out_dir` already holds this very video, whole (a rerun skips it)."""
    mp4, truth = paths(spec, out_dir)
    if not mp4.is_file() or not formats.is_complete(truth, "truth"):
        return False
    with formats.open_file(truth, "truth") as f:
        meta = formats.read_meta(f)
        if meta.get("corpus_version") != CORPUS_VERSION:
            return False
        if meta.get("spec") != json.loads(spec.to_json()):
            return False
        sizes = [r.get("size") for r in formats.provenance(f)["inputs"]]
    return mp4.stat().st_size in sizes


# -- the corpus --------------------------------------------------------------------------
def _worker_init() -> None:
    cv2.setNumThreads(1)  # one video a core: no thread pools fighting over it


def _job(spec: VideoSpec, out: str, command: str | None, threads: int) -> tuple[str, float]:
    t0 = time.perf_counter()
    mp4, _ = make_video(spec, out, command=command, threads=threads)
    return str(mp4), time.perf_counter() - t0


def make_corpus(
    games: Iterable[str] | str | None,
    minutes: float,
    out: str | Path,
    seed: int = 0,
    templates: Sequence[str | Path] = (),
    jobs: int = 1,
    *,
    builtin: bool = True,
    canvas: tuple[int, int] | None = None,
    fps: int | None = None,
    video_seconds: tuple[float, float] | None = None,
    force: bool = False,
    command: str | None = None,
    on_done: Callable[[VideoSpec, Path, float | None], None] | None = None,
    on_error: Callable[[VideoSpec, BaseException], None] | None = None,
) -> list[Path]:
    """Plan and render a corpus into `out`; returns the mp4 paths in plan order.

    Videos render in `jobs` processes (each x264 single-threaded then); a video already
    in `out` from the same plan is kept, so a killed run resumes. `on_done(spec, mp4,
    seconds)` is called as each video is ready (seconds None: it was there already).
    A failed video is passed to `on_error` and the others go on; without `on_error`, a
    CorpusError is raised at the end.
    """
    specs = plan_corpus(games, minutes, seed, templates, builtin, canvas, fps, video_seconds)
    out = Path(out)
    command = command if command is not None else formats.command_line()
    todo: list[VideoSpec] = []
    for spec in specs:
        if not force and is_done(spec, out):
            if on_done:
                on_done(spec, paths(spec, out)[0], None)
        else:
            todo.append(spec)
    failed: list[tuple[VideoSpec, BaseException]] = []

    def fail(spec: VideoSpec, exc: BaseException) -> None:
        failed.append((spec, exc))
        if on_error:
            on_error(spec, exc)

    # Longest first, so the last video to finish is a short one.
    todo.sort(key=lambda s: s.frames * s.canvas[0] * s.canvas[1], reverse=True)
    if jobs <= 1 or len(todo) <= 1:
        for spec in todo:
            try:
                mp4, seconds = _job(spec, str(out), command, 0)
            except Exception as exc:
                fail(spec, exc)
                continue
            if on_done:
                on_done(spec, Path(mp4), seconds)
    else:
        ctx = multiprocessing.get_context("spawn")  # envs and codecs do not survive a fork
        workers = min(jobs, len(todo))
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as pool:
            futures = {pool.submit(_job, s, str(out), command, 1): s for s in todo}
            for fut in as_completed(futures):
                spec = futures[fut]
                try:
                    mp4, seconds = fut.result()
                except Exception as exc:
                    fail(spec, exc)
                    continue
                if on_done:
                    on_done(spec, Path(mp4), seconds)
    if failed and on_error is None:
        spec, exc = failed[0]
        raise CorpusError(f"{len(failed)} of {len(specs)} videos failed; {spec.id}: {exc}")
    return [paths(s, out)[0] for s in specs]
