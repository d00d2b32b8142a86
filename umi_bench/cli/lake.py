"""`umi-bench lake init|info|validate`."""

from __future__ import annotations

import click

from umi_bench.cli._output import echo_json
from umi_bench.errors import ValidationError
from umi_bench.lake import Lake


@click.group()
def lake() -> None:
    """Create and inspect lakes."""


@lake.command()
@click.argument("path", type=click.Path(file_okay=False))
def init(path: str) -> None:
    """Create an empty lake folder.

    Example: umi-bench lake init ./my-lake
    """
    created = Lake.create(path)
    click.echo(f"created lake at {created.root} (schema v{created.manifest()['schema_version']})")


@lake.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(path: str, as_json: bool) -> None:
    """Show a lake's version, row counts and ingests.

    Example: umi-bench lake info ./demo-lake --json
    """
    summary = Lake.open(path).info()
    if as_json:
        echo_json(summary)
        return
    click.echo(f"lake {summary['root']}  version {summary['version']}  schema v{summary['schema_version']}  ingests {summary['ingests']}")
    for table, n in summary["rows"].items():
        click.echo(f"  {table:<12} {n:>12,d} rows")


@lake.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print problems as JSON.")
def validate(path: str, as_json: bool) -> None:
    """Re-check every committed file against schema v1; exit 1 if anything is wrong.

    Example: umi-bench lake validate ./demo-lake
    """
    problems = Lake.open(path).validate()
    if as_json:
        echo_json({"ok": not problems, "problems": problems})
    elif not problems:
        click.echo("ok: lake is consistent with schema v1")
    if problems:
        raise ValidationError(f"{len(problems)} problem(s) in {path}:\n" + "\n".join(problems))
