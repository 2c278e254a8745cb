"""The player interface the corpus tool drives, and the two players every game has.

    player = make_player("nitrogen/Breakout-v0", seed=0)
    obs, info = env.reset(seed=0); player.reset(obs, info)
    state = player.act(obs, info, env)      # an actions.State, analogue triggers kept
    obs, reward, terminated, truncated, info = env.step(state)

RandomPlayer is the baseline scripted players are judged against. NoisyPlayer is the
stand-in human for games without a scripted player: aimless, but with a person's timing.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from nitrogen_cli.actions import BUTTONS, State
from nitrogen_cli.envs import gamepad
from nitrogen_cli.envs.players.human import Humanizer, HumanParams, Intent


class Player:
    """Anything that looks at a frame (and, being privileged, the game's state) and acts."""

    name = "player"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.fps = 30

    def reset(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        self.fps = int(info.get("fps", 30))

    def act(self, obs: np.ndarray, info: dict[str, Any], env: Any) -> State:
        raise NotImplementedError


class RandomPlayer(Player):
    """Uniform random play: a legal ALE action a frame, or a uniform pad sample for Doom."""

    name = "random"

    def act(self, obs: np.ndarray, info: dict[str, Any], env: Any) -> State:
        game = env.unwrapped
        if info.get("engine") == "ale":
            return game.state_for(int(self.rng.integers(len(game.action_names))))
        pressed = {b for b in BUTTONS if self.rng.random() < 0.5}
        sticks = self.rng.uniform(-1.0, 1.0, 4)
        return gamepad.make_state(pressed, tuple(sticks[:2]), tuple(sticks[2:]))


class HumanlikePlayer(Player):
    """A controller's intent each frame, carried out by a Humanizer's hands.

    Reaction time lives in perception: the controller decides on what the game looked
    like `delay` frames ago (`seen`, a snapshot of privileged state) while it still knows
    where its own avatar is now (`game`, the live env), as a person's eye lags while their
    hand keeps track of itself. Delaying the hands instead would make every controller
    oscillate.
    """

    name = "humanlike"

    def __init__(self, seed: int = 0, params: HumanParams | None = None) -> None:
        super().__init__(seed)
        self.params = params or HumanParams()
        self.human = Humanizer(self.params, self.rng)
        self._seen: deque[Any] = deque()

    def reset(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        super().reset(obs, info)
        self.human.reset(self.fps)
        self._seen.clear()
        self.start(obs, info)

    def act(self, obs: np.ndarray, info: dict[str, Any], env: Any) -> State:
        game = env.unwrapped
        self._seen.append(self.snapshot(obs, info, game))
        while len(self._seen) > self.human.delay_frames + 1:
            self._seen.popleft()
        return self.human(self.intent(self._seen[0], info, game))

    def seconds(self, s: float) -> int:
        """Frames in `s` seconds at this episode's frame rate."""
        return max(1, round(s * self.fps))

    # -- what a controller implements ----------------------------------------------------
    def start(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        """Forget the last episode."""

    def snapshot(self, obs: np.ndarray, info: dict[str, Any], game: Any) -> Any:
        """What the player perceives this frame; by default the info dict (and Atari RAM)."""
        if hasattr(game, "ram"):
            return game.ram().copy()
        return dict(info)

    def intent(self, seen: Any, info: dict[str, Any], game: Any) -> Intent:
        raise NotImplementedError


class NoisyPlayer(HumanlikePlayer):
    """Aimless but human-timed play: directions and presses held for human-like spells.

    On an Atari game it only uses what the game's action set can read (fire only if the
    game has FIRE); on Doom it wanders with analogue sticks and fires in bursts.
    """

    name = "noisy"

    def start(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        self._left = 0
        self._fire_left = 0
        self._intent = Intent()
        self._fire = False

    def intent(self, seen: Any, info: dict[str, Any], game: Any) -> Intent:
        rng = self.rng
        ale = info.get("engine") == "ale"
        if self._left <= 0:  # a new spell: choose a direction and how long to hold it
            self._left = self.seconds(rng.uniform(0.2, 1.2))
            if ale:
                names = game.action_names
                dx, dy, _ = _ale_parse(names[int(rng.integers(len(names)))])
                if getattr(game, "vertical_paddle", False):
                    dx, dy = 0, -dx
                self._intent = Intent(move=(float(dx), float(dy)), digital=True)
            else:
                a, r = rng.uniform(0, 2 * math.pi), rng.uniform(0.3, 1.0)
                move = (r * math.cos(a), r * math.sin(a))
                look = (float(rng.uniform(-0.8, 0.8)), 0.0)
                self._intent = Intent(move=move, look=look, digital=False)
        if self._fire_left <= 0:  # presses come in bursts and pauses of their own
            self._fire = not self._fire and rng.random() < 0.6
            self._fire_left = self.seconds(rng.uniform(0.1, 0.8))
        self._left -= 1
        self._fire_left -= 1
        if ale:
            fire = self._fire and any("FIRE" in n for n in game.action_names)
            return Intent(self._intent.move, buttons=frozenset({"south"} if fire else ()))
        trig = (0.0, 1.0 if self._fire else 0.0)
        return Intent(self._intent.move, self._intent.look, triggers=trig, digital=False)


def _ale_parse(name: str) -> tuple[int, int, bool]:
    from nitrogen_cli.envs.ale import parse_action_name

    return parse_action_name(name)
