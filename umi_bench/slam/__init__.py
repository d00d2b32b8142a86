"""ORB-SLAM3 tracking for umi-bench: DBoW2 vocabularies, settings YAML and the per-video worker process.

>>> from umi_bench.slam import default_vocabulary_path, validate_vocabulary
>>> validate_vocabulary(default_vocabulary_path()).k
10
"""

from umi_bench.slam.settings import OrbParams, validate_settings, write_settings
from umi_bench.slam.vocabulary import (
    Vocabulary,
    VocabInfo,
    build_vocabulary,
    default_vocabulary_path,
    validate_vocabulary,
    write_vocabulary,
)
from umi_bench.slam.worker import ADAPTIVE_FPS, DEFAULT_ORB, TrackResult, build_map, track_video

__all__ = [
    # tracking
    "track_video", "build_map", "TrackResult", "ADAPTIVE_FPS", "DEFAULT_ORB",
    # vocabulary
    "Vocabulary", "VocabInfo", "build_vocabulary", "write_vocabulary", "validate_vocabulary", "default_vocabulary_path",
    # settings
    "OrbParams", "write_settings", "validate_settings",
]
