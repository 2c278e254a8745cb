"""Universal gamepad environments: Atari (ale-py) and Doom (ViZDoom) behind one action space.

Importing this package registers every game with gymnasium, so
`gymnasium.make("nitrogen/Breakout-v0")` works; `make_env` does the same by id or name.
"""

from nitrogen_cli.envs.gamepad import (
    action_space,
    action_to_state,
    direction8,
    make_state,
    row_to_action,
    state_to_action,
    state_to_row,
)
from nitrogen_cli.envs.registry import GAMES, GameSpec, game_ids, get_game, make_env, register_all

register_all()

__all__ = [
    "GAMES",
    "GameSpec",
    "action_space",
    "action_to_state",
    "direction8",
    "game_ids",
    "get_game",
    "make_env",
    "make_state",
    "register_all",
    "row_to_action",
    "state_to_action",
    "state_to_row",
]
