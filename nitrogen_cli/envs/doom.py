"""Doom scenarios (ViZDoom, whose wheel ships Freedoom and the scenarios) behind the pad.

Every scenario gets the same twin-stick layout a console shooter uses, whatever buttons
its own .cfg listed: the left stick (or the d-pad) walks and strafes, the right stick
turns, right_trigger attacks, south uses (doors, switches), the shoulders change weapon.
Analogue sticks map to ViZDoom's delta buttons, so half a push walks at half speed.
"""

from __future__ import annotations

import math
import os
from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces

from nitrogen_cli.actions import State
from nitrogen_cli.envs import gamepad

TICRATE = 35  # Doom's game logic runs 35 tics a second
# Doom's own running speeds (forwardmove and sidemove units, as ViZDoom's delta buttons take
# them) and a gamepad-like turn rate in degrees per tic at full deflection (280 deg/s).
FORWARD_SPEED = 50.0
STRAFE_SPEED = 40.0
TURN_SPEED = 8.0
STICK_DEAD_ZONE = 0.12

# Layout of the vector handed to DoomGame.make_action, in this order.
_BUTTONS = (
    "MOVE_FORWARD_BACKWARD_DELTA",
    "MOVE_LEFT_RIGHT_DELTA",
    "TURN_LEFT_RIGHT_DELTA",
    "ATTACK",
    "USE",
    "SELECT_NEXT_WEAPON",
    "SELECT_PREV_WEAPON",
)
# Game variables exposed in `info` (and to scripted players), lower-cased.
_VARIABLES = (
    "POSITION_X",
    "POSITION_Y",
    "ANGLE",
    "HEALTH",
    "ARMOR",
    "SELECTED_WEAPON_AMMO",
    "AMMO2",
    "KILLCOUNT",
    "ATTACK_READY",
)


def tics_schedule(fps: int, tics_per_step: int | None, step: int) -> int:
    """Tics to run for step `step`: fixed, or spread evenly so the game keeps real time.

    At 30 fps the 35 tics of a second are spread as 1,1,1,1,1,2 tics per step, so a
    video played at its own rate shows the game at its true speed.
    """
    if tics_per_step is not None:
        return tics_per_step
    return (step + 1) * TICRATE // fps - step * TICRATE // fps


class DoomGamepadEnv(gymnasium.Env):
    """One ViZDoom scenario, stepped once per video frame, driven by the universal gamepad."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        scenario: str,
        game_id: str = "",
        fps: int = 30,
        tics_per_step: int | None = None,
        resolution: tuple[int, int] = (320, 240),
        max_seconds: float | None = 60.0,
        render_hud: bool | None = None,
        doom_skill: int | None = None,
        turn_speed: float = TURN_SPEED,
        stick_dead_zone: float = STICK_DEAD_ZONE,
        render_mode: str | None = "rgb_array",
    ) -> None:
        import vizdoom as vzd

        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.scenario, self.game_id, self.fps = scenario, game_id or scenario, fps
        self.tics_per_step, self.turn_speed = tics_per_step, turn_speed
        self.stick_dead_zone, self.render_mode = stick_dead_zone, render_mode
        width, height = resolution
        res = getattr(vzd.ScreenResolution, f"RES_{width}X{height}", None)
        if res is None:
            raise ValueError(f"ViZDoom has no {width}x{height} resolution")
        game = vzd.DoomGame()
        game.load_config(os.path.join(vzd.scenarios_path, f"{scenario}.cfg"))
        game.set_window_visible(False)
        game.set_sound_enabled(False)
        game.set_screen_format(vzd.ScreenFormat.RGB24)
        game.set_screen_resolution(res)
        game.set_mode(vzd.Mode.PLAYER)
        if render_hud is not None:
            game.set_render_hud(render_hud)
        if doom_skill is not None:
            game.set_doom_skill(doom_skill)
        if max_seconds is not None:
            game.set_episode_timeout(game.get_episode_start_time() + int(max_seconds * TICRATE))
        game.set_available_buttons([getattr(vzd.Button, b) for b in _BUTTONS])
        game.set_available_game_variables([getattr(vzd.GameVariable, v) for v in _VARIABLES])
        game.set_objects_info_enabled(True)  # privileged knowledge for scripted players
        game.init()
        self.game = game
        # ViZDoom ends the episode at its timeout; this is only the matching step count.
        timeout = game.get_episode_timeout()
        live_tics = timeout - game.get_episode_start_time()
        self.max_episode_steps = math.ceil(live_tics * fps / TICRATE) + 1 if timeout else None
        self.observation_space = spaces.Box(0, 255, (height, width, 3), np.uint8)
        self.action_space = gamepad.action_space()
        self._steps = 0
        self._obs = np.zeros((height, width, 3), np.uint8)
        self._vars: dict[str, float] = {}

    # -- the mapping ---------------------------------------------------------------------
    def command(self, action: State | dict[str, Any]) -> list[float]:
        """The ViZDoom button vector (see _BUTTONS) this pad state plays."""
        state = gamepad.action_to_state(action)
        lx, ly = gamepad.radial_dead_zone(*state.j_left, self.stick_dead_zone)
        rx, _ = gamepad.radial_dead_zone(*state.j_right, self.stick_dead_zone)
        lx += state.is_pressed("dpad_right") - state.is_pressed("dpad_left")
        ly += state.is_pressed("dpad_down") - state.is_pressed("dpad_up")
        lx, ly = float(np.clip(lx, -1, 1)), float(np.clip(ly, -1, 1))
        return [
            -ly * FORWARD_SPEED,  # stick up (-y) walks forward
            lx * STRAFE_SPEED,
            rx * self.turn_speed,  # positive turns right
            float(state.is_pressed("right_trigger")),
            float(state.is_pressed("south")),
            float(state.is_pressed("right_shoulder")),
            float(state.is_pressed("left_shoulder")),
        ]

    # -- gymnasium -----------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.game.set_seed(int(self.np_random.integers(0, 2**31 - 1)))
        self.game.new_episode()
        self._steps = 0
        self._observe()
        return self._obs, self._info()

    def step(
        self, action: State | dict[str, Any]
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        tics = tics_schedule(self.fps, self.tics_per_step, self._steps)
        reward = 0.0
        if tics > 0:  # above 35 fps some steps fall between two tics and show the same frame
            reward = float(self.game.make_action(self.command(action), tics))
            self._observe()
        self._steps += 1
        finished = self.game.is_episode_finished()
        timeout = finished and self.game.is_episode_timeout_reached()
        terminated = finished and not timeout
        truncated = timeout or (
            self.max_episode_steps is not None and self._steps >= self.max_episode_steps
        )
        return self._obs, reward, terminated, truncated, self._info()

    def _observe(self) -> None:
        state = self.game.get_state()
        if state is None:  # the episode ended: keep showing its last frame
            return
        self._obs = np.ascontiguousarray(state.screen_buffer)
        if state.game_variables is not None:
            self._vars = {
                name.lower(): float(v)
                for name, v in zip(_VARIABLES, state.game_variables, strict=True)
            }

    def _info(self) -> dict[str, Any]:
        return {
            "game": self.game_id,
            "engine": "doom",
            "fps": self.fps,
            "step": self._steps,
            "tic": int(self.game.get_episode_time()),
            "total_reward": float(self.game.get_total_reward()),
            **self._vars,
        }

    def objects(self) -> list[Any]:
        """ViZDoom's object list (names and map positions): privileged, for scripted players."""
        state = self.game.get_state()
        return [] if state is None else list(state.objects or [])

    def render(self) -> np.ndarray | None:
        return self._obs

    def close(self) -> None:
        self.game.close()
