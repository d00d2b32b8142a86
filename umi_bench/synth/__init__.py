"""Synthetic recordings with ground truth kept aside: UMI GoPro sessions, teleop datasets, ego video.

``umi_session.generate_umi_session`` writes a UMI GoPro session (fisheye MP4s with GPMF IMU) that
``ingest/umi.py`` reads; ``renderer.TabletopRenderer`` is the shared CPU ray-caster of the tabletop room.
"""
