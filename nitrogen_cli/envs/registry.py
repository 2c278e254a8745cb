"""Which games exist, how each maps the pad, and their gymnasium registration.

A GameSpec is the single source for a game's id, engine, episode cap and the prose that
`nitrogen games show` and the man page give for its mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium

NAMESPACE = "nitrogen"


@dataclass(frozen=True)
class GameSpec:
    name: str  # "Breakout": the id is nitrogen/<name>-v0
    engine: str  # "ale" or "doom"
    source: str  # the ALE ROM name or the ViZDoom scenario name
    summary: str  # what the game is and what scores
    mapping: tuple[tuple[str, str], ...]  # (control, what it does in this game)
    max_seconds: float | None  # the episode cap in game seconds (None: the scenario's own)
    options: dict[str, Any] = field(default_factory=dict)  # extra env kwargs

    @property
    def id(self) -> str:
        return f"{NAMESPACE}/{self.name}-v0"

    def env_kwargs(self) -> dict[str, Any]:
        key = "rom" if self.engine == "ale" else "scenario"
        return {
            key: self.source,
            "game_id": self.id,
            "max_seconds": self.max_seconds,
            **self.options,
        }


_STICK = "left stick / d-pad"
_SOUTH = "south (A)"


def _ale(name, rom, summary, mapping, max_seconds=180.0, **options) -> GameSpec:
    return GameSpec(name, "ale", rom, summary, tuple(mapping), max_seconds, options)


def _doom(name, scenario, summary, mapping, max_seconds=None) -> GameSpec:
    common = (
        ("left stick / d-pad", "walk forward/back (y) and strafe (x), analogue speed"),
        ("right stick x", "turn, analogue rate (8 degrees a tic at full deflection)"),
        ("right_trigger", "attack (pressed at >= 0.1)"),
        ("south (A)", "use: open doors, press switches"),
        ("left/right shoulder", "previous/next weapon"),
    )
    return GameSpec(name, "doom", scenario, summary, tuple(mapping) + common, max_seconds)


ALE_GAMES: tuple[GameSpec, ...] = (
    _ale(
        "Breakout",
        "breakout",
        "Bounce the ball off the paddle to break bricks; a point per brick, 5 balls.",
        [(_STICK, "left/right move the paddle"), (_SOUTH, "launch the ball")],
    ),
    _ale(
        "Pong",
        "pong",
        "Table tennis against the computer, first to 21; score is your points minus its.",
        [(_STICK, "up/down move the paddle (the game's paddle knob)"), (_SOUTH, "fire")],
        vertical_paddle=True,
    ),
    _ale(
        "SpaceInvaders",
        "space_invaders",
        "Shoot the descending invaders from a cannon that moves along the ground.",
        [(_STICK, "left/right move the cannon"), (_SOUTH, "fire")],
    ),
    _ale(
        "Freeway",
        "freeway",
        "Walk a chicken across ten lanes of traffic; a point per crossing, 2:16 minutes.",
        [(_STICK, "up/down walk the chicken")],
        max_seconds=150.0,
    ),
    _ale(
        "Boxing",
        "boxing",
        "Top-down boxing: a point per punch landed, minus the ones taken; 2 minutes.",
        [(_STICK, "move the boxer in 8 directions"), (_SOUTH, "punch")],
        max_seconds=150.0,
    ),
    _ale(
        "Enduro",
        "enduro",
        "Endurance racing: a point per car overtaken, minus one per car that passes you.",
        [(_STICK, "left/right steer, down brakes"), (_SOUTH, "accelerate")],
        max_seconds=120.0,
    ),
    _ale(
        "MsPacman",
        "ms_pacman",
        "Eat the dots of the maze and avoid the ghosts; power pills make them edible.",
        [(_STICK, "steer Ms. Pac-Man in 8 directions")],
    ),
    _ale(
        "Seaquest",
        "seaquest",
        "Submarine shooter: hit sharks and subs, rescue divers, surface before the air runs out.",
        [(_STICK, "move the submarine in 8 directions"), (_SOUTH, "fire a torpedo")],
    ),
    _ale(
        "Asteroids",
        "asteroids",
        "Rotate, thrust and shoot to break up asteroids.",
        [
            (_STICK, "left/right rotate, up thrusts, down jumps to hyperspace"),
            (_SOUTH, "fire"),
        ],
    ),
    _ale(
        "Riverraid",
        "riverraid",
        "Fly up a river, shooting ships and planes, refuelling over fuel depots.",
        [(_STICK, "left/right steer, up speeds up, down slows down"), (_SOUTH, "fire")],
    ),
    _ale(
        "Tennis",
        "tennis",
        "Tennis against the computer; the racket swings by itself when the ball is near.",
        [(_STICK, "run in 8 directions"), (_SOUTH, "serve")],
        max_seconds=120.0,
    ),
    _ale(
        "Skiing",
        "skiing",
        "Ski through the gates of a slalom as fast as possible; missed gates cost 5 seconds.",
        [(_STICK, "left/right turn the skier")],
        max_seconds=120.0,
    ),
)

DOOM_GAMES: tuple[GameSpec, ...] = (
    _doom(
        "DoomBasic",
        "basic",
        "A monster stands somewhere along the far wall of a room: kill it fast (-1 a tic, "
        "-5 a miss, +101 the kill).",
        [],
    ),
    _doom(
        "DoomDefendTheCenter",
        "defend_the_center",
        "Stand in the middle of a round arena and shoot the monsters that close in "
        "(+1 a kill, -1 on death; 26 bullets).",
        [],
    ),
    _doom(
        "DoomDefendTheLine",
        "defend_the_line",
        "Hold the line against monsters, some of which shoot back (+1 a kill, -1 on death).",
        [],
        max_seconds=60.0,
    ),
    _doom(
        "DoomHealthGathering",
        "health_gathering",
        "The floor is acid: pick up medkits to stay alive (+1 a tic alive, -100 on death).",
        [],
    ),
    _doom(
        "DoomMyWayHome",
        "my_way_home",
        "Find the green armour in a maze of rooms (+1 on reaching it, a tiny cost a tic).",
        [],
    ),
    _doom(
        "DoomDeadlyCorridor",
        "deadly_corridor",
        "Run down a corridor lined with shooting monsters to the armour at its end "
        "(reward for distance gained, -100 on death).",
        [],
    ),
    _doom(
        "DoomTakeCover",
        "take_cover",
        "Dodge the fireballs of monsters at the far wall by strafing (+1 a tic alive).",
        [],
        max_seconds=60.0,
    ),
)

GAMES: dict[str, GameSpec] = {g.id: g for g in ALE_GAMES + DOOM_GAMES}

_ENTRY_POINTS = {
    "ale": "nitrogen_cli.envs.ale:AleGamepadEnv",
    "doom": "nitrogen_cli.envs.doom:DoomGamepadEnv",
}


def game_ids() -> list[str]:
    return list(GAMES)


def get_game(game: str) -> GameSpec:
    """A spec by id (`nitrogen/Breakout-v0`) or by bare name (`Breakout`, `breakout`)."""
    if game in GAMES:
        return GAMES[game]
    wanted = game.removeprefix(f"{NAMESPACE}/").removesuffix("-v0").lower()
    for spec in GAMES.values():
        if spec.name.lower() == wanted or spec.source == wanted:
            return spec
    raise KeyError(f"unknown game {game!r}; `nitrogen games list` shows the known ones")


def register_all() -> None:
    """Register every game with gymnasium, so gymnasium.make("nitrogen/<Game>-v0") works."""
    for spec in GAMES.values():
        if spec.id in gymnasium.registry:
            continue
        gymnasium.register(
            id=spec.id,
            entry_point=_ENTRY_POINTS[spec.engine],
            kwargs=spec.env_kwargs(),
            # The env caps its own episodes in game seconds, whatever the frame rate.
            max_episode_steps=None,
        )


def make_env(game: str, **kwargs: Any) -> gymnasium.Env:
    """gymnasium.make for a game id or bare name; kwargs override the env's defaults."""
    register_all()
    return gymnasium.make(get_game(game).id, **kwargs)
