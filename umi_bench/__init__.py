"""umi-bench: a cross-embodiment robot-manipulation data platform.

>>> import tempfile, umi_bench
>>> lake = umi_bench.Lake.create(tempfile.mkdtemp() + "/lake")
>>> umi_bench.connect(lake.root).execute("SELECT count(*) FROM frames").fetchone()
(0,)
"""

import logging

# The library only logs; the CLI and the dashboard decide where output goes.
logging.getLogger(__name__).addHandler(logging.NullHandler())

from umi_bench.episode import Batch, EpisodeData  # noqa: E402
from umi_bench.errors import UmiBenchError  # noqa: E402
from umi_bench.lake import CommitResult, Lake  # noqa: E402
from umi_bench.query import connect  # noqa: E402

__all__ = [
    # the lake
    "Lake",
    "CommitResult",
    "connect",
    # the canonical episode
    "Batch",
    "EpisodeData",
    # errors
    "UmiBenchError",
]
__version__ = "0.1.0"
