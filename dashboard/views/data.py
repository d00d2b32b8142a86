"""Data: what the lake holds (by source kind, embodiment, environment, object, operator) and its quality."""

from __future__ import annotations

import plotly.express as px
import polars as pl
import streamlit as st

from dashboard import context
from umi_bench import reports

st.title("Data")
con = context.cursor()
overview = reports.lake_overview(con)
cols = st.columns(5)
for col, (label, key) in zip(cols, [("Episodes", "episodes"), ("Accepted", "accepted"), ("Rejected", "rejected"), ("Frames", "frames"), ("Embodiments", "embodiments")]):
    col.metric(label, f"{overview[key]:,}")
if overview["episodes"] == 0:
    st.info("The lake has no episodes yet. Ingest some with `umi-bench ingest ...`.")
    st.stop()

st.subheader("Episodes by")
by = st.radio("Dimension", list(reports.BREAKDOWNS), horizontal=True, key="data_by", label_visibility="collapsed")
breakdown = reports.episode_breakdown(con, by)
long = breakdown.unpivot(index="value", on=["accepted", "rejected"], variable_name="status", value_name="count")
fig = px.bar(long, x="value", y="count", color="status", barmode="stack",
             color_discrete_map={"accepted": "#2e7d32", "rejected": "#c62828"}, labels={"value": by})
fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 10, "b": 40})
st.plotly_chart(fig, key="data_bar")
st.dataframe(breakdown, hide_index=True, width="stretch", key="data_breakdown",
             column_config={"hours": st.column_config.NumberColumn("hours", format="%.3f")})

st.subheader("Quality")
quality = reports.quality_table(con)
metric_cols = st.columns(2)
for i, (metric, label) in enumerate(reports.QUALITY_METRICS.items()):
    values = quality.filter(pl.col(metric).is_not_null())
    with metric_cols[i % 2]:
        if values.height == 0:
            st.caption(f"{label}: no episode reports it")
            continue
        fig = px.histogram(values, x=metric, color="status", nbins=20, barmode="overlay",
                           color_discrete_map={"accepted": "#2e7d32", "rejected": "#c62828"}, labels={metric: label})
        fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 30, "b": 40}, title={"text": f"{label} ({values.height} episodes)"})
        st.plotly_chart(fig, key=f"data_hist_{metric}")

st.subheader("Rejected episodes")
rejected = reports.rejected_episodes(con)
if rejected.height == 0:
    st.success("No rejected episodes.")
else:
    rejected = rejected.with_columns(("episode?episode=" + pl.col("episode_id")).alias("open"))
    st.dataframe(rejected, hide_index=True, width="stretch", key="data_rejected",
                 column_config={"open": st.column_config.LinkColumn("open", display_text="episode page")})
