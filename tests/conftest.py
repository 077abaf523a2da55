from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

pytest_plugins = ["infer_models"]  # session fixtures of exported test models, shared by the test_infer* files


@pytest.fixture(autouse=True)
def _small_threads():
    """Keep tests predictable on 2 cores."""
    import torch

    torch.set_num_threads(2)
    yield
