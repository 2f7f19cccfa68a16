"""Models of dlcourse.models.convnet: parameter counts, shapes, and LeNet-5 as a sliding window."""

import pytest
import torch
import torch.nn.functional as F

from dlcourse.models.convnet import (LeNet5, StripReader, equal_param_fc, fc_net, fc_params, param_count,
                                     small_cnn, translation_cnn)


def test_notebook_parameter_counts():
    # Notebook 06: FC2Layer 6,442 and CNN 6,422 parameters on 28×28 MNIST.
    assert param_count(fc_net(784, 8)) == fc_params(784, 8) == 6442
    assert param_count(small_cnn(28, 6, 50)) == 6422
    assert small_cnn(28)(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_equal_param_pair():
    cnn = translation_cnn((8, 16))
    fc = equal_param_fc(param_count(cnn), 400)
    assert param_count(cnn) == 5914
    assert abs(param_count(fc) - param_count(cnn)) <= fc_params(400, 2) - fc_params(400, 1)  # closest width
    assert fc(torch.zeros(3, 1, 20, 20)).shape == cnn(torch.zeros(3, 1, 20, 20)).shape == (3, 10)


def test_translation_cnn_is_shift_invariant_for_whole_pooling_cells():
    # Global max pooling: shifting the digit by a multiple of the total stride (4) inside a blank
    # canvas leaves the output unchanged (far enough from the borders, where zero padding differs
    # from the blank canvas's response).
    torch.manual_seed(0)
    cnn = translation_cnn().eval()
    x = torch.zeros(1, 1, 48, 48)
    x[0, 0, 16:24, 16:24] = torch.rand(8, 8)
    shifted = torch.roll(x, shifts=(4, 8), dims=(2, 3))
    assert torch.allclose(cnn(x), cnn(shifted), atol=1e-6)


def test_small_cnn_rejects_tiny_inputs():
    with pytest.raises(ValueError):
        small_cnn(12)


def test_lenet5_shapes_and_parameters():
    net = LeNet5()
    # Erratum 2: conv2 has 50 channels and fc1 takes 4·4·50 = 800 features from a 28×28 input.
    assert net.conv2.out_channels == 50 and net.fc1.in_features == 800
    assert param_count(net) == 520 + 25050 + 400500 + 5010
    out = net(torch.randn(4, 1, 28, 28))
    assert out.shape == (4, 10)
    assert torch.allclose(out.exp().sum(1), torch.ones(4), atol=1e-5)  # log-softmax


def test_lenet5_score_map_equals_windows():
    # Running it convolutionally gives, at position j, exactly the output on the window at column 4j.
    torch.manual_seed(0)
    net = LeNet5(classes=11).double().eval()
    strip = torch.randn(2, 1, 28, 28 + 4 * 6, dtype=torch.float64)
    scores = net.score_map(strip)
    assert scores.shape == (2, 11, 7)
    windows = torch.stack([net(strip[..., 4 * j:4 * j + 28]) for j in range(7)], 2)
    assert torch.allclose(scores, windows, atol=1e-10)


def test_strip_reader_shapes():
    reader = StripReader(height=8).eval()
    out = reader(torch.randn(3, 1, 8, 60))
    assert out.shape == (30, 3, 11)  # one frame every 2 columns, time first
    assert torch.allclose(out.exp().sum(-1), torch.ones(30, 3), atol=1e-5)
    assert StripReader(height=16)(torch.randn(2, 1, 16, 40)).shape == (20, 2, 11)
    with pytest.raises(ValueError):
        StripReader(height=10)


def test_strip_reader_trains_with_ctc():
    # A few steps on one batch must lower the CTC loss (it learns, and gradients reach every layer).
    torch.manual_seed(0)
    reader = StripReader()
    x = torch.randn(8, 1, 8, 32)
    y = torch.randint(1, 11, (8, 3))
    opt = torch.optim.Adam(reader.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = F.ctc_loss(reader(x), y, torch.full((8,), 16), torch.full((8,), 3))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in reader.parameters())
