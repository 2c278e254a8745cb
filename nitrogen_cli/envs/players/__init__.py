"""Players for every listed game: scripted where one is written, noisy otherwise."""

from __future__ import annotations

from typing import Any

from nitrogen_cli.envs.players.base import HumanlikePlayer, NoisyPlayer, Player, RandomPlayer
from nitrogen_cli.envs.players.human import Humanizer, HumanParams, Intent
from nitrogen_cli.envs.registry import get_game

# game name -> scripted player class
SCRIPTED: dict[str, type[HumanlikePlayer]] = {}


def _load() -> None:
    from nitrogen_cli.envs.players import ale, doom

    SCRIPTED.update(
        {
            "Breakout": ale.BreakoutPlayer,
            "Pong": ale.PongPlayer,
            "Boxing": ale.BoxingPlayer,
            "Freeway": ale.FreewayPlayer,
            "SpaceInvaders": ale.SpaceInvadersPlayer,
            "Seaquest": ale.SeaquestPlayer,
            "DoomBasic": doom.ShooterPlayer,
            "DoomDefendTheCenter": doom.ShooterPlayer,
            "DoomDefendTheLine": doom.ShooterPlayer,
            "DoomHealthGathering": doom.GathererPlayer,
            "DoomTakeCover": doom.DodgerPlayer,
        }
    )


_load()

KINDS = ("auto", "scripted", "noisy", "random")


def has_scripted(game: str) -> bool:
    return get_game(game).name in SCRIPTED


def make_player(
    game: str,
    seed: int = 0,
    kind: str = "auto",
    params: HumanParams | None = None,
    **overrides: Any,
) -> Player:
    """A player for `game` (id or name): `auto` is the scripted one where it exists.

    `params` and keyword overrides (e.g. reaction_s=0.2, mistake_rate=0) set how human
    it plays; the random baseline ignores them.
    """
    spec = get_game(game)
    if kind not in KINDS:
        raise ValueError(f"unknown player kind {kind!r}; known: {', '.join(KINDS)}")
    if kind == "random":
        return RandomPlayer(seed)
    human = HumanParams.from_overrides(params, **overrides)
    if kind == "scripted" or (kind == "auto" and spec.name in SCRIPTED):
        if spec.name not in SCRIPTED:
            raise KeyError(f"{spec.id} has no scripted player")
        return SCRIPTED[spec.name](seed, human)
    return NoisyPlayer(seed, human)


__all__ = [
    "KINDS",
    "SCRIPTED",
    "HumanParams",
    "Humanizer",
    "HumanlikePlayer",
    "Intent",
    "NoisyPlayer",
    "Player",
    "RandomPlayer",
    "has_scripted",
    "make_player",
]
