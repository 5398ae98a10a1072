from __future__ import annotations

import pytest

from device.paths import shared_data_dir


@pytest.fixture(scope="session")
def shared_data():
    """Path to ../shared/data; skips the test when the real data is not beside the checkout."""
    d = shared_data_dir()
    if d is None:
        pytest.skip("needs ../shared/data (real public data); absent on this machine")
    return d
