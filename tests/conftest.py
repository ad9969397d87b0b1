"""Shared fixtures: small, fast detector settings and the shared data folder."""

from __future__ import annotations

import numpy as np
import pytest

from streamae.datasets import default_data_dir


@pytest.fixture(scope="session")
def data_dir():
    """The shared data folder (``STREAMAE_DATA_DIR`` or ``../shared/data``), else skip."""
    path = default_data_dir()
    if path is None:
        pytest.skip("shared data not found: set STREAMAE_DATA_DIR or put ../shared/data "
                    "beside the checkout")
    return path


@pytest.fixture
def two_mode_stream():
    """A 4-feature stream with two operating modes, 600 records, seeded."""
    rng = np.random.default_rng(0)
    modes = np.array([[3.0, 3.0, 0.0, 0.0], [0.0, 0.0, 3.0, 3.0]])
    return modes[rng.integers(0, 2, 600)] + rng.normal(0, 0.3, (600, 4))


FAST = dict(warmup=64, epochs=15, n_clusters=2, seed=0)
