"""GAN blocks of lesson `gan` (stacked MLPs, DCGAN pair, mode coverage) and the digit judge of `vae`/`gan`."""

import pytest
import torch

from dlcourse.models.digit_classifier import DigitClassifier, classifier_loss, recognition
from dlcourse.models.ensemble import StackedMLP
from dlcourse.models.gan import DCDiscriminator, DCGenerator, mode_coverage


# --- GAN blocks ----------------------------------------------------------------------------------

def test_stacked_mlp_members_equal_independent_networks():
    g = torch.Generator().manual_seed(0)
    net = StackedMLP(3, [2, 16, 16, 1], "leaky_relu", generator=g)
    x = torch.randn(3, 10, 2)
    out = net(x)
    assert out.shape == (3, 10, 1)
    for i in range(3):
        assert torch.allclose(net.member(i)(x[i]), out[i], atol=1e-6)


def test_stacked_mlp_gradients_are_per_seed():
    # the gradient of a sum over seeds w.r.t. one seed's weights is that seed's own gradient
    g = torch.Generator().manual_seed(0)
    net = StackedMLP(2, [2, 8, 1], generator=g)
    x = torch.randn(2, 5, 2)
    net(x).pow(2).mean(dim=(1, 2)).sum().backward()
    for i in range(2):
        m = net.member(i)
        m(x[i]).pow(2).mean().backward()
        assert torch.allclose(m[0].weight.grad, net.weights[0].grad[i].T, atol=1e-6)


def test_dcgan_shapes():
    G, D = DCGenerator(nz=16, ngf=8), DCDiscriminator(ndf=8)
    imgs = G(torch.randn(5, 16))
    assert imgs.shape == (5, 1, 8, 8) and imgs.min() >= 0 and imgs.max() <= 1
    assert D(imgs).shape == (5,)


def test_mode_coverage_hand_computed():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    # 10 samples: 6 at mode 0, 3 near mode 1 (one of them too far), 1 far from everything
    samples = torch.tensor([[0.0, 0.0]] * 6 + [[10.1, 0.0], [9.9, 0.0], [10.0, 0.5]] + [[5.0, 5.0]])
    modes, good = mode_coverage(samples, centres, std=0.1, radius_in_std=3.0, min_share=0.15)
    assert modes.item() == 2  # mode 0 (60 %), mode 1 (20 %); mode 2 has none
    assert good.item() == pytest.approx(0.8)
    # stacked over seeds
    modes, good = mode_coverage(torch.stack([samples, samples[:1].expand(10, 2)]), centres, 0.1, min_share=0.15)
    assert modes.tolist() == [2.0, 1.0] and good.tolist() == pytest.approx([0.8, 1.0])


# --- the judge -----------------------------------------------------------------------------------

def test_digit_classifier_shapes_and_recognition():
    torch.manual_seed(0)
    clf = DigitClassifier()
    assert clf(torch.rand(4, 1, 8, 8)).shape == (4, 10)
    assert clf(torch.rand(4, 64)).shape == (4, 10)
    loss = classifier_loss(clf, torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,)))
    assert loss.ndim == 0 and torch.isfinite(loss)

    class Fixed(torch.nn.Module):  # probabilities given by hand
        def forward(self, x):
            return x

    logits = torch.full((4, 10), -20.0)
    logits[0, 3] = logits[1, 3] = logits[2, 5] = 20.0  # three sure (classes 3, 3, 5), one uniform
    r = recognition(Fixed(), logits)
    assert r == {"recognised": 0.75, "classes": 2.0, "confidence": pytest.approx(0.775, abs=1e-6)}
