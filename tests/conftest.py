import os

import pytest
import torch

# Tests run single-threaded: the machine has 2 cores and small models gain nothing from more.
torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"
