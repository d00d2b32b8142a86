"""Shared output helpers for CLI commands: JSON and small text tables."""

from __future__ import annotations

import json
from typing import Any

import click


def echo_json(data: Any) -> None:
    """Print data as indented JSON (numpy/pathlib values are stringified)."""
    click.echo(json.dumps(data, indent=2, default=str))


def format_table(table, max_rows: int = 50) -> str:
    """A pyarrow Table as an aligned text table (at most ``max_rows`` rows)."""
    names = table.column_names
    rows = table.slice(0, max_rows).to_pylist()
    cells = [[_cell(r[n]) for n in names] for r in rows]
    widths = [max([len(n)] + [len(c[i]) for c in cells]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    if table.num_rows > max_rows:
        lines.append(f"... {table.num_rows - max_rows} more row(s)")
    lines.append(f"({table.num_rows} row{'s' if table.num_rows != 1 else ''})")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    text = "NULL" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "..."
