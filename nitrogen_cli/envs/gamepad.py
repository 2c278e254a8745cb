"""The universal gamepad action space, and its conversions to and from the contract.

Every game env takes the same action: a Dict of the 17 buttons (Discrete(2) each) and
the two sticks (Box(-1, 1, (2,)), +x right, +y down), in actions.BUTTONS order. A player
may instead hand the env an actions.State, which keeps analogue trigger values; either
way the recorded truth is the contract row that State.to_actions() gives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from nitrogen_cli.actions import BUTTONS, STICKS, TRIGGERS, Actions, State

DEAD_ZONE = 0.3  # a digital game ignores stick deflections smaller than this


def action_space() -> spaces.Dict:
    """The Dict space every nitrogen env shares: buttons, then sticks, in contract order."""
    items: dict[str, spaces.Space] = {name: spaces.Discrete(2) for name in BUTTONS}
    for stick in STICKS:
        items[stick] = spaces.Box(-1.0, 1.0, (2,), np.float32)
    return spaces.Dict(items, sort_keys=False)  # keep the contract order, sticks last


def state_to_action(state: State) -> dict[str, Any]:
    """A State as a sample of action_space(); triggers collapse to pressed at >= 0.1."""
    action: dict[str, Any] = {name: int(state.is_pressed(name)) for name in BUTTONS}
    action["j_left"] = np.asarray(state.j_left, np.float32)
    action["j_right"] = np.asarray(state.j_right, np.float32)
    return action


def action_to_state(action: State | Mapping[str, Any]) -> State:
    """A sample of action_space() (or a State, returned as is) as a State.

    A Dict action carries no analogue trigger value, so a pressed trigger reads as 1.0.
    """
    if isinstance(action, State):
        return action
    pressed = frozenset(
        name for name in BUTTONS if name not in TRIGGERS and int(action.get(name, 0))
    )
    triggers = tuple(1.0 if int(action.get(name, 0)) else 0.0 for name in TRIGGERS)
    sticks = []
    for stick in STICKS:
        x, y = np.clip(np.asarray(action.get(stick, (0.0, 0.0)), np.float64), -1.0, 1.0)
        sticks.append((float(x), float(y)))
    return State(pressed, sticks[0], sticks[1], triggers)  # type: ignore[arg-type]


def state_to_row(state: State) -> Actions:
    """The one-row Actions the corpus records as truth for this State."""
    return state.to_actions()


def row_to_action(actions: Actions, i: int) -> dict[str, Any]:
    """Row i of an Actions as a sample of action_space(), e.g. to replay a recording."""
    return state_to_action(State.from_actions(actions, i))


def make_state(
    pressed: set[str] | frozenset[str] = frozenset(),
    j_left: tuple[float, float] = (0.0, 0.0),
    j_right: tuple[float, float] = (0.0, 0.0),
    left_trigger: float = 0.0,
    right_trigger: float = 0.0,
) -> State:
    """A State from loose parts; trigger names in `pressed` are pulled fully."""
    lt = 1.0 if "left_trigger" in pressed else left_trigger
    rt = 1.0 if "right_trigger" in pressed else right_trigger
    buttons = frozenset(p for p in pressed if p not in TRIGGERS)
    return State(
        buttons,
        (_unit(j_left[0]), _unit(j_left[1])),
        (_unit(j_right[0]), _unit(j_right[1])),
        (float(np.clip(lt, 0, 1)), float(np.clip(rt, 0, 1))),
    )


def _unit(v: float) -> float:
    return float(np.clip(v, -1.0, 1.0))


def direction8(state: State, dead_zone: float = DEAD_ZONE) -> tuple[int, int]:
    """The 8-way direction (dx, dy), each in {-1, 0, 1}, +dy down, that a digital game sees.

    The d-pad wins when any of it is held; otherwise the left stick counts once it leaves
    the dead zone, snapped to the nearest of eight 45-degree sectors.
    """
    dx = int(state.is_pressed("dpad_right")) - int(state.is_pressed("dpad_left"))
    dy = int(state.is_pressed("dpad_down")) - int(state.is_pressed("dpad_up"))
    if dx or dy:
        return dx, dy
    x, y = state.j_left
    if math.hypot(x, y) < dead_zone:
        return 0, 0
    sector = round(math.atan2(y, x) / (math.pi / 4)) % 8
    return _SECTORS[sector]


# Sector k is centred on angle k * 45 degrees, measured from +x towards +y (down).
_SECTORS: tuple[tuple[int, int], ...] = (
    (1, 0),
    (1, 1),
    (0, 1),
    (-1, 1),
    (-1, 0),
    (-1, -1),
    (0, -1),
    (1, -1),
)


def radial_dead_zone(x: float, y: float, dead_zone: float) -> tuple[float, float]:
    """Rescale a stick so that the dead zone reads 0 and the rim still reads 1."""
    r = math.hypot(x, y)
    if r <= dead_zone:
        return 0.0, 0.0
    scale = min(1.0, (r - dead_zone) / (1.0 - dead_zone)) / r
    return x * scale, y * scale
