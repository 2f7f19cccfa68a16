import os

import pytest
import torch

# Tests run single-threaded: the machine has 2 cores and small models gain nothing from more.
torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")
# Checkpoints at every scheduled step, not at most once a second: the resume tests kill at the N-th.
os.environ["DLCOURSE_CHECKPOINT_SECONDS"] = "0"
TEST_LESSONS = os.path.join(os.path.dirname(__file__), "lessons")


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"
