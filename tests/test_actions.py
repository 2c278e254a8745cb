"""The action contract converts losslessly to every representation."""

from __future__ import annotations

import numpy as np
import pytest

from nitrogen_cli.actions import (
    BUTTONS,
    FLAT_DIM,
    NG_BUTTON_SLOTS,
    NG_DIM,
    ActionError,
    Actions,
    State,
)


def random_actions(n: int, seed: int = 0) -> Actions:
    rng = np.random.default_rng(seed)
    sticks = rng.uniform(-1, 1, size=(n, 4)).astype(np.float32)
    sticks[rng.random((n, 4)) < 0.2] = 0.0
    sticks[rng.random((n, 4)) < 0.05] = 1.0
    sticks[rng.random((n, 4)) < 0.05] = -1.0
    return Actions(rng.random((n, 17)) < 0.3, sticks[:, :2], sticks[:, 2:])


def test_button_order_is_the_datasets() -> None:
    assert BUTTONS[0] == "back" and BUTTONS[-1] == "west" and len(BUTTONS) == 17
    assert list(BUTTONS) == sorted(BUTTONS)  # the dataset columns are alphabetical
    assert len(NG_BUTTON_SLOTS) == 21 and NG_DIM == 25 and FLAT_DIM == 21


def test_flat_round_trip() -> None:
    a = random_actions(500)
    flat = a.to_flat()
    assert flat.shape == (500, FLAT_DIM) and flat.dtype == np.float32
    assert Actions.from_flat(flat).equals(a)


@pytest.mark.parametrize("old_layout", [False, True])
def test_ng25_round_trip(old_layout: bool) -> None:
    a = random_actions(500, seed=1)
    vec = a.to_ng25(old_layout=old_layout)
    assert vec.shape == (500, 25)
    assert vec.min() >= 0 and vec.max() <= 1
    back = Actions.from_ng25(vec, old_layout=old_layout)
    assert np.array_equal(back.buttons, a.buttons)
    assert np.array_equal(back.j_left, a.j_left) and np.array_equal(back.j_right, a.j_right)


def test_ng25_layouts_place_sticks_differently() -> None:
    a = Actions.zeros(1)
    a.buttons[0, BUTTONS.index("south")] = True
    a.j_left[0] = (1.0, -1.0)
    new, old = a.to_ng25(False)[0], a.to_ng25(True)[0]
    assert new[NG_BUTTON_SLOTS.index("SOUTH")] == 1 and tuple(new[21:23]) == (1.0, 0.0)
    assert tuple(old[0:2]) == (1.0, 0.0) and old[4 + NG_BUTTON_SLOTS.index("SOUTH")] == 1
    # The four unused slots stay empty.
    for slot in ("RIGHT_BOTTOM", "RIGHT_LEFT", "RIGHT_RIGHT", "RIGHT_UP"):
        assert new[NG_BUTTON_SLOTS.index(slot)] == 0


def test_state_parses_the_render_syntax() -> None:
    s = State.from_mapping({"south": True, "j_left": [0.5, -1], "right_trigger": 0.6})
    assert s.is_pressed("south") and not s.is_pressed("east")
    assert s.j_left == (0.5, -1.0) and s.trigger("right_trigger") == pytest.approx(0.6)
    assert s.is_pressed("right_trigger")
    assert not State.from_mapping({"left_trigger": 0.05}).is_pressed("left_trigger")
    assert State.from_mapping({"left_trigger": True}).trigger("left_trigger") == 1.0
    row = s.to_actions()
    assert row.buttons[0, BUTTONS.index("right_trigger")] and row.buttons.sum() == 2


@pytest.mark.parametrize(
    "bad",
    [{"nope": True}, {"south": 1}, {"j_left": [2, 0]}, {"j_left": "x"}, {"left_trigger": "y"}],
)
def test_state_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ActionError):
        State.from_mapping(bad)


def test_lengths_must_agree() -> None:
    with pytest.raises(ActionError):
        Actions(np.zeros((3, 17), bool), np.zeros((2, 2)), np.zeros((3, 2)))
