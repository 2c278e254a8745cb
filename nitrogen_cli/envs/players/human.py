"""What turns a scripted player's perfect intent into something a person's hands would do.

A controller says what it wants each frame (an Intent) from what it saw a reaction time
ago (the player keeps that delayed view; see base.HumanlikePlayer). The Humanizer holds
presses for a plausible minimum, makes the odd mistake, drifts off for idle moments and
pushes the sticks through a slew-limited, noisy, analogue path, all drawn from one seeded
numpy Generator so that a run can be reproduced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from nitrogen_cli.actions import BUTTONS, TRIGGERS, State

FACE = ("south", "east", "west", "north")


@dataclass(frozen=True)
class Intent:
    """What a controller wants this frame, before any human imperfection.

    `move` is the left stick's target; when `digital` it is a direction whose axes are
    in {-1, 0, 1}, which a person may play on the d-pad or the stick alike.
    """

    move: tuple[float, float] = (0.0, 0.0)
    look: tuple[float, float] = (0.0, 0.0)
    buttons: frozenset[str] = frozenset()
    triggers: tuple[float, float] = (0.0, 0.0)
    digital: bool = True


IDLE = Intent()


@dataclass
class HumanParams:
    """How human a player is. Times are in seconds, rates in events per second."""

    reaction_s: float = 0.15  # mean delay between seeing and doing
    reaction_sd_s: float = 0.03  # spread of that delay from one episode to the next
    min_hold_s: float = 0.06  # a press lasts at least this long ...
    min_release_s: float = 0.04  # ... and a released button stays up at least this long
    mistake_rate: float = 0.12  # mistakes a second: a wrong direction or a missed press
    mistake_s: tuple[float, float] = (0.08, 0.3)
    idle_rate: float = 0.02  # idle moments a second: hands off the pad
    idle_s: tuple[float, float] = (0.4, 1.5)
    stick_gain: tuple[float, float] = (0.7, 1.0)  # how far a digital push goes, per episode
    stick_noise: float = 0.04  # per-frame jitter of the stick axes
    stick_slew_s: float = 0.06  # time for the stick to travel from centre to rim
    dpad_prob: float = 0.3  # chance an episode plays digital directions on the d-pad
    trigger_depth: tuple[float, float] = (0.6, 1.0)  # how far a trigger is pulled
    trigger_slew_s: float = 0.05  # time to pull a trigger fully

    @classmethod
    def perfect(cls) -> HumanParams:
        """No delay, no mistakes, no idling, full clean pushes: the controller as written."""
        return cls(
            reaction_s=0.0,
            reaction_sd_s=0.0,
            min_hold_s=0.0,
            min_release_s=0.0,
            mistake_rate=0.0,
            idle_rate=0.0,
            stick_gain=(1.0, 1.0),
            stick_noise=0.0,
            stick_slew_s=0.0,
            dpad_prob=0.0,
            trigger_depth=(1.0, 1.0),
            trigger_slew_s=0.0,
        )

    @classmethod
    def from_overrides(cls, base: HumanParams | None = None, **overrides: object) -> HumanParams:
        params = base or cls()
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown human parameter(s): {', '.join(sorted(unknown))}")
        return cls(**{**{f.name: getattr(params, f.name) for f in fields(cls)}, **overrides})


@dataclass
class _Episode:
    """Per-episode draws: a person is a little different every time they pick up the pad."""

    delay: int
    gain: float
    dpad: bool
    depth: float


class Humanizer:
    """Turns one Intent a frame into the State a person's hands would produce."""

    def __init__(self, params: HumanParams, rng: np.random.Generator) -> None:
        self.p, self.rng = params, rng
        self.fps = 30
        self._ep: _Episode | None = None

    def reset(self, fps: int) -> None:
        p, rng = self.p, self.rng
        self.fps = fps
        delay_s = max(0.0, rng.normal(p.reaction_s, p.reaction_sd_s)) if p.reaction_s else 0.0
        self._ep = _Episode(
            delay=round(delay_s * fps),
            gain=float(rng.uniform(*p.stick_gain)),
            dpad=bool(rng.random() < p.dpad_prob),
            depth=float(rng.uniform(*p.trigger_depth)),
        )
        self._held: dict[str, int] = {}  # button -> frames it has been down
        self._up: dict[str, int] = {}  # button -> frames it has been up
        self._stick = [np.zeros(2), np.zeros(2)]
        self._trig = [0.0, 0.0]
        self._idle_left = 0
        self._mistake_left = 0
        self._mistake: tuple[str, object] | None = None

    @property
    def delay_frames(self) -> int:
        return self._ep.delay if self._ep else 0

    def _frames(self, seconds: float) -> int:
        return round(seconds * self.fps)

    def _chance(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate / self.fps

    def __call__(self, intent: Intent) -> State:
        if self._ep is None:
            self.reset(self.fps)
        rng, p = self.rng, self.p
        # Idle moments: the hands leave the pad (a drink, a glance at the chat).
        if self._idle_left == 0 and self._chance(p.idle_rate):
            self._idle_left = self._frames(rng.uniform(*p.idle_s))
        if self._idle_left > 0:
            self._idle_left -= 1
            intent = IDLE
        else:
            intent = self._err(intent)
        return self._hands(intent)

    def _err(self, intent: Intent) -> Intent:
        """Mistakes: for a moment push the wrong way, miss a press, or hit a stray button."""
        p, rng = self.p, self.rng
        if self._mistake_left == 0 and self._chance(p.mistake_rate):
            self._mistake_left = max(1, self._frames(rng.uniform(*p.mistake_s)))
            kind = rng.choice(["direction", "miss", "stray"])
            if kind == "direction":
                angle = rng.uniform(0, 2 * math.pi)
                self._mistake = ("direction", (math.cos(angle), math.sin(angle)))
            elif kind == "miss":
                self._mistake = ("miss", None)
            else:
                self._mistake = ("stray", str(rng.choice(FACE)))
        if self._mistake_left == 0 or self._mistake is None:
            return intent
        self._mistake_left -= 1
        kind, value = self._mistake
        if kind == "direction":
            x, y = value  # type: ignore[misc]
            move = (
                (float(np.sign(round(x))), float(np.sign(round(y)))) if intent.digital else (x, y)
            )
            return Intent(move, intent.look, intent.buttons, intent.triggers, intent.digital)
        if kind == "miss":
            return Intent(intent.move, intent.look, frozenset(), (0.0, 0.0), intent.digital)
        buttons = intent.buttons | {value}  # type: ignore[operator]
        return Intent(intent.move, intent.look, buttons, intent.triggers, intent.digital)

    def _hands(self, intent: Intent) -> State:
        """Press timing, stick travel and trigger pull: what the pad actually reads."""
        p, ep = self.p, self._ep
        assert ep is not None
        wanted = set(intent.buttons)
        move = np.asarray(intent.move, np.float64)
        if intent.digital and ep.dpad and move.any():
            if move[0]:
                wanted.add("dpad_right" if move[0] > 0 else "dpad_left")
            if move[1]:
                wanted.add("dpad_down" if move[1] > 0 else "dpad_up")
            move = np.zeros(2)
        elif intent.digital and move.any():
            move = move / np.linalg.norm(move) * ep.gain
        pressed = self._press(wanted)
        sticks = [self._slew(0, move), self._slew(1, np.asarray(intent.look, np.float64))]
        triggers = []
        for i, name in enumerate(TRIGGERS):
            target = min(intent.triggers[i], ep.depth) if intent.triggers[i] > 0 else 0.0
            if name in pressed:  # a trigger named as a button is pulled to this episode's depth
                target = max(target, ep.depth)
            step = 1.0 if p.trigger_slew_s <= 0 else 1.0 / max(1.0, p.trigger_slew_s * self.fps)
            self._trig[i] += float(np.clip(target - self._trig[i], -step, step))
            triggers.append(round(self._trig[i], 3))
        buttons = frozenset(b for b in pressed if b not in TRIGGERS)
        return State(buttons, sticks[0], sticks[1], (triggers[0], triggers[1]))

    def _press(self, wanted: set[str]) -> set[str]:
        hold, release = self._frames(self.p.min_hold_s), self._frames(self.p.min_release_s)
        pressed = set()
        for name in BUTTONS:
            down = self._held.get(name, 0)
            if down:  # held: let go only once it has been down long enough
                if name in wanted or down < hold:
                    self._held[name] = down + 1
                    pressed.add(name)
                else:
                    self._held[name] = 0
                    self._up[name] = 1
            elif name in wanted and self._up.get(name, release) >= release:
                self._held[name] = 1
                pressed.add(name)
            else:
                self._up[name] = self._up.get(name, release) + 1
        return pressed

    def _slew(self, i: int, target: np.ndarray) -> tuple[float, float]:
        p, rng = self.p, self.rng
        cur = self._stick[i]
        step = np.inf if p.stick_slew_s <= 0 else 1.0 / max(1.0, p.stick_slew_s * self.fps)
        delta = target - cur
        dist = float(np.linalg.norm(delta))
        if dist > step:
            delta = delta * (step / dist)
        cur = cur + delta
        self._stick[i] = cur
        out = cur.copy()
        if p.stick_noise > 0 and np.linalg.norm(target) > 0:  # a resting thumb keeps still
            out = out + rng.normal(0.0, p.stick_noise, 2)
        norm = float(np.linalg.norm(out))
        if norm > 1.0:
            out = out / norm
        return (round(float(out[0]), 4), round(float(out[1]), 4))
