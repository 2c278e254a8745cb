"""`nitrogen games list|show`: the games behind the universal gamepad, and their mappings."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from nitrogen_cli.batch import Quiet, Reporter, Verbose

app = typer.Typer(
    name="games",
    help="List the games (Atari via ale-py, Doom via ViZDoom) that take the universal "
    "gamepad, and show how each maps the pad.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

USAGE = 2


def game_rows() -> list[tuple[str, str, str, str]]:
    """(id, engine, player kind, ROM or scenario) for every registered game."""
    from nitrogen_cli.envs import GAMES
    from nitrogen_cli.envs.players import has_scripted

    return [
        (g.id, g.engine, "scripted" if has_scripted(g.id) else "noisy", g.source)
        for g in GAMES.values()
    ]


def describe_game(game: str) -> list[tuple[str, str]]:
    """(field, value) lines that say what a game is and what each control does in it."""
    from nitrogen_cli.envs import get_game
    from nitrogen_cli.envs.players import has_scripted

    spec = get_game(game)
    cap = "the scenario's own" if spec.max_seconds is None else f"{spec.max_seconds:g} s"
    lines = [
        ("id", spec.id),
        ("engine", spec.engine),
        ("source", spec.source),
        ("player", "scripted" if has_scripted(spec.id) else "noisy"),
        ("episode cap", cap),
        ("summary", spec.summary),
    ]
    lines += [(control, effect) for control, effect in spec.mapping]
    return lines


@app.command("list")
def list_games(quiet: Quiet = False, verbose: Verbose = 0) -> None:
    """Print one game per line: id, engine (ale or doom), player (scripted or noisy),
    and the ALE ROM or ViZDoom scenario it wraps.

    Off a terminal the fields are tab-separated, the id first; each id works with
    gymnasium.make after `import nitrogen_cli.envs`.
    """
    from nitrogen_cli.report import print_table

    print_table(("id", "engine", "player", "source"), game_rows())


@app.command("show")
def show_game(
    game: Annotated[str, typer.Argument(help="A game id or name, e.g. nitrogen/Pong-v0 or Pong.")],
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Print what a game is and how the gamepad maps onto it, one control a line
    (tab-separated off a terminal)."""
    reporter = Reporter(quiet, verbose)
    try:
        lines = describe_game(game)
    except KeyError as exc:
        reporter.error(None, str(exc.args[0]))
        raise typer.Exit(USAGE) from None
    if sys.stdout.isatty():
        width = max(len(k) for k, _ in lines)
        for key, value in lines:
            sys.stdout.write(f"{key:<{width}}  {value}\n")
    else:
        for key, value in lines:
            sys.stdout.write(f"{key}\t{value}\n")
    sys.stdout.flush()


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="games")
