"""Atari 2600 games (ale-py, whose wheel ships the ROMs) behind the universal gamepad.

The pad maps the way an Atari joystick would if it were a modern controller: the d-pad
or the left stick (8-way, with a dead zone) is the joystick, south is the fire button.
The requested (direction, fire) is projected onto the game's own minimal action set, so
a combination the game lacks degrades to its nearest legal action (for example up+fire
in Breakout is just FIRE).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces

from nitrogen_cli.actions import State
from nitrogen_cli.envs import gamepad

NATIVE_FPS = 60  # the 2600 draws 60 frames a second (NTSC)
FIRE_BUTTON = "south"

# How a requested component counts when it must be dropped to reach a legal action: the
# horizontal direction is kept first, then fire, then the vertical one.
_WEIGHT = {"x": 3.0, "fire": 2.5, "y": 2.0}


def parse_action_name(name: str) -> tuple[int, int, bool]:
    """ALE's `UPRIGHTFIRE` as (dx, dy, fire) with +dy down."""
    fire = "FIRE" in name
    dy = -1 if "UP" in name else (1 if "DOWN" in name else 0)
    dx = 1 if "RIGHT" in name else (-1 if "LEFT" in name else 0)
    return dx, dy, fire


def projection_table(action_names: list[str]) -> dict[tuple[int, int, bool], int]:
    """Every (dx, dy, fire) the pad can ask for, mapped to an index into `action_names`.

    A legal action may only contain components that were asked for; among those, the one
    keeping the most (weighted) of the request wins. NOOP is always legal.
    """
    parsed = [parse_action_name(n) for n in action_names]
    table: dict[tuple[int, int, bool], int] = {}
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for fire in (False, True):
                best, best_score = 0, -1.0
                for i, (lx, ly, lf) in enumerate(parsed):
                    if (lx and lx != dx) or (ly and ly != dy) or (lf and not fire):
                        continue
                    score = _WEIGHT["x"] * bool(lx) + _WEIGHT["y"] * bool(ly) + _WEIGHT["fire"] * lf
                    if score > best_score:
                        best, best_score = i, score
                table[(dx, dy, fire)] = best
    return table


class AleGamepadEnv(gymnasium.Env):
    """One Atari game, stepped once per video frame, driven by the universal gamepad."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        rom: str,
        game_id: str = "",
        fps: int = 30,
        repeat_action_probability: float = 0.0,
        max_seconds: float | None = 300.0,
        max_episode_steps: int | None = None,
        noop_max: int = 30,
        dead_zone: float = gamepad.DEAD_ZONE,
        vertical_paddle: bool = False,
        mode: int | None = None,
        difficulty: int | None = None,
        render_mode: str | None = "rgb_array",
    ) -> None:
        from ale_py.env import AtariEnv

        if fps <= 0 or NATIVE_FPS % fps:
            raise ValueError(f"fps must divide {NATIVE_FPS}, got {fps}")
        self.rom, self.game_id, self.fps = rom, game_id or rom, fps
        self.frameskip = NATIVE_FPS // fps
        self.dead_zone, self.vertical_paddle, self.noop_max = dead_zone, vertical_paddle, noop_max
        self.render_mode = render_mode
        self._atari = AtariEnv(
            rom,
            mode=mode,
            difficulty=difficulty,
            obs_type="rgb",
            frameskip=self.frameskip,
            repeat_action_probability=repeat_action_probability,
            full_action_space=False,
        )
        self.ale = self._atari.ale
        self.action_names = [a.name for a in self._atari._action_set]
        self._table = projection_table(self.action_names)
        if max_episode_steps is None and max_seconds is not None:
            max_episode_steps = round(max_seconds * fps)
        self.max_episode_steps = max_episode_steps
        self.observation_space = spaces.Box(0, 255, (210, 160, 3), np.uint8)
        self.action_space = gamepad.action_space()
        self._steps = 0
        self._obs: np.ndarray | None = None
        self.frame_rams: list[np.ndarray] = []  # the RAM after each emulated frame of a step

    # -- the mapping ---------------------------------------------------------------------
    def request(self, state: State) -> tuple[int, int, bool]:
        """What the joystick asks for, before projection onto the game's action set."""
        dx, dy = gamepad.direction8(state, self.dead_zone)
        if self.vertical_paddle:  # a paddle game: up/down on the pad turn the knob
            dx, dy = -dy, 0
        return dx, dy, state.is_pressed(FIRE_BUTTON)

    def ale_action(self, action: State | dict[str, Any]) -> int:
        """Index into `action_names` of the legal action this pad state plays."""
        return self._table[self.request(gamepad.action_to_state(action))]

    def state_for(self, index: int) -> State:
        """A pad state (d-pad and south) that plays legal action `index`: the inverse map."""
        dx, dy, fire = parse_action_name(self.action_names[index])
        if self.vertical_paddle:
            dx, dy = 0, -dx
        pressed = set()
        if dx:
            pressed.add("dpad_right" if dx > 0 else "dpad_left")
        if dy:
            pressed.add("dpad_down" if dy > 0 else "dpad_up")
        if fire:
            pressed.add(FIRE_BUTTON)
        return gamepad.make_state(pressed)

    # -- gymnasium -----------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        obs, info = self._atari.reset(seed=seed)
        # A few random no-op frames so that seeds start from different states, as in the
        # usual ALE evaluation protocol; the 2600 itself is deterministic.
        for _ in range(int(self.np_random.integers(0, self.noop_max + 1)) if self.noop_max else 0):
            obs, _, term, trunc, info = self._atari.step(0)
            if term or trunc:
                obs, info = self._atari.reset()
        self._steps = 0
        self._obs = obs
        self.frame_rams = [self.ale.getRAM()]
        return obs, self._info(info, 0)

    def step(
        self, action: State | dict[str, Any]
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        index = self.ale_action(action)
        ale_action = self._atari._action_set[index]
        # Frame by frame, keeping each frame's RAM: some games multiplex objects over
        # alternate frames, and a scripted player may need to see them all.
        reward = 0.0
        self.frame_rams = []
        for _ in range(self.frameskip):
            reward += self.ale.act(ale_action, 1.0)
            self.frame_rams.append(self.ale.getRAM())
        terminated = self.ale.game_over(with_truncation=False)
        truncated = self.ale.game_truncated()
        obs = self.ale.getScreenRGB()
        info = {
            "lives": self.ale.lives(),
            "episode_frame_number": self.ale.getEpisodeFrameNumber(),
            "frame_number": self.ale.getFrameNumber(),
        }
        self._steps += 1
        if self.max_episode_steps is not None and self._steps >= self.max_episode_steps:
            truncated = True
        self._obs = obs
        return obs, float(reward), bool(terminated), bool(truncated), self._info(info, index)

    def _info(self, info: dict[str, Any], index: int) -> dict[str, Any]:
        info = dict(info)
        info.update(
            game=self.game_id,
            engine="ale",
            fps=self.fps,
            step=self._steps,
            ale_action=self.action_names[index],
        )
        return info

    def ram(self) -> np.ndarray:
        """The console's 128 bytes of RAM: privileged state for scripted players."""
        return self.ale.getRAM()

    def render(self) -> np.ndarray | None:
        return self._obs

    def close(self) -> None:
        self._atari.close()
