import os

import numpy as np
import pytest

from nnkernels import _core

_FORCED = os.environ.get("NNKERNELS_ISA", "").strip()
# Under NNKERNELS_ISA the suite runs that level only; otherwise every level this CPU supports.
ISA_LEVELS = (
    [_FORCED] if _FORCED else [lv for lv in _core.ISA_LEVELS.split(",") if _core.isa_supported(lv)]
)


@pytest.fixture(params=ISA_LEVELS)
def isa(request):
    """Runs the test with every kernel switched to one ISA level."""
    previous = _core.isa()
    _core.select_isa(request.param)
    yield request.param
    _core.select_isa(previous)


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
