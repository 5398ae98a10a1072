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


@pytest.fixture(autouse=True)
def _fresh_model_provider():
    """Each test starts with the bundled models' provider: a command run in-process with --config configures the
    process's provider (device.inference.configure_models), which must not leak into the next test."""
    yield
    from device.inference.provider import reset_models
    reset_models()
