"""Leaderboard: one row per (policy, task, dataset slice, protocol), sorted by the Wilson lower bound."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboard import context
from umi_bench import reports

ALL = "(all)"

st.title("Leaderboard")
con = context.cursor()
options = reports.leaderboard_options(con)

c1, c2, c3 = st.columns(3)
task = c1.selectbox("Task", [ALL] + options["task"], key="lb_task")
embodiment = c2.selectbox("Embodiment", [ALL] + options["embodiment"], key="lb_embodiment")
policy = c3.selectbox("Policy", [ALL] + options["policy"], key="lb_policy")

board = reports.leaderboard(
    con,
    task=None if task == ALL else task,
    embodiment=None if embodiment == ALL else embodiment,
    policy=None if policy == ALL else policy,
)
st.caption(
    f"{board.height} entries · success k/n pooled over training seeds · 95% Wilson interval · "
    "sorted by the interval's lower bound · scaling-sweep runs are on the Scaling page"
)
if board.height == 0:
    st.info("No benchmark runs match. Run `umi-bench bench ...` to add some.")
    st.stop()

best = board.row(0, named=True)
if best["success_rate"] is not None:
    st.markdown(
        f"**Leader:** `{best['policy']}` on `{best['task']}` — {best['success']} successes, rate {best['success_rate']:.2f} "
        f"(95% CI {best['ci_low']:.2f}–{best['ci_high']:.2f}), protocol {best['protocol_version']}"
    )

table = board.select(
    "policy", "task",
    pl.col("dataset_where").alias("slice"),
    pl.col("protocol_version").alias("protocol"),
    pl.col("embodiment_ids").list.join(", ").alias("embodiments"),
    "success", pl.col("success_n").alias("n"), pl.col("success_rate").alias("rate"),
    "ci_low", "ci_high", pl.col("heldout_action_error").alias("heldout_err_m"),
    "train_time_s", "n_runs", "lake_version", "code_version",
)
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    key="lb_table",
    column_config={
        "rate": st.column_config.NumberColumn("rate", format="%.3f"),
        "ci_low": st.column_config.NumberColumn("95% low", format="%.3f"),
        "ci_high": st.column_config.NumberColumn("95% high", format="%.3f"),
        "heldout_err_m": st.column_config.NumberColumn("held-out action error [m]", format="%.4f"),
        "train_time_s": st.column_config.NumberColumn("train time [s]", format="%.1f"),
    },
)

rated = board.filter(pl.col("success_rate").is_not_null())
if rated.height:
    labels = [f"{r['policy']} · {r['task']} · {r['protocol_version']} · #{i + 1}" for i, r in enumerate(rated.iter_rows(named=True))]
    fig = go.Figure(go.Scatter(
        x=rated["success_rate"].to_list(),
        y=labels,
        mode="markers",
        error_x={
            "type": "data", "symmetric": False,
            "array": (rated["ci_high"] - rated["success_rate"]).to_list(),
            "arrayminus": (rated["success_rate"] - rated["ci_low"]).to_list(),
        },
        text=rated["success"].to_list(),
        hovertemplate="%{y}<br>rate %{x:.3f} (%{text})<extra></extra>",
    ))
    fig.update_layout(
        xaxis={"title": "success rate (95% Wilson interval)", "range": [0, 1]},
        yaxis={"autorange": "reversed"}, height=140 + 28 * rated.height, margin={"l": 10, "r": 10, "t": 36, "b": 40},
    )
    st.plotly_chart(fig, key="lb_chart")

st.subheader("Rollouts")
choices = [f"#{i + 1} {r['policy']} · {r['task']} · {r['dataset_where']} · {r['protocol_version']}" for i, r in enumerate(board.iter_rows(named=True))]
picked = st.selectbox("Drill down into", choices, key="lb_drill")
row = board.row(choices.index(picked), named=True)
runs = reports.rollouts(con, policy=row["policy"], task=row["task"], dataset_where=row["dataset_where"], protocol_version=row["protocol_version"])
if runs.height == 0:
    st.info("No rollouts recorded for this entry (offline score only).")
else:
    st.caption(f"{runs.height} rollouts over {runs['run_id'].n_unique()} runs · {int(runs['success'].sum())} successes")
    st.dataframe(runs, hide_index=True, width="stretch", key="lb_rollouts")
