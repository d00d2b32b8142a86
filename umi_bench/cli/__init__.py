"""The ``umi-bench`` command line: parse, call one library function, print.

Commands live one group per file in this package and are imported lazily (so ``--help`` and tab
completion stay fast). A :class:`~umi_bench.errors.UmiBenchError` becomes one ``Error: ...`` line and
exit code 1; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import importlib
import logging
import os

import click

from umi_bench.errors import UmiBenchError

# command name -> "module:attribute" (a click command or group), imported on first use.
COMMANDS: dict[str, str] = {
    "bench": "umi_bench.cli.bench:bench",
    "scale": "umi_bench.cli.bench:scale",
    "lake": "umi_bench.cli.lake:lake",
    "sql": "umi_bench.cli.sql:sql",
    "demo": "umi_bench.cli.demo:demo",
    "viz": "umi_bench.cli.viz:viz",
    "dashboard": "umi_bench.cli.dashboard:dashboard",
    "ingest": "umi_bench.cli.ingest:ingest",
    "synth": "umi_bench.cli.synth:synth",
    "export": "umi_bench.cli.export:export",
    "sim": "umi_bench.cli.sim:sim",
    "study": "umi_bench.cli.study:study",
    "vocab": "umi_bench.cli.vocab:vocab",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

    def invoke(self, ctx: click.Context):
        # The single error boundary: library errors become "Error: ..." and exit code 1.
        try:
            return super().invoke(ctx)
        except UmiBenchError as e:
            raise click.ClickException(str(e)) from e


@click.group(cls=LazyGroup)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="umi-bench")
def cli(verbose: int) -> None:
    """umi-bench: ingest, query, replay and benchmark robot-manipulation data."""
    # Headless rendering for MuJoCo; set before any command imports mujoco (the library never sets it).
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="umi-bench")
