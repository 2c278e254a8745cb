"""Every registered subcommand has --help text and a man page that `man -l` can read."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from nitrogen_cli.cli import app

MAN = Path(__file__).resolve().parents[1] / "man"


def commands() -> list[tuple[list[str], str]]:
    """(argv, man page name) for every command and command group the app registers."""
    out: list[tuple[list[str], str]] = []
    for cmd in app.registered_commands:
        name = cmd.name or cmd.callback.__name__.replace("_", "-")
        out.append(([name], f"nitrogen-{name}"))
    for group in app.registered_groups:
        name = group.name or group.typer_instance.info.name
        out.append(([name], f"nitrogen-{name}"))
        sub: typer.Typer = group.typer_instance
        for cmd in sub.registered_commands:
            sub_name = cmd.name or cmd.callback.__name__.replace("_", "-")
            out.append(([name, sub_name], f"nitrogen-{name}"))
    return out


def test_something_is_registered() -> None:
    names = {argv[0] for argv, _ in commands()}
    assert "show" in names


@pytest.mark.parametrize(
    ("argv", "page"), commands(), ids=lambda x: "-".join(x) if isinstance(x, list) else x
)
def test_help_and_man_page(argv: list[str], page: str) -> None:
    result = CliRunner().invoke(app, [*argv, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    # Beyond the usage line there is a real description.
    assert len(result.output.strip().splitlines()) > 3
    assert (MAN / f"{page}.1").is_file(), f"man/{page}.1 is missing"


def man_pages() -> list[Path]:
    return sorted(MAN.glob("*.[1-8]"))


def test_top_level_pages_exist() -> None:
    assert (MAN / "nitrogen.1").is_file() and (MAN / "nitrogen-formats.5").is_file()


@pytest.mark.parametrize("page", man_pages(), ids=lambda p: p.name)
def test_man_page_renders(page: Path) -> None:
    if shutil.which("man") is None:
        pytest.skip("man is not installed")
    proc = subprocess.run(
        ["man", "--warnings", "-l", str(page)],
        capture_output=True,
        text=True,
        env={"MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "NAME" in proc.stdout and len(proc.stdout.splitlines()) > 10
    assert proc.stderr.strip() == "", proc.stderr
