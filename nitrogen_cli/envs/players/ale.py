"""Scripted Atari players. They read the console's RAM (facts about where each game keeps
its objects come from the OCAtari project's RAM tables) and play like a fair human would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nitrogen_cli.envs.players.base import HumanlikePlayer
from nitrogen_cli.envs.players.human import Intent

FIRE = frozenset({"south"})


def _toward(delta: float, slack: float) -> float:
    """-1, 0 or 1: which way to push to close `delta`, doing nothing within `slack`."""
    if delta > slack:
        return 1.0
    if delta < -slack:
        return -1.0
    return 0.0


def _bounce(x: float, lo: float, hi: float) -> float:
    """Where a ball travelling freely to `x` ends up between walls at lo and hi."""
    span = hi - lo
    if span <= 0:
        return lo
    t = (x - lo) % (2 * span)
    return lo + (t if t <= span else 2 * span - t)


class BreakoutPlayer(HumanlikePlayer):
    """Launch the ball, then put the paddle where the ball will come down."""

    name = "breakout"
    PADDLE_Y = 189  # screen row of the paddle

    def start(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        self._prev: tuple[float, float] | None = None

    def intent(self, seen: np.ndarray, info: dict[str, Any], game: Any) -> Intent:
        paddle = float(game.ram()[72]) - 47 + 8  # where the paddle is now
        if seen[101] == 0 or seen[101] + 9 > 196:  # no ball in play: serve it
            self._prev = None
            return Intent(move=(_toward(80 - paddle, 6), 0.0), buttons=FIRE)
        ball = (float(seen[99]) - 49, float(seen[101]) + 9)
        target = ball[0]
        if self._prev is not None:
            vx, vy = ball[0] - self._prev[0], ball[1] - self._prev[1]
            if vy > 0:  # falling: aim at the landing point, walls included
                target = _bounce(ball[0] + vx * (self.PADDLE_Y - ball[1]) / vy, 8, 151)
        self._prev = ball
        return Intent(move=(_toward(target - paddle, 5), 0.0))


class PongPlayer(HumanlikePlayer):
    """Meet the ball where it will cross the paddle's column; drift back to the middle."""

    name = "pong"
    PADDLE_X = 140
    TOP, BOTTOM = 34, 194

    def start(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        self._prev: tuple[float, float] | None = None
        self._offset = 0.0

    def intent(self, seen: np.ndarray, info: dict[str, Any], game: Any) -> Intent:
        paddle = float(game.ram()[51]) - 6
        target = (self.TOP + self.BOTTOM) / 2
        if seen[54] != 0:
            ball = (float(seen[49]) - 49, float(seen[54]) - 14)
            if self._prev is not None:
                vx, vy = ball[0] - self._prev[0], ball[1] - self._prev[1]
                if vx > 0 and ball[0] < self.PADDLE_X + 2:  # coming our way
                    frames = (self.PADDLE_X - ball[0]) / vx
                    target = _bounce(ball[1] + vy * frames, self.TOP, self.BOTTOM)
                    target += self._offset  # hit off-centre now and then, to angle it
                elif vx < 0:
                    self._offset = float(self.rng.uniform(-5, 5))
            self._prev = ball
        else:
            self._prev = None
        return Intent(move=(0.0, _toward(target - paddle, 4)))


class BoxingPlayer(HumanlikePlayer):
    """Square up level with the opponent at punching range and jab when lined up.

    (Tried: leading with one arm, offset by its height, draws more counter-punches.)
    """

    name = "boxing"
    RANGE = 28  # horizontal distance (RAM units) to hold from the opponent

    def start(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        self._jab = 0

    def intent(self, seen: np.ndarray, info: dict[str, Any], game: Any) -> Intent:
        ram = game.ram()
        me_x, me_y = float(ram[32]), float(ram[34])
        foe_x, foe_y = float(seen[33]), float(seen[35])
        side = 1.0 if foe_x >= me_x else -1.0
        dx = (foe_x - side * self.RANGE) - me_x
        dy = foe_y - me_y
        move = (_toward(dx, 3), _toward(dy, 3))
        self._jab = (self._jab + 1) % self.seconds(0.2)
        lined_up = abs(dy) < 12 and abs(foe_x - me_x) < self.RANGE + 8
        buttons = FIRE if lined_up and self._jab < self.seconds(0.1) else frozenset()
        return Intent(move=move, buttons=buttons)


class FreewayPlayer(HumanlikePlayer):
    """Walk up, but wait at the kerb of a lane when a car is about to sweep through it."""

    name = "freeway"
    CHICKEN_X = 44  # screen column of the left chicken
    LANE_TOP = 27  # screen row of the top lane's cars; lanes are 16 rows apart
    LOOKAHEAD_S = 0.35  # how far ahead in time a car counts as coming

    def start(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        self._prev: np.ndarray | None = None

    def intent(self, seen: np.ndarray, info: dict[str, Any], game: Any) -> Intent:
        chicken_y = 193 - float(game.ram()[14])  # screen row of the chicken's top
        cars = np.array([float(seen[117 - i]) - 2 for i in range(10)])  # lane 0 is the top
        speed = np.zeros(10) if self._prev is None else cars - self._prev
        speed[np.abs(speed) > 20] = 0  # a car wrapping round the screen edge
        self._prev = cars
        lane = int((chicken_y - 8 - self.LANE_TOP) // 16)  # the lane just above the chicken
        if 0 <= lane < 10 and self._danger(cars[lane], speed[lane]):
            return Intent(move=(0.0, 0.0))
        return Intent(move=(0.0, -1.0))

    def _danger(self, x: float, v: float) -> bool:
        ahead = self.seconds(self.LOOKAHEAD_S)
        lo, hi = self.CHICKEN_X - 8, self.CHICKEN_X + 8
        return any(lo <= x + v * t <= hi for t in range(ahead + 1))


def _colour_codes(frame: np.ndarray) -> np.ndarray:
    """Each pixel's RGB packed into one int, so colour tests are one comparison."""
    f = frame.astype(np.int32)
    return (f[..., 0] << 16) | (f[..., 1] << 8) | f[..., 2]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=True))


class SpaceInvadersPlayer(HumanlikePlayer):
    """Get under the nearest column of invaders, leading their march, and shoot.

    It reads pixels: invaders are whatever is drawn in the play field that is neither a
    shield nor a shot, so it keeps working when their colour changes between waves.
    """

    name = "space_invaders"
    FIELD = (30, 156)  # screen rows where invaders fly
    SHIELD = 181 << 16 | 83 << 8 | 40
    SHOT = 142 << 16 | 142 << 8 | 142  # both sides' shots

    def start(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        self._shot = 0
        self._prev_left: float | None = None
        self._drift = 0.0

    def snapshot(self, obs: np.ndarray, info: dict[str, Any], game: Any) -> Any:
        # Bombs are multiplexed over alternate frames: read them from every frame's RAM.
        bombs = []
        for ram in game.frame_rams:
            for i in (0, 1):
                x, y = float(ram[83 + i]) - 2, 2 * float(ram[81 + i]) + 4
                if 100 <= y <= 192:
                    bombs.append(x)
        return obs[self.FIELD[0] : self.FIELD[1]], bombs

    def intent(self, seen: Any, info: dict[str, Any], game: Any) -> Intent:
        frame, bombs = seen
        cannon = float(game.ram()[28]) + 2
        if any(abs(x - cannon) < 10 for x in bombs):  # step to where the bombs are farthest
            room = {
                d: min(abs(x - np.clip(cannon + 10 * d, 25, 135)) for x in bombs)
                for d in (-1, 0, 1)
            }
            return Intent(move=(float(max(room, key=room.__getitem__)), 0.0))
        codes = _colour_codes(frame)
        invaders = (codes != 0) & (codes != self.SHIELD) & (codes != self.SHOT)
        runs = _runs(invaders.any(axis=0))
        if not runs:
            return Intent()
        left = float(runs[0][0])
        if self._prev_left is not None and abs(left - self._prev_left) <= 2:
            self._drift = 0.9 * self._drift + 0.1 * (left - self._prev_left)
        self._prev_left = left
        centres = np.array([(a + b - 1) / 2 for a, b in runs])
        # A shot takes about a second to climb; aim where the column will be by then.
        aim = centres + self._drift * self.seconds(0.6)
        target = float(aim[np.argmin(np.abs(aim - cannon))])
        delta = target - cannon
        self._shot = (self._shot + 1) % self.seconds(0.2)
        fire = abs(delta) < 4 and self._shot < self.seconds(0.1)
        return Intent(move=(_toward(delta, 1.5), 0.0), buttons=FIRE if fire else frozenset())


class SeaquestPlayer(HumanlikePlayer):
    """Hunt the lane with the nearest enemy, shoot facing it, surface with divers for air.

    Each lane's RAM holds the x of its leftmost slot and a 3-bit mask of which of three
    slots, 16 pixels apart, hold an enemy.
    """

    name = "seaquest"
    LANES = (100, 75, 50, 25)  # sub depth (RAM units) of lanes 1 (lowest) to 4
    SURFACE = 13
    LOW_AIR = 20  # of 64
    CLOSE = 30  # an enemy this near in the same lane is a collision coming

    def start(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        self._shot = 0
        self._surfacing = False
        self._lane: int | None = None

    def _enemies(self, seen: np.ndarray, lane: int) -> list[float]:
        mask, left = int(seen[36 + lane]) % 8, float(seen[30 + lane])
        slots = [left + 16 * k + 4 for k, bit in enumerate((4, 2, 1)) if mask & bit]
        return [x for x in slots if 0 <= x < 160]

    def intent(self, seen: np.ndarray, info: dict[str, Any], game: Any) -> Intent:
        ram = game.ram()
        x, y, air, divers = float(ram[70]) + 4, float(ram[97]), int(ram[102]), int(ram[62])
        if air < self.LOW_AIR and divers > 0 and y > self.SURFACE:
            self._surfacing = True
        if self._surfacing:
            if y <= self.SURFACE and air >= 63:
                self._surfacing = False
            return Intent(move=(0.0, -1.0))
        enemies = [self._enemies(seen, lane) for lane in range(4)]
        here = min(range(4), key=lambda k: abs(self.LANES[k] - y))
        danger = [any(abs(e - x) < self.CLOSE for e in enemies[k]) for k in range(4)]
        # Pick the lane to fight in: the nearest one with a target and no enemy on top of us.
        options = [k for k in range(4) if enemies[k] and not danger[k]]
        if options:
            lane = min(options, key=lambda k: abs(self.LANES[k] - y) + 0.3 * _gap(enemies[k], x))
        else:
            safe = [k for k in range(4) if not danger[k]] or [here]
            lane = min(safe, key=lambda k: abs(self.LANES[k] - y))
        depth = self.LANES[lane]
        dx = 0.0
        if enemies[lane]:
            target = min(enemies[lane], key=lambda e: abs(e - x))
            gap = target - x
            facing_left = ram[86] != 0
            if abs(gap) > 70:
                dx = _toward(gap, 0)  # close in
            elif facing_left != (gap < 0):
                dx = _toward(gap, 0)  # a tap to turn towards it
        else:
            dx = _toward(80 - x, 10)
        if danger[here] and abs(depth - y) < 8:  # cornered in a lane: leave it vertically
            depth = self.LANES[here - 1] if here > 0 else self.LANES[1]
        self._shot = (self._shot + 1) % self.seconds(0.2)
        fire = self._shot < self.seconds(0.1)
        return Intent(move=(dx, _toward(depth - y, 3)), buttons=FIRE if fire else frozenset())


def _gap(xs: list[float], x: float) -> float:
    return min(abs(e - x) for e in xs)
