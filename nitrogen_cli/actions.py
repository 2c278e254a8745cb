"""The action contract: 17 gamepad buttons and two analogue sticks.

This module is the only place that knows the button order. Everything else asks it
for indices, names, and conversions. The order is the NitroGen dataset's column order
(NITROGEN.md section 3); sticks are (x, y) in [-1, 1] with +x right and +y down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

BUTTONS: tuple[str, ...] = (
    "back",
    "dpad_down",
    "dpad_left",
    "dpad_right",
    "dpad_up",
    "east",
    "guide",
    "left_shoulder",
    "left_thumb",
    "left_trigger",
    "north",
    "right_shoulder",
    "right_thumb",
    "right_trigger",
    "south",
    "start",
    "west",
)
STICKS: tuple[str, ...] = ("j_left", "j_right")
TRIGGERS: tuple[str, ...] = ("left_trigger", "right_trigger")
# Every element a template can show, in one fixed order: buttons, then sticks.
ELEMENTS: tuple[str, ...] = BUTTONS + STICKS

N_BUTTONS = len(BUTTONS)
BUTTON_INDEX: dict[str, int] = {name: i for i, name in enumerate(BUTTONS)}
FLAT_DIM = N_BUTTONS + 2 * len(STICKS)  # 21 floats: buttons as 0/1, then lx, ly, rx, ry

TRIGGER_THRESHOLD = 0.1  # input-overlay lights a trigger at >= 0.1; so does the contract
BUTTON_THRESHOLD = 0.5  # a model's button output is "on" above this

# The released model's 25-number vector: 21 button slots in alphabetical order of the
# upper-case names, four of which are never set, then (or before) the two sticks in [0, 1].
NG_BUTTON_SLOTS: tuple[str, ...] = (
    "BACK",
    "DPAD_DOWN",
    "DPAD_LEFT",
    "DPAD_RIGHT",
    "DPAD_UP",
    "EAST",
    "GUIDE",
    "LEFT_SHOULDER",
    "LEFT_THUMB",
    "LEFT_TRIGGER",
    "NORTH",
    "RIGHT_BOTTOM",
    "RIGHT_LEFT",
    "RIGHT_RIGHT",
    "RIGHT_SHOULDER",
    "RIGHT_THUMB",
    "RIGHT_TRIGGER",
    "RIGHT_UP",
    "SOUTH",
    "START",
    "WEST",
)
NG_DIM = len(NG_BUTTON_SLOTS) + 4
_NG_SLOT_OF_BUTTON = np.array([NG_BUTTON_SLOTS.index(b.upper()) for b in BUTTONS])


class ActionError(ValueError):
    """An action value that does not fit the contract."""


def flat_to_ng25(flat: np.ndarray, old_layout: bool = False) -> np.ndarray:
    """(..., 21) flat floats -> (..., 25) in the released model's [0, 1] units, unthresholded."""
    flat = np.asarray(flat, dtype=np.float32)
    slots = np.zeros((*flat.shape[:-1], len(NG_BUTTON_SLOTS)), np.float32)
    slots[..., _NG_SLOT_OF_BUTTON] = flat[..., :N_BUTTONS]
    sticks = (flat[..., N_BUTTONS:] + 1) / 2
    return np.concatenate([sticks, slots] if old_layout else [slots, sticks], axis=-1)


def ng25_to_flat(vec: np.ndarray, old_layout: bool = False) -> np.ndarray:
    """(..., 25) released-model floats -> (..., 21) flat floats, unthresholded, unclipped."""
    vec = np.asarray(vec, dtype=np.float32)
    n_slots = len(NG_BUTTON_SLOTS)
    if old_layout:
        sticks, slots = vec[..., :4], vec[..., 4:]
    else:
        slots, sticks = vec[..., :n_slots], vec[..., n_slots:]
    return np.concatenate([slots[..., _NG_SLOT_OF_BUTTON], sticks * 2 - 1], axis=-1)


@dataclass
class Actions:
    """A sequence of N gamepad states in the contract layout."""

    buttons: np.ndarray  # (N, 17) bool
    j_left: np.ndarray  # (N, 2) float32 in [-1, 1]
    j_right: np.ndarray  # (N, 2) float32 in [-1, 1]

    def __post_init__(self) -> None:
        self.buttons = np.asarray(self.buttons, dtype=bool).reshape(-1, N_BUTTONS)
        self.j_left = np.asarray(self.j_left, dtype=np.float32).reshape(-1, 2)
        self.j_right = np.asarray(self.j_right, dtype=np.float32).reshape(-1, 2)
        n = len(self.buttons)
        if len(self.j_left) != n or len(self.j_right) != n:
            raise ActionError(
                f"actions disagree in length: buttons {n}, j_left {len(self.j_left)}, "
                f"j_right {len(self.j_right)}"
            )

    def __len__(self) -> int:
        return len(self.buttons)

    def __getitem__(self, index: Any) -> Actions:
        return Actions(self.buttons[index], self.j_left[index], self.j_right[index])

    @classmethod
    def zeros(cls, n: int) -> Actions:
        return cls(
            np.zeros((n, N_BUTTONS), bool),
            np.zeros((n, 2), np.float32),
            np.zeros((n, 2), np.float32),
        )

    @classmethod
    def concatenate(cls, parts: Sequence[Actions]) -> Actions:
        if not parts:
            return cls.zeros(0)
        return cls(
            np.concatenate([p.buttons for p in parts]),
            np.concatenate([p.j_left for p in parts]),
            np.concatenate([p.j_right for p in parts]),
        )

    def button(self, name: str) -> np.ndarray:
        return self.buttons[:, BUTTON_INDEX[name]]

    def equals(self, other: Actions, atol: float = 0.0) -> bool:
        return (
            len(self) == len(other)
            and bool(np.array_equal(self.buttons, other.buttons))
            and bool(np.allclose(self.j_left, other.j_left, atol=atol, rtol=0))
            and bool(np.allclose(self.j_right, other.j_right, atol=atol, rtol=0))
        )

    # -- flat float vector, for models -------------------------------------------------
    def to_flat(self) -> np.ndarray:
        """(N, 21) float32: 17 buttons as 0/1, then left x, y and right x, y."""
        return np.concatenate([self.buttons.astype(np.float32), self.j_left, self.j_right], axis=1)

    @classmethod
    def from_flat(cls, flat: np.ndarray) -> Actions:
        flat = np.asarray(flat, dtype=np.float32)
        if flat.ndim != 2 or flat.shape[1] != FLAT_DIM:
            raise ActionError(f"flat actions must be (N, {FLAT_DIM}), got {flat.shape}")
        b = flat[:, :N_BUTTONS] > BUTTON_THRESHOLD
        sticks = np.clip(flat[:, N_BUTTONS:], -1.0, 1.0)
        return cls(b, sticks[:, 0:2], sticks[:, 2:4])

    # -- the released model's 25-number vector -----------------------------------------
    def to_ng25(self, old_layout: bool = False) -> np.ndarray:
        """(N, 25) float64 in [0, 1]; sticks last unless `old_layout`, then first."""
        n = len(self)
        slots = np.zeros((n, len(NG_BUTTON_SLOTS)), np.float64)
        slots[:, _NG_SLOT_OF_BUTTON] = self.buttons
        sticks = (np.concatenate([self.j_left, self.j_right], axis=1).astype(np.float64) + 1) / 2
        parts = [sticks, slots] if old_layout else [slots, sticks]
        return np.concatenate(parts, axis=1)

    @classmethod
    def from_ng25(cls, vec: np.ndarray, old_layout: bool = False) -> Actions:
        vec = np.asarray(vec, dtype=np.float64)
        if vec.ndim != 2 or vec.shape[1] != NG_DIM:
            raise ActionError(f"25-number actions must be (N, {NG_DIM}), got {vec.shape}")
        if old_layout:
            sticks, slots = vec[:, :4], vec[:, 4:]
        else:
            slots, sticks = vec[:, : len(NG_BUTTON_SLOTS)], vec[:, len(NG_BUTTON_SLOTS) :]
        b = slots[:, _NG_SLOT_OF_BUTTON] > BUTTON_THRESHOLD
        s = np.clip(sticks * 2 - 1, -1.0, 1.0).astype(np.float32)
        return cls(b, s[:, 0:2], s[:, 2:4])


@dataclass
class State:
    """One gamepad state for drawing: pressed buttons, stick axes, analogue triggers.

    Triggers carry an analogue value in [0, 1] so that a renderer can draw a partial
    fill; in the contract they collapse to a bool at TRIGGER_THRESHOLD.
    """

    pressed: frozenset[str] = frozenset()
    j_left: tuple[float, float] = (0.0, 0.0)
    j_right: tuple[float, float] = (0.0, 0.0)
    triggers: tuple[float, float] = (0.0, 0.0)  # left, right analogue values

    def trigger(self, name: str) -> float:
        return self.triggers[TRIGGERS.index(name)]

    def is_pressed(self, name: str) -> bool:
        if name in TRIGGERS:
            return self.trigger(name) >= TRIGGER_THRESHOLD
        return name in self.pressed

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> State:
        """Parse `{"south": true, "j_left": [0.5, -1], "right_trigger": 0.6}`."""
        pressed: set[str] = set()
        sticks = {"j_left": (0.0, 0.0), "j_right": (0.0, 0.0)}
        triggers = [0.0, 0.0]
        for key, value in data.items():
            if key in STICKS:
                try:
                    x, y = (float(v) for v in value)
                except (TypeError, ValueError):
                    raise ActionError(f"{key} must be [x, y], got {value!r}") from None
                if not (-1 <= x <= 1 and -1 <= y <= 1):
                    raise ActionError(f"{key} must lie in [-1, 1], got {value!r}")
                sticks[key] = (x, y)
            elif key in TRIGGERS:
                if isinstance(value, bool):
                    v = 1.0 if value else 0.0
                elif isinstance(value, (int, float)):
                    v = float(value)
                else:
                    raise ActionError(f"{key} must be a bool or a number, got {value!r}")
                if not 0 <= v <= 1:
                    raise ActionError(f"{key} must lie in [0, 1], got {value!r}")
                triggers[TRIGGERS.index(key)] = v
            elif key in BUTTON_INDEX:
                if not isinstance(value, bool):
                    raise ActionError(f"{key} must be true or false, got {value!r}")
                if value:
                    pressed.add(key)
            else:
                raise ActionError(f"unknown element {key!r}; known: {', '.join(ELEMENTS)}")
        return cls(frozenset(pressed), sticks["j_left"], sticks["j_right"], tuple(triggers))  # type: ignore[arg-type]

    @classmethod
    def from_actions(cls, actions: Actions, i: int) -> State:
        """Row i of `actions`; triggers, stored as bools, are drawn full."""
        row = actions.buttons[i]
        pressed = frozenset(n for n, p in zip(BUTTONS, row, strict=True) if p and n not in TRIGGERS)
        trig = tuple(1.0 if row[BUTTON_INDEX[t]] else 0.0 for t in TRIGGERS)
        return cls(
            pressed,
            (float(actions.j_left[i, 0]), float(actions.j_left[i, 1])),
            (float(actions.j_right[i, 0]), float(actions.j_right[i, 1])),
            trig,  # type: ignore[arg-type]
        )

    def to_actions(self) -> Actions:
        b = np.array([[self.is_pressed(n) for n in BUTTONS]])
        return Actions(b, np.array([self.j_left]), np.array([self.j_right]))
