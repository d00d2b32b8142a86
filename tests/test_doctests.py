"""The `>>>` examples in the core modules' docstrings run and hold."""

import doctest
import importlib

import pytest

MODULES = [
    "umi_bench", "umi_bench.ids", "umi_bench.geometry", "umi_bench.schema", "umi_bench.lake", "umi_bench.query", "umi_bench.synthetic_lake",
    "umi_bench.camera", "umi_bench.tags", "umi_bench.quality", "umi_bench.retarget", "umi_bench.protocol", "umi_bench.bench",
    "umi_bench.scaling", "umi_bench.reports", "umi_bench.viz", "umi_bench.export", "umi_bench.sim",
]


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
