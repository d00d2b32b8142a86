"""Episode: metadata, TCP and gripper plots (decimated in SQL), and a Rerun recording on demand."""

from __future__ import annotations

import tempfile
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from dashboard import context
from umi_bench import reports, viz
from umi_bench.errors import UmiBenchError

st.title("Episode")
con = context.cursor()
episodes = reports.episode_list(con)
if episodes.height == 0:
    st.info("The lake has no episodes yet.")
    st.stop()

ids = episodes["episode_id"].to_list()
labels = {r["episode_id"]: f"{r['episode_id']} · {r['source_kind']} · {r['task']} · {r['status']} · {r['n_frames']} frames" for r in episodes.iter_rows(named=True)}
wanted = st.query_params.get("episode")
episode_id = st.selectbox("Episode", ids, index=ids.index(wanted) if wanted in ids else 0, format_func=labels.get, key="ep_id")
info = reports.episode_info(con, episode_id)

c = st.columns(4)
c[0].metric("Status", info["status"])
c[1].metric("Frames", f"{info['n_frames']:,}")
c[2].metric("Duration [s]", f"{info['duration_s']:.2f}")
c[3].metric("Tracked fraction", "n/a" if info["tracked_fraction"] is None else f"{info['tracked_fraction']:.3f}")
if info["reject_reason"]:
    st.warning(f"Rejected: {info['reject_reason']}")

series = reports.episode_series(con, episode_id, max_points=1500)
left, right = st.columns(2)
fig = go.Figure()
for axis_name in ("x", "y", "z"):
    fig.add_trace(go.Scatter(x=series["t_s"].to_list(), y=series[axis_name].to_list(), mode="lines", name=f"tcp {axis_name}"))
fig.update_layout(height=280, margin={"l": 10, "r": 10, "t": 30, "b": 40}, title={"text": f"TCP position [m] in {info['world_frame']}"}, xaxis={"title": "t [s]"})
left.plotly_chart(fig, key="ep_tcp")
fig = go.Figure(go.Scatter(x=series["t_s"].to_list(), y=series["gripper_width"].to_list(), mode="lines", name="gripper width"))
fig.update_layout(height=280, margin={"l": 10, "r": 10, "t": 30, "b": 40}, title={"text": "gripper width [m]"}, xaxis={"title": "t [s]"})
right.plotly_chart(fig, key="ep_width")
st.caption(f"{series.height} of {info['n_frames']} frames plotted (decimated in SQL)")

with st.expander("Metadata", expanded=False):
    st.dataframe([{"field": k, "value": "" if v is None else str(v)} for k, v in info.items()], hide_index=True, width="stretch", key="ep_meta")

st.subheader("Replay in Rerun")
default_out = Path(tempfile.gettempdir()) / "umi-bench-replays" / f"{episode_id}.rrd"
out = st.text_input("Write the recording to", str(default_out), key="ep_rrd_path")
if st.button("Write Rerun recording", key="ep_rrd"):
    try:
        with st.spinner("Writing the Rerun recording ..."):
            written = viz.save_rrd(context.lake(), [episode_id], out)
    except UmiBenchError as e:
        st.error(str(e))
    else:
        path = written[0]
        st.success(f"Wrote {path} ({path.stat().st_size / 1e6:.1f} MB). Open it with the Rerun viewer:")
        st.code(f"rerun {path}", language="bash")
        st.caption(f"or stream it live: `umi-bench viz {episode_id} --lake {context.lake().root} --spawn`")
