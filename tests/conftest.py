import os
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

DATA = Path(__file__).parent / "data"

# Property-based (fuzz) tests: bounded by default so they run in seconds inside `make test`;
# CGAN_FUZZ=long runs many more examples (see docs/security.md).
settings.register_profile("default", max_examples=25, deadline=timedelta(seconds=5), derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("long", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile("long" if os.environ.get("CGAN_FUZZ") == "long" else "default")

# fixtures shared by several test modules (exported test models, tiny training runs); plain helpers: helpers.py
pytest_plugins = ["shared_fixtures", "train_runs"]


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests use tiny nets: one torch thread runs them fastest, and far faster than two when the
    2-core machine is shared (threads spin while descheduled)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
