"""SQL: a read-only query box over the lake views (writes and files outside the lake are refused)."""

from __future__ import annotations

import streamlit as st

from dashboard import context
from umi_bench import reports
from umi_bench.errors import QueryError

DEFAULT = "SELECT source_kind, status, count(*) AS episodes, sum(n_frames) AS frames\nFROM episodes GROUP BY ALL ORDER BY episodes DESC"
MAX_ROWS = 10_000

st.title("SQL")
st.caption(
    "Read-only DuckDB over the views `embodiments`, `episodes`, `frames`, `imu`, `runs`, `rollouts`, `fits`, "
    f"`leaderboard`. One SELECT per run; at most {MAX_ROWS:,} rows are shown."
)
with st.form("sql_form"):
    sql = st.text_area("Query", DEFAULT, height=140, key="sql_text")
    st.form_submit_button("Run", type="primary")
try:
    result = reports.read_only_query(context.cursor(), sql, max_rows=MAX_ROWS)
except QueryError as e:
    st.error(f"Query refused or failed: {e}")
else:
    st.caption(f"{result.height} rows")
    st.dataframe(result, hide_index=True, width="stretch", key="sql_result")
