"""The umi-bench dashboard: ``streamlit run dashboard/app.py -- --lake PATH`` (or ``umi-bench dashboard``).

Pages (``dashboard/views/``): Leaderboard, Scaling, Data, Episode, SQL. Each page calls
:mod:`umi_bench.reports` (SQL over the lake views) and only formats and plots.
"""

from __future__ import annotations

import streamlit as st

from dashboard import context

st.set_page_config(page_title="umi-bench", layout="wide")

PAGES = [
    st.Page("views/leaderboard.py", title="Leaderboard", url_path="leaderboard", default=True),
    st.Page("views/scaling.py", title="Scaling", url_path="scaling"),
    st.Page("views/data.py", title="Data", url_path="data"),
    st.Page("views/episode.py", title="Episode", url_path="episode"),
    st.Page("views/sql.py", title="SQL", url_path="sql"),
]

page = st.navigation(PAGES)
opened = context.lake()
st.sidebar.caption(f"lake `{opened.root}` · version {opened.version}")
page.run()
