"""Scripted Doom players. Being privileged, they read the map positions of the player and
of every object from ViZDoom, then aim and walk with analogue sticks like a pad player.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nitrogen_cli.envs.doom import TICRATE
from nitrogen_cli.envs.players.base import HumanlikePlayer
from nitrogen_cli.envs.players.human import Intent

MONSTERS = frozenset(
    {
        "Cacodemon",
        "Demon",
        "DoomImp",
        "Zombieman",
        "ShotgunGuy",
        "ChaingunGuy",
        "MarineChainsawVzd",
        "HellKnight",
        "BaronOfHell",
        "LostSoul",
    }
)


def wrap(angle: float) -> float:
    """An angle in degrees folded into (-180, 180]."""
    return (angle + 180.0) % 360.0 - 180.0


def bearing(me: tuple[float, float], there: tuple[float, float]) -> float:
    """Doom's angle (degrees, 0 east, counter-clockwise) from `me` towards `there`."""
    return math.degrees(math.atan2(there[1] - me[1], there[0] - me[0]))


class DoomPlayer(HumanlikePlayer):
    """Shared reading of the game and the aiming hand; scenarios decide what to do."""

    AIM_GAIN = 0.6  # fraction of the aim error the right stick corrects per step

    def snapshot(self, obs: np.ndarray, info: dict[str, Any], game: Any) -> Any:
        me = (info.get("position_x", 0.0), info.get("position_y", 0.0))
        things = [
            (o.name, float(o.position_x), float(o.position_y), int(o.id))
            for o in game.objects()
            if o.name != "DoomPlayer"
        ]
        return {
            "me": me,
            "angle": info.get("angle", 0.0),
            "things": things,
            "tic": info.get("tic", 0),
        }

    def me(self, info: dict[str, Any]) -> tuple[tuple[float, float], float]:
        """Where the player is and faces now: the hand knows its own body without delay."""
        return (info.get("position_x", 0.0), info.get("position_y", 0.0)), info.get("angle", 0.0)

    def turn_to(self, error: float, turn_speed: float) -> float:
        """Right stick x that turns through `error` degrees (+ is counter-clockwise)."""
        per_step = turn_speed * TICRATE / self.fps
        return float(np.clip(-self.AIM_GAIN * error / per_step, -1.0, 1.0))


class ShooterPlayer(DoomPlayer):
    """Turn to the nearest monster and fire once it sits inside the crosshair.

    Plays basic, defend_the_center and defend_the_line: stand your ground, aim with the
    right stick, squeeze the trigger only when the shot will land (ammo is scarce).
    """

    name = "doom-shooter"
    HALF_WIDTH = 18.0  # map units either side of a monster's centre that a shot still hits

    def start(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        self._target: int | None = None

    def intent(self, seen: Any, info: dict[str, Any], game: Any) -> Intent:
        me, angle = self.me(info)
        monsters = [t for t in seen["things"] if t[0] in MONSTERS]
        if not monsters:
            return Intent(digital=False)
        # Stay on the last target while it lives; otherwise take the nearest.
        chosen = [t for t in monsters if t[3] == self._target]
        if not chosen:
            chosen = [min(monsters, key=lambda t: math.hypot(t[1] - me[0], t[2] - me[1]))]
        _, x, y, ident = chosen[0]
        self._target = ident
        dist = max(1.0, math.hypot(x - me[0], y - me[1]))
        error = wrap(bearing(me, (x, y)) - angle)
        aimed = abs(error) < math.degrees(math.atan2(self.HALF_WIDTH, dist))
        look = (self.turn_to(error, game.turn_speed), 0.0)
        return Intent(look=look, triggers=(0.0, 1.0 if aimed else 0.0), digital=False)


class GathererPlayer(DoomPlayer):
    """Walk to the medkit that is cheapest to reach, turning towards it as you go."""

    name = "doom-gatherer"

    def intent(self, seen: Any, info: dict[str, Any], game: Any) -> Intent:
        me, angle = self.me(info)
        kits = [t for t in seen["things"] if t[0] in ("Medikit", "Stimpack")]
        if not kits:
            return Intent(move=(0.0, -1.0), digital=False)

        def cost(t: tuple) -> float:
            turn = abs(wrap(bearing(me, (t[1], t[2])) - angle))
            return math.hypot(t[1] - me[0], t[2] - me[1]) + 4.0 * turn

        kit = min(kits, key=cost)
        error = wrap(bearing(me, (kit[1], kit[2])) - angle)
        # Ease off the stick while turning hard, as a person would.
        forward = 1.0 if abs(error) < 30 else 0.5
        return Intent(
            move=(0.0, -forward), look=(self.turn_to(error, game.turn_speed), 0.0), digital=False
        )


class DodgerPlayer(DoomPlayer):
    """Keep strafing along the wall and turn back only when it is safer (take_cover).

    The imps aim at where the player stands when they throw, so a moving target is
    rarely hit; the danger is at the ends of the run and from balls thrown ahead of it.
    """

    name = "doom-dodger"
    VMAX = 13.0  # map units a tic a running strafe reaches (thrust 1.25, friction 0.906)
    FRICTION = 0.90625
    SAFE = 40.0  # clearance between a fireball's path and the player's centre
    MARGIN = 48.0  # how near the end of the wall to turn back

    def start(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        self._dir = 1.0 if self.rng.random() < 0.5 else -1.0

    def snapshot(self, obs: np.ndarray, info: dict[str, Any], game: Any) -> Any:
        seen = super().snapshot(obs, info, game)
        seen["balls"] = [
            (float(o.position_x), float(o.position_y), float(o.velocity_x), float(o.velocity_y))
            for o in game.objects()
            if o.name.endswith("Ball")
        ]
        return seen

    def _travel(self, t: float) -> float:
        """Distance covered in t tics strafing from rest."""
        f = self.FRICTION
        return self.VMAX * (t - (1 - f**t) / (1 - f))

    def _danger(self, seen: Any, me: tuple[float, float], d: float) -> float:
        """How close the nearest fireball passes if the player strafes towards +y (d=1)."""
        worst = 0.0
        for bx, by, vx, vy in seen["balls"]:
            if vx >= -0.1:
                continue
            t = (me[0] - bx) / vx  # tics until it reaches the player's column
            if not 0 <= t <= 80:
                continue
            miss = abs(by + vy * t - (me[1] + d * self._travel(t)))
            worst = max(worst, (self.SAFE - miss) / (1.0 + 0.05 * t))
        return worst

    def intent(self, seen: Any, info: dict[str, Any], game: Any) -> Intent:
        me, angle = self.me(info)
        imps = [t[2] for t in seen["things"] if t[0] in MONSTERS]
        lo, hi = (min(imps), max(imps)) if imps else (me[1] - 250, me[1] + 250)
        if me[1] > hi - self.MARGIN:
            self._dir = -1.0
        elif me[1] < lo + self.MARGIN:
            self._dir = 1.0
        elif self._danger(seen, me, self._dir) > self._danger(seen, me, -self._dir) + 5:
            self._dir = -self._dir
        # Strafing right (+x on the stick) moves towards -y while facing east.
        return Intent(
            move=(-self._dir, 0.0),
            look=(self.turn_to(wrap(0.0 - angle), game.turn_speed), 0.0),
            digital=False,
        )
