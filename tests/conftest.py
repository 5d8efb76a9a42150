from __future__ import annotations

import os
import random

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Every test starts from the same global random state."""
    random.seed(0)
    np.random.seed(0)
