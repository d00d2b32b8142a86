"""Scaling: success (or failure rate) against a data axis on log-log axes, with fitted power laws."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboard import context
from umi_bench import reports

st.title("Scaling")
con = context.cursor()
options = reports.scaling_options(con)
if not options["task"]:
    st.info("No scaling sweeps in this lake yet. Run `umi-bench scale ...` to add some.")
    st.stop()

c1, c2, c3 = st.columns(3)
task = c1.selectbox("Task", options["task"], key="sc_task")
axis = c2.selectbox("Axis", options["axis"], key="sc_axis")
view = c3.radio("View", ["success rate", "failure rate"], horizontal=True, key="sc_view")

points = reports.scaling_points(con, task=task, axis=axis)
fits = reports.scaling_fits(con, task=task, axis=axis)
sweeps = sorted(set(points["sweep_id"].to_list()))
if len(sweeps) > 1:
    sweep = st.selectbox("Sweep", sweeps, key="sc_sweep")
    points = points.filter(pl.col("sweep_id") == sweep)
    fits = fits.filter(pl.col("sweep_id") == sweep)
policies = sorted(set(points["policy"].to_list()))
chosen = st.multiselect("Policies", policies, default=policies, key="sc_policies")
points = points.filter(pl.col("policy").is_in(chosen))
failure = view == "failure rate"
form = "failure_rate" if failure else "power"
fits_shown = fits.filter(pl.col("policy").is_in(chosen) & (pl.col("form") == form))

fig = go.Figure()
for i, policy in enumerate(chosen):
    color = f"hsl({(i * 137) % 360}, 60%, 45%)"
    pts = points.filter(pl.col("policy") == policy)
    if pts.height == 0:
        continue
    y = pts["failure_rate"] if failure else pts["success_rate"]
    # Interval of the failure rate is the mirrored Wilson interval of the success rate.
    upper = (1 - pts["ci_low"]) if failure else pts["ci_high"]
    lower = (1 - pts["ci_high"]) if failure else pts["ci_low"]
    fig.add_trace(go.Scatter(
        x=pts["axis_value"].to_list(), y=y.to_list(), mode="markers", name=f"{policy} (k/n, 95% CI)",
        marker={"color": color, "size": 9},
        error_y={"type": "data", "symmetric": False, "array": (upper - y).to_list(), "arrayminus": (y - lower).to_list()},
    ))
    fit = fits_shown.filter(pl.col("policy") == policy)
    if fit.height:
        f = fit.row(0, named=True)
        x, sr = reports.power_law_curve(f["a"], f["b"], float(pts["axis_value"].min()), float(pts["axis_value"].max()), form=form)
        curve = 1 - sr if failure else sr
        fig.add_trace(go.Scatter(x=x.tolist(), y=curve.tolist(), mode="lines", line={"color": color, "dash": "dash"},
                                 name=f"{policy} fit: b = {f['b']:.2f}, R² = {f['r2'] if f['r2'] is not None else float('nan'):.2f}"))
fig.update_layout(
    xaxis={"type": "log", "title": f"{axis} (log)"},
    yaxis={"type": "log", "title": f"{view} (log)"},
    height=480, margin={"l": 10, "r": 10, "t": 30, "b": 40}, legend={"orientation": "h"},
)
st.plotly_chart(fig, key="sc_chart")
hidden = points.filter((pl.col("failure_rate") if failure else pl.col("success_rate")) <= 0).height
if hidden:
    st.caption(f"{hidden} point(s) with a {view} of 0 cannot be drawn on log axes (see the table below).")

st.subheader("Fits")
if fits_shown.height == 0:
    st.info(f"No stored {form} fits for these policies.")
else:
    st.dataframe(
        fits_shown.select("policy", "form", pl.col("b").alias("exponent"), "b_ci_low", "b_ci_high", "r2", "a", "n_points", "too_few_points", "sweep_id"),
        hide_index=True, width="stretch", key="sc_fits",
    )
st.subheader("Points")
st.dataframe(points, hide_index=True, width="stretch", key="sc_points")
