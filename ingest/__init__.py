"""Source adapters: raw recordings -> canonical episodes (``umi_bench.episode.Batch``) -> the lake.

One module per source format: ``umi`` (GoPro sessions), ``teleop`` with ``lerobot`` / ``robomimic``
(robot datasets), ``ego`` (head video + hand tracking). Each module docstring gives its format in one line.
"""
