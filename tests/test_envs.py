"""The universal gamepad envs: the action space, the conversions, and each engine's mapping
played on the real games (ale-py ROMs, ViZDoom scenarios)."""

from __future__ import annotations

import subprocess
import sys

import gymnasium
import numpy as np
import pytest
from typer.testing import CliRunner

import nitrogen_cli.envs as envs
from nitrogen_cli.actions import BUTTONS, STICKS, Actions, State
from nitrogen_cli.cli import app
from nitrogen_cli.envs import make_state
from nitrogen_cli.envs.ale import projection_table
from nitrogen_cli.envs.doom import tics_schedule


# -- the space and the conversions -------------------------------------------------------
def test_action_space_is_the_contract() -> None:
    space = envs.action_space()
    assert list(space.spaces) == [*BUTTONS, *STICKS]
    for b in BUTTONS:
        assert space[b] == gymnasium.spaces.Discrete(2)
    for s in STICKS:
        assert space[s].shape == (2,) and space[s].low.min() == -1 and space[s].high.max() == 1


def test_conversions_round_trip_and_keep_analogue_triggers() -> None:
    state = make_state({"south", "dpad_up"}, (0.25, -0.5), (-1.0, 0.1), right_trigger=0.3)
    action = envs.state_to_action(state)
    assert envs.action_space().contains(action)
    assert action["south"] == 1 and action["right_trigger"] == 1 and action["left_trigger"] == 0
    back = envs.action_to_state(action)
    assert back.pressed == {"south", "dpad_up"} and back.triggers == (0.0, 1.0)
    row = envs.state_to_row(state)
    assert isinstance(row, Actions) and len(row) == 1
    assert row.buttons[0].tolist() == [b in {"south", "dpad_up", "right_trigger"} for b in BUTTONS]
    assert np.allclose(row.j_left[0], [0.25, -0.5]) and np.allclose(row.j_right[0], [-1.0, 0.1])
    assert state.triggers == (0.0, 0.3)  # the analogue pull stays with the State for drawing
    # A light touch under the contract's 0.1 is not a press.
    assert not envs.state_to_row(make_state(right_trigger=0.05)).button("right_trigger")[0]
    # Replaying a recorded row gives back the same row.
    again = envs.state_to_row(envs.action_to_state(envs.row_to_action(row, 0)))
    assert again.equals(row)


def test_direction8_dead_zone_sectors_and_dpad() -> None:
    assert envs.direction8(make_state(j_left=(0.2, 0.1))) == (0, 0)
    assert envs.direction8(make_state(j_left=(0.9, 0.05))) == (1, 0)
    assert envs.direction8(make_state(j_left=(0.6, -0.6))) == (1, -1)
    assert envs.direction8(make_state(j_left=(-0.1, 0.8))) == (0, 1)
    assert envs.direction8(make_state({"dpad_left"}, j_left=(1.0, 0.0))) == (-1, 0)


def test_projection_keeps_what_the_game_has() -> None:
    names = ["NOOP", "FIRE", "RIGHT", "LEFT"]  # Breakout's action set
    table = projection_table(names)
    assert names[table[(0, -1, True)]] == "FIRE"
    assert names[table[(1, 1, True)]] == "RIGHT"
    assert names[table[(0, 1, False)]] == "NOOP"
    full = projection_table(["NOOP", "FIRE", "UP", "UPFIRE", "DOWN"])
    assert [full[(0, -1, True)], full[(-1, 1, False)]] == [3, 4]


def test_tics_keep_real_time() -> None:
    assert sum(tics_schedule(30, None, k) for k in range(30)) == 35
    assert sum(tics_schedule(60, None, k) for k in range(120)) == 70
    assert {tics_schedule(30, 2, k) for k in range(10)} == {2}


# -- the games ---------------------------------------------------------------------------
def test_registered_and_listed() -> None:
    ids = envs.game_ids()
    assert sum(envs.get_game(i).engine == "ale" for i in ids) >= 8
    assert sum(envs.get_game(i).engine == "doom" for i in ids) >= 4
    assert all(i in gymnasium.registry for i in ids)
    assert envs.get_game("breakout").id == "nitrogen/Breakout-v0"
    result = CliRunner().invoke(app, ["games", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split("\t")[0] for line in lines] == ids
    assert all(line.split("\t")[2] in ("scripted", "noisy") for line in lines)


def test_games_list_subprocess_and_show() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "nitrogen_cli", "games", "list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "nitrogen/Breakout-v0\tale\tscripted\tbreakout" in out.splitlines()
    shown = CliRunner().invoke(app, ["games", "show", "Pong"])
    assert shown.exit_code == 0 and "up/down move the paddle" in shown.output
    bad = CliRunner().invoke(app, ["games", "show", "NoSuchGame"])
    assert bad.exit_code == 2 and "unknown game" in bad.output


def test_breakout_south_launches_the_ball() -> None:
    env = gymnasium.make("nitrogen/Breakout-v0")
    obs, info = env.reset(seed=0)
    assert obs.shape == (210, 160, 3) and obs.dtype == np.uint8
    ram = env.unwrapped.ram
    for _ in range(45):  # without south the ball stays in its box
        obs, _, _, _, info = env.step(make_state(j_left=(0.8, 0.0)))
        assert ram()[101] == 0
    ball_y = []
    for t in range(60):
        _, _, _, _, info = env.step(envs.state_to_action(make_state({"south"} if t < 2 else ())))
        ball_y.append(int(ram()[101]))
    assert ball_y[0] > 0 and ball_y[5] > ball_y[0]  # launched, falling
    assert info["lives"] == 4  # and, with the paddle parked, missed
    env.close()


def test_pong_paddle_follows_the_vertical_stick() -> None:
    env = envs.make_env("Pong", noop_max=0)
    env.reset(seed=0)
    y = env.unwrapped.ram
    for _ in range(10):
        env.step(make_state({"dpad_down"}))
    low = int(y()[51])
    for _ in range(10):
        env.step(make_state(j_left=(0.1, -0.9)))
    assert int(y()[51]) < low - 10  # stick up moved the paddle up the screen
    env.close()


def test_ale_frame_rate_and_cap() -> None:
    env = envs.make_env("Freeway", fps=60, max_seconds=0.5)
    _, info = env.reset(seed=1)
    start = info["episode_frame_number"]
    steps = 0
    while True:
        _, _, term, trunc, info = env.step({})
        steps += 1
        if term or trunc:
            break
    assert trunc and steps == 30 and info["episode_frame_number"] - start == 30
    env.close()
    env = envs.make_env("Freeway", fps=30)
    env.reset(seed=1)
    env.step({})
    assert len(env.unwrapped.frame_rams) == 2
    env.close()
    with pytest.raises(ValueError):
        envs.make_env("Freeway", fps=25)


def test_doom_attack_fires() -> None:
    env = gymnasium.make("nitrogen/DoomBasic-v0")
    obs, info = env.reset(seed=3)
    assert obs.shape == (240, 320, 3) and obs.dtype == np.uint8
    ammo = info["selected_weapon_ammo"]
    for _ in range(15):  # not pressing: nothing is spent
        _, _, _, _, info = env.step(make_state())
    assert info["selected_weapon_ammo"] == ammo
    for _ in range(15):  # an analogue pull of the trigger past 0.1 attacks
        _, _, term, trunc, info = env.step(make_state(right_trigger=0.4))
        if term or trunc:
            break
    assert env.unwrapped.game.get_game_variable(__import__("vizdoom").GameVariable.AMMO2) < ammo
    env.close()


def test_doom_sticks_walk_and_turn() -> None:
    env = envs.make_env("DoomDefendTheCenter", resolution=(640, 480))
    obs, info = env.reset(seed=0)
    assert obs.shape == (480, 640, 3)
    a0 = info["angle"]
    for _ in range(3):
        _, _, _, _, info = env.step(make_state(j_right=(0.5, 0.0)))
    turned = (a0 - info["angle"]) % 360  # + on the stick turns right (clockwise)
    assert 5 < turned < 30
    env.close()
    env = envs.make_env("DoomBasic")
    _, info = env.reset(seed=0)
    x0 = info["position_x"]  # facing east: stick up walks towards +x
    for _ in range(6):
        _, _, _, _, info = env.step(make_state(j_left=(0.0, -1.0)))
    assert info["position_x"] > x0 + 20
    env.close()


def test_doom_accepts_a_dict_action_and_is_seeded() -> None:
    def run() -> list[float]:
        env = envs.make_env("DoomDefendTheLine")
        env.action_space.seed(5)
        env.reset(seed=5)
        rewards = []
        for _ in range(40):
            _, r, _, _, info = env.step(env.action_space.sample())
            rewards.append(r)
        env.close()
        return [*rewards, info["health"], info["position_x"]]

    assert run() == run()


@pytest.mark.slow
def test_every_game_plays_with_its_player() -> None:
    """Every listed game resets and plays a few seconds with its own player, so every one
    can appear in a corpus."""
    from nitrogen_cli.envs.players import make_player

    for gid in envs.game_ids():
        env = envs.make_env(gid, disable_env_checker=True)
        player = make_player(gid, seed=1)
        obs, info = env.reset(seed=1)
        player.reset(obs, info)
        seen = set()
        for _ in range(60):
            state = player.act(obs, info, env)
            assert isinstance(state, State)
            seen.add(envs.state_to_row(state).to_flat().tobytes())
            obs, _, term, trunc, info = env.step(state)
            assert env.observation_space.contains(obs)
            if term or trunc:
                obs, info = env.reset()
                player.reset(obs, info)
        assert len(seen) > 1, gid  # it does press something
        env.close()
