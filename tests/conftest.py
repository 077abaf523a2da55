from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

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
