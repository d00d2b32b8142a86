"""Which lake the dashboard shows, and its cached read-only DuckDB connection.

The lake comes from ``--lake PATH`` after ``--`` on the ``streamlit run`` command line (what
``umi-bench dashboard --lake L`` passes), else from the ``UMI_BENCH_LAKE`` environment variable.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import duckdb
import streamlit as st

from umi_bench.errors import UmiBenchError
from umi_bench.lake import Lake
from umi_bench.query import connect

LAKE_ENV = "UMI_BENCH_LAKE"


def lake_root() -> Path | None:
    """The lake folder given on the command line or in ``UMI_BENCH_LAKE`` (None when neither is set)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--lake")
    args, _ = parser.parse_known_args(sys.argv[1:])
    value = args.lake or os.environ.get(LAKE_ENV)
    return Path(value).resolve() if value else None


@st.cache_resource(show_spinner=False, max_entries=4)
def _connection(root: str, version: int) -> duckdb.DuckDBPyConnection:
    """One sandboxed connection per (lake, commit counter): a new commit opens fresh views."""
    return connect(root, read_only=True)


def lake() -> Lake:
    """The open lake, or stop the page with an error message."""
    root = lake_root()
    if root is None:
        st.error(f"No lake given: run `umi-bench dashboard --lake PATH` (or set {LAKE_ENV}).")
        st.stop()
    try:
        return Lake.open(root)
    except UmiBenchError as e:
        st.error(f"Cannot open the lake: {e}")
        st.stop()


def cursor() -> duckdb.DuckDBPyConnection:
    """A cursor on the cached read-only connection (one per script run: DuckDB cursors are not shared
    across Streamlit's session threads)."""
    opened = lake()
    return _connection(str(opened.root), opened.version).cursor()
