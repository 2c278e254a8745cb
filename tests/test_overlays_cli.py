"""`nitrogen overlays list|render` through CliRunner and a real subprocess."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from nitrogen_cli.actions import State
from nitrogen_cli.cli import app
from nitrogen_cli.overlays import get_template, read_png, render, skin_ids
from tests.helpers import run_cli

runner = CliRunner()


def test_list_prints_one_tab_separated_line_per_template() -> None:
    result = runner.invoke(app, ["overlays", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == skin_ids()
    tid, layout, size, shows = lines[0].split("\t")
    t = get_template(tid)
    assert layout == t.layout and size == f"{t.size[0]}x{t.size[1]}"
    assert shows.split(",") == list(t.shows)


def test_list_adds_preset_folders_and_can_drop_the_builtins(shared_presets: Path) -> None:
    both = runner.invoke(app, ["overlays", "list", "--templates", str(shared_presets / "ds3")])
    assert both.exit_code == 0
    ids = [line.split("\t")[0] for line in both.stdout.splitlines()]
    assert (
        ids[-3:] == ["ds3/ds3", "ds3/ds3_black", "ds3/ds3_white"]
        and len(ids) == len(skin_ids()) + 3
    )
    only = runner.invoke(
        app,
        [
            "overlays",
            "list",
            "-t",
            str(shared_presets / "hitbox"),
            "-t",
            str(shared_presets / "nes"),
            "--no-builtin",
        ],
    )
    assert only.stdout.splitlines() == [
        "hitbox/hitbox\thitbox@hitbox\t796x521\tleft_trigger,right_trigger",
        "nes/NES\tnes@NES\t800x377\tback,dpad_down,dpad_left,dpad_right,dpad_up,east,south,start",
    ]


def test_render_writes_the_state_as_a_png(tmp_path: Path) -> None:
    out = tmp_path / "pad.png"
    state = '{"south": true, "j_left": [0.5, -1], "right_trigger": 0.6}'
    result = runner.invoke(
        app,
        [
            "overlays",
            "render",
            "builtin/xbox-white",
            "--state",
            state,
            "--scale",
            "0.5",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    img = read_png(out)
    t = get_template("builtin/xbox-white")
    expect = t.render(
        State.from_mapping({"south": True, "j_left": [0.5, -1], "right_trigger": 0.6}), 0.5
    )
    assert np.array_equal(img, expect) and img.shape == (150, 240, 4)
    assert not np.array_equal(img, t.render(None, 0.5))


def test_unknown_id_and_bad_state_are_one_line_usage_errors(tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    cases = [
        (["builtin/xbox-whit"], "did you mean builtin/xbox-white"),
        (["builtin/xbox-white", "--state", "{south: true"], "--state"),
        (["builtin/xbox-white", "--state", '{"south": 1}'], "south must be true or false"),
        (["builtin/xbox-white", "--state", '{"j_left": [2, 0]}'], "j_left must lie in"),
        (["builtin/xbox-white", "--state", '{"jump": true}'], "unknown element"),
        (["builtin/xbox-white", "--state", "[1]"], "JSON object"),
        (["builtin/xbox-white", "--scale", "0"], "--scale"),
    ]
    for args, words in cases:
        result = runner.invoke(app, ["overlays", "render", *args, "-o", str(out)])
        assert result.exit_code == 2, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], lines
        assert "Traceback" not in result.output
    assert not out.exists()
    missing = runner.invoke(app, ["overlays", "list", "--templates", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no such folder" in missing.stderr


def test_real_cli_in_a_subprocess(tmp_path: Path, shared_presets: Path) -> None:
    listed = run_cli(
        "overlays", "list", "--no-builtin", "-t", str(shared_presets / "gameboy-pixel")
    )
    assert listed.returncode == 0, listed.stderr
    ids = [line.split("\t")[0] for line in listed.stdout.splitlines()]
    assert len(ids) == 16 and "gameboy-pixel/gameboy@overlay-analog" in ids
    out = tmp_path / "gb.png"
    drawn = run_cli(
        "overlays",
        "render",
        "gameboy-pixel/gameboy@overlay",
        "-t",
        str(shared_presets),
        "--no-builtin",
        "-s",
        '{"dpad_up": true, "south": true}',
        "--scale",
        "10",
        "-o",
        str(out),
    )
    assert drawn.returncode == 0, drawn.stderr
    assert drawn.stdout.strip() == str(out)
    t = get_template("gameboy-pixel/gameboy@overlay", [shared_presets / "gameboy-pixel"])
    small = render(t, State(pressed=frozenset({"dpad_up", "south"})))
    assert np.array_equal(read_png(out), np.repeat(np.repeat(small, 10, 0), 10, 1))
    bad = run_cli("overlays", "render", "no/such", "-o", str(tmp_path / "n.png"))
    assert (
        bad.returncode == 2 and bad.stderr.startswith("Error: ") and "Traceback" not in bad.stderr
    )
