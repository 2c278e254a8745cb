"""Scripted players against the random player, game by game, on the same seeds.

Each game's own score (the Atari score, the Doom scenario's reward) over full episodes
(the env's episode cap) for at least 10 seeds, the mean and standard error of the
scripted and the random player, and a pass flag by the rule of
nitrogen_cli.envs.evaluate: 2x random where random scores above 0, otherwise random
plus three standard errors. Also the env + player speed in steps a second.
"""

from __future__ import annotations

import time

from nitrogen_cli.envs import get_game
from nitrogen_cli.envs.evaluate import compare, play_episodes
from nitrogen_cli.envs.players import SCRIPTED

SEEDS = 10
FPS = 30


def run(quick: bool = False) -> dict:
    seeds = range(3 if quick else SEEDS)
    cap = {"max_seconds": 30.0} if quick else {}
    games: dict[str, dict] = {}
    for name in SCRIPTED:
        spec = get_game(name)
        stats: dict[str, float] = {}
        t0 = time.perf_counter()
        scripted = play_episodes(spec.id, "scripted", seeds, stats=stats, fps=FPS, **cap)
        random = play_episodes(spec.id, "random", seeds, fps=FPS, **cap)
        result = compare(scripted, random)
        games[spec.id] = {
            "engine": spec.engine,
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()},
            "ratio": round(result["player_mean"] / result["random_mean"], 2)
            if result["random_mean"] > 0
            else None,
            "player_scores": scripted,
            "random_scores": random,
            "player_steps_per_s": round(stats["steps"] / stats["seconds"], 1),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    return {
        "seeds": len(seeds),
        "fps": FPS,
        "episode_cap": "30 s" if quick else "each game's own",
        "games": games,
        "passed": sum(g["passed"] for g in games.values()),
        "total": len(games),
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
