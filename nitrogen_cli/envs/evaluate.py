"""Scoring players against the random baseline, by the rule scripted players must meet.

The rule: over the same seeds, a player's mean score must be at least twice the random
player's where random scores above 0; otherwise (random at or below 0, as in Pong or
a Doom scenario that costs a point a tic) it must beat random by at least three
standard errors of the difference of the means.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

import numpy as np


def play_episodes(
    game: str,
    kind: str,
    seeds: Iterable[int],
    human: dict[str, Any] | None = None,
    stats: dict[str, float] | None = None,
    **env_kwargs: Any,
) -> list[float]:
    """The game's own score of one episode per seed (env and player both seeded by it).

    `stats`, when given, is filled with the steps played and the seconds they took.
    """
    from nitrogen_cli.envs import make_env
    from nitrogen_cli.envs.players import make_player

    env = make_env(game, disable_env_checker=True, **env_kwargs)
    scores = []
    steps, start = 0, time.perf_counter()
    try:
        for seed in seeds:
            player = make_player(game, seed=seed, kind=kind, **(human or {}))
            obs, info = env.reset(seed=seed)
            player.reset(obs, info)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, info = env.step(player.act(obs, info, env))
                total += reward
                steps += 1
                done = terminated or truncated
            scores.append(total)
    finally:
        env.close()
    if stats is not None:
        stats["steps"] = stats.get("steps", 0) + steps
        stats["seconds"] = stats.get("seconds", 0.0) + time.perf_counter() - start
    return scores


def std_error(scores: list[float]) -> float:
    return float(np.std(scores, ddof=1) / math.sqrt(len(scores))) if len(scores) > 1 else 0.0


def compare(player: list[float], random: list[float]) -> dict[str, Any]:
    """Means, standard errors and whether `player` beats `random` by the rule."""
    mp, mr = float(np.mean(player)), float(np.mean(random))
    sp, sr = std_error(player), std_error(random)
    if mr > 0:
        rule, passed = "2x random", mp >= 2 * mr
    else:
        margin = 3 * math.hypot(sp, sr)
        rule, passed = "random + 3 SE", mp > mr and mp - mr >= margin
    return {
        "player_mean": mp,
        "player_se": sp,
        "random_mean": mr,
        "random_se": sr,
        "rule": rule,
        "passed": bool(passed),
    }
