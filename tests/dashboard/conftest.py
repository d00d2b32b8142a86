"""A generated lake with data, benchmark runs, rollouts, sweeps and fits, shared by the dashboard tests."""

from __future__ import annotations

import pytest

from tests import viz_lake


@pytest.fixture(scope="session")
def dashboard_lake(tmp_path_factory):
    """The viz/dashboard fixture lake (see tests/viz_lake.py for its exact contents)."""
    return viz_lake.build_lake(tmp_path_factory.mktemp("dashboard") / "lake")


@pytest.fixture(autouse=True)
def _restore_main_module():
    """AppTest runs the app as ``__main__`` and leaves it in sys.modules; later multiprocessing
    (spawn) children would re-run dashboard/app.py as their main. Put the real one back."""
    import sys

    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main
