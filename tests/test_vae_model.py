"""The VAE of lesson `vae`: KL closed form ≡ torch.distributions, the loss = summed BCE + β·KL, shapes."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Bernoulli, Normal, kl_divergence

from dlcourse.models.vae import VAE, kl_to_standard_normal, vae_loss


# --- VAE -----------------------------------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_kl_closed_form_equals_torch_distributions(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    ours = kl_to_standard_normal(mu, logvar)
    ref = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
    assert torch.allclose(ours, ref, atol=1e-12, rtol=0)
    w = torch.randn(n, generator=g, dtype=torch.float64)
    g1 = torch.autograd.grad((ours * w).sum(), (mu, logvar))
    g2 = torch.autograd.grad((ref * w).sum(), (mu, logvar))
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, atol=1e-10, rtol=0)


def test_kl_hand_computed():
    # one dimension, μ = 1, σ² = e: ½(e − 1 − 1 + 1) = (e − 1)/2
    kl = kl_to_standard_normal(torch.tensor([[1.0]], dtype=torch.float64), torch.tensor([[1.0]], dtype=torch.float64))
    assert kl.item() == pytest.approx((math.e - 1) / 2, abs=1e-12)
    assert kl_to_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4)).abs().max() == 0


def test_vae_loss_is_summed_bce_plus_kl():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 64, generator=g, dtype=torch.float64)
    x = torch.rand(4, 64, generator=g, dtype=torch.float64)
    mu, logvar = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    p = torch.sigmoid(logits)
    bce = -(x * p.log() + (1 - x) * (1 - p).log()).sum(-1)  # the notebook's BCE(x̂, x), reduction sum
    kl = 0.5 * (logvar.exp() - logvar - 1 + mu ** 2).sum(-1)
    assert torch.allclose(vae_loss(logits, x, mu, logvar, beta=1.0), bce + kl, atol=1e-10)
    assert torch.allclose(vae_loss(logits, x, mu, logvar, beta=0.5), bce + 0.5 * kl, atol=1e-10)
    # on binary pixels the BCE is the Bernoulli negative log-likelihood
    xb = (x > 0.5).double()
    nll = -Bernoulli(logits=logits).log_prob(xb).sum(-1)
    assert torch.allclose(vae_loss(logits, xb, mu, logvar, beta=0.0), nll, atol=1e-10)


def test_vae_shapes_reparameterisation_and_modes():
    torch.manual_seed(0)
    vae = VAE(64, (32,), d=3)
    x = torch.rand(7, 64)
    logits, mu, logvar = vae(x)
    assert logits.shape == (7, 64) and mu.shape == logvar.shape == (7, 3)
    n_params = (64 * 32 + 32 + 32 * 6 + 6) + (3 * 32 + 32 + 32 * 64 + 64)
    assert sum(p.numel() for p in vae.parameters()) == n_params
    # training mode samples z, gradients reach μ and log σ² through the noise
    mu = torch.zeros(20000, 2, requires_grad=True)
    logvar = torch.full((20000, 2), math.log(4.0), requires_grad=True)
    z = vae.reparameterise(mu, logvar)
    assert abs(z.mean().item()) < 0.05 and abs(z.std().item() - 2.0) < 0.05
    z.pow(2).mean().backward()
    assert mu.grad.abs().sum() > 0 and logvar.grad.abs().sum() > 0
    # eval mode, and the plain AE, return the mean
    vae.eval()
    assert torch.equal(vae.reparameterise(mu, logvar), mu)
    ae = VAE(64, (32,), d=3, variational=False)
    assert torch.equal(ae.reparameterise(mu, logvar), mu)
    assert vae.sample(5, generator=torch.Generator().manual_seed(0)).shape == (5, 64)
    s = vae.sample(5, generator=torch.Generator().manual_seed(0))
    assert s.min() >= 0 and s.max() <= 1


def test_plain_autoencoder_loss_has_no_kl():
    torch.manual_seed(0)
    ae = VAE(64, (16,), d=2, variational=False)
    x = torch.rand(5, 64)
    logits, _, _ = ae(x)
    assert torch.allclose(ae.loss(x), F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 5, atol=1e-5)
