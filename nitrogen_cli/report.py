"""Report tables on stdout: a rich table on a terminal, plain tab-separated lines in a pipe.

Every report command (list commands, eval tables, `filter --report`) prints through
`print_table`, so all of them behave alike: off a TTY there are no borders and no
header, and the first field of each line is an id that other commands accept.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(cell(v) for v in value)
    return str(value)


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    title: str | None = None,
    out: TextIO | None = None,
    header_in_pipe: bool = False,
) -> None:
    """Print `rows`; the first column must be the id of what each row describes."""
    out = out or sys.stdout
    if out.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for i, name in enumerate(columns):
            table.add_column(name, justify="left" if i == 0 else "right", overflow="fold")
        for row in rows:
            table.add_row(*(cell(v) for v in row))
        Console(file=out).print(table)
        return
    if header_in_pipe:
        out.write("#" + "\t".join(columns) + "\n")
    for row in rows:
        out.write("\t".join(cell(v) for v in row) + "\n")
    out.flush()


def write_json(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write a JSON report atomically (figures only: NaN becomes null)."""
    from nitrogen_cli.batch import atomic_path

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, Mapping):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if hasattr(v, "item"):  # numpy scalars
            return clean(v.item())
        return v

    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(clean(dict(data)), indent=2) + "\n")
    return Path(path)
