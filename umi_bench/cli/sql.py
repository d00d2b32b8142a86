"""`umi-bench sql`: DuckDB over the lake, read-only by default."""

from __future__ import annotations

import json

import click

from umi_bench.cli._output import format_table
from umi_bench.query import run_query


@click.command()
@click.argument("query")
@click.option("--lake", "lake_path", default="./demo-lake", show_default=True, type=click.Path(exists=True, file_okay=False), help="Lake folder.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table", show_default=True, help="Output format.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file instead of stdout (required for parquet).")
@click.option("--read-only/--read-write", default=True, show_default=True, help="Sandbox the query: no writes, no files outside the lake.")
def sql(query: str, lake_path: str, fmt: str, out: str | None, read_only: bool) -> None:
    """Run SQL over the lake's views: embodiments, episodes, frames, imu, runs, rollouts, fits, leaderboard.

    Example: umi-bench sql "SELECT source_kind, count(*) FROM episodes GROUP BY 1" --lake ./demo-lake
    """
    table = run_query(lake_path, query, read_only=read_only)
    if table is None:
        click.echo("ok")
        return
    if fmt == "parquet":
        if not out:
            raise click.UsageError("--format parquet needs --out FILE")
        import pyarrow.parquet as pq

        pq.write_table(table, out)
        click.echo(f"wrote {table.num_rows} rows to {out}")
        return
    if fmt == "csv":
        import pyarrow.csv as pacsv
        import io

        buffer = io.BytesIO()
        flat = table.select([c for c in table.column_names])
        flat = _stringify_nested(flat)
        pacsv.write_csv(flat, buffer)
        text = buffer.getvalue().decode()
    elif fmt == "json":
        text = json.dumps(table.to_pylist(), default=str, indent=1)
    else:
        text = format_table(table)
    if out:
        with open(out, "w") as f:
            f.write(text)
        click.echo(f"wrote {table.num_rows} rows to {out}")
    else:
        click.echo(text)


def _stringify_nested(table):
    """CSV cannot hold lists or structs: write them as JSON strings."""
    import pyarrow as pa

    for i, field in enumerate(table.schema):
        if pa.types.is_nested(field.type):
            values = [json.dumps(v, default=str) if v is not None else None for v in table.column(i).to_pylist()]
            table = table.set_column(i, field.name, pa.array(values, pa.string()))
    return table
