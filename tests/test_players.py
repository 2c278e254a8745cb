"""Players: human-like timing and noise (seeded), and scripted players that beat random
on real games by the rule of the bench (2x random, or random + 3 standard errors)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nitrogen_cli.envs import get_game, make_env, state_to_row
from nitrogen_cli.envs.evaluate import compare, play_episodes
from nitrogen_cli.envs.players import (
    SCRIPTED,
    Humanizer,
    HumanlikePlayer,
    HumanParams,
    Intent,
    NoisyPlayer,
    RandomPlayer,
    make_player,
)


def _play(game: str, n: int, seed: int = 0, **kwargs: Any) -> list:
    env = make_env(game, disable_env_checker=True)
    player = make_player(game, seed=seed, **kwargs)
    obs, info = env.reset(seed=seed)
    player.reset(obs, info)
    states = []
    for _ in range(n):
        state = player.act(obs, info, env)
        states.append(state)
        obs, _, term, trunc, info = env.step(state)
        if term or trunc:
            break
    env.close()
    return states


def _rows(states: list) -> np.ndarray:
    return np.stack([state_to_row(s).to_flat()[0] for s in states])


def test_make_player_kinds() -> None:
    assert isinstance(make_player("Enduro", 0), NoisyPlayer)  # no scripted player: noisy
    assert isinstance(make_player("Breakout", 0), SCRIPTED["Breakout"])
    assert isinstance(make_player("Breakout", 0, kind="random"), RandomPlayer)
    assert isinstance(make_player("Breakout", 0, kind="noisy"), NoisyPlayer)
    assert make_player("Pong", 0, reaction_s=0.3).params.reaction_s == 0.3
    with pytest.raises(TypeError):
        make_player("Pong", 0, reaction=0.3)
    with pytest.raises(KeyError):
        make_player("Enduro", 0, kind="scripted")


def test_players_are_seeded() -> None:
    a, b, c = (_rows(_play("Boxing", 150, seed=s)) for s in (4, 4, 5))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


class _Watcher(HumanlikePlayer):
    """A controller that presses south once it has seen the 10th frame of the episode."""

    def snapshot(self, obs: np.ndarray, info: dict[str, Any], game: Any) -> Any:
        return info["step"]

    def intent(self, seen: Any, info: dict[str, Any], game: Any) -> Intent:
        return Intent(buttons=frozenset({"south"}) if seen >= 10 else frozenset())


def test_reaction_delay_lags_perception() -> None:
    env = make_env("Freeway", disable_env_checker=True)
    first = {}
    for reaction in (0.0, 0.2):
        params = HumanParams.from_overrides(HumanParams.perfect(), reaction_s=reaction)
        player = _Watcher(0, params)
        obs, info = env.reset(seed=0)
        player.reset(obs, info)
        for t in range(40):
            state = player.act(obs, info, env)
            if "south" in state.pressed:
                first[reaction] = t
                break
            obs, _, _, _, info = env.step(state)
    env.close()
    assert first == {0.0: 10, 0.2: 16}  # 0.2 s at 30 fps is 6 frames late


def test_presses_are_held_and_released_like_a_person() -> None:
    params = HumanParams.from_overrides(HumanParams.perfect(), min_hold_s=0.2, min_release_s=0.1)
    hands = Humanizer(params, np.random.default_rng(0))
    hands.reset(30)
    tap = Intent(buttons=frozenset({"south"}))
    out = [hands(tap if t in (0, 7) else Intent()) for t in range(20)]
    down = [("south" in s.pressed) for s in out]
    assert down[:6] == [True] * 6 and not down[6]  # a 1-frame tap is held 0.2 s
    assert not down[7] and not any(down[8:])  # re-pressed 1 frame after release: too soon


def test_idle_and_mistakes_change_what_is_pressed() -> None:
    intent = Intent(move=(1.0, 0.0), buttons=frozenset({"south"}))
    base = HumanParams.perfect()
    idle = Humanizer(HumanParams.from_overrides(base, idle_rate=30.0), np.random.default_rng(1))
    idle.reset(30)
    idled = [idle(intent) for _ in range(120)]
    assert sum(not s.pressed and s.j_left == (0.0, 0.0) for s in idled) > 60
    wrong = Humanizer(HumanParams.from_overrides(base, mistake_rate=5.0), np.random.default_rng(2))
    wrong.reset(30)
    made = [wrong(intent) for _ in range(300)]
    assert sum(s.j_left != (1.0, 0.0) or s.pressed != {"south"} for s in made) > 30
    clean = Humanizer(base, np.random.default_rng(3))
    clean.reset(30)
    assert all(
        clean(intent) == made[0].__class__(frozenset({"south"}), (1.0, 0.0)) for _ in range(30)
    )


def test_sticks_and_triggers_are_analogue() -> None:
    states = _play("Breakout", 300, seed=2, dpad_prob=0.0)
    xs = np.array([abs(s.j_left[0]) for s in states])
    moving = xs[xs > 0.3]
    assert len(moving) > 30 and len(np.unique(np.round(moving, 3))) > 10
    assert moving.max() <= 1.0 and (moving < 0.98).mean() > 0.5
    doom = _play("DoomDefendTheCenter", 300, seed=2)
    pulls = np.array([s.triggers[1] for s in doom])
    assert ((pulls > 0.1) & (pulls < 0.95)).any() and (pulls >= 0.1).any()
    turns = np.array([s.j_right[0] for s in doom])
    assert len(np.unique(np.round(turns, 3))) > 20


def test_at_least_six_atari_and_three_doom_players() -> None:
    engines = [get_game(name).engine for name in SCRIPTED]
    assert engines.count("ale") >= 6 and engines.count("doom") >= 3


# A short seeded run per scripted player: (episode cap in seconds or None for the game's
# own, seeds). Survival scenarios need their full length for random to die in.
SHORT_RUNS: dict[str, tuple[float | None, int]] = {
    "Breakout": (20, 3),
    "Pong": (30, 3),
    "Boxing": (45, 3),
    "Freeway": (15, 3),
    "SpaceInvaders": (60, 3),
    "Seaquest": (20, 3),
    "DoomBasic": (None, 3),
    "DoomDefendTheCenter": (15, 3),
    "DoomDefendTheLine": (15, 3),
    "DoomHealthGathering": (None, 3),
    "DoomTakeCover": (None, 3),
}


def test_every_scripted_player_has_a_short_run() -> None:
    assert set(SHORT_RUNS) == set(SCRIPTED)


@pytest.mark.slow
@pytest.mark.parametrize("game", sorted(SHORT_RUNS))
def test_scripted_player_beats_random(game: str) -> None:
    seconds, n = SHORT_RUNS[game]
    cap = {} if seconds is None else {"max_seconds": seconds}
    seeds = range(100, 100 + n)
    scripted = play_episodes(game, "scripted", seeds, **cap)
    random = play_episodes(game, "random", seeds, **cap)
    result = compare(scripted, random)
    assert result["passed"], (result, scripted, random)
