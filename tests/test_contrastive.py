"""InfoNCE / NT-Xent vs a direct loop over the formula, the SimCLR model, the probe, and the SSL views."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse.data.ssl_views import affine_jitter, contrast, random_mask, two_views, view
from dlcourse.models.contrastive import MLPEncoder, SimCLR, info_nce, linear_probe


def _nt_xent_loop(za, zb, tau):
    """ℓ_i = −log[exp(sim(z_i, z_j)/τ) / Σ_{k≠i} exp(sim(z_i, z_k)/τ)], averaged over the 2N views."""
    z = torch.cat([za, zb])
    n2 = len(z)
    total = 0.0
    for i in range(n2):
        j = (i + n2 // 2) % n2
        sim = [F.cosine_similarity(z[i], z[k], dim=0) / tau for k in range(n2)]
        denom = sum(math.exp(sim[k].item()) for k in range(n2) if k != i)
        total += -math.log(math.exp(sim[j].item()) / denom)
    return total / n2


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 6), st.integers(2, 5), st.floats(0.05, 2.0), st.integers(0, 2**31 - 1))
def test_info_nce_equals_the_formula(n, d, tau, seed):
    g = torch.Generator().manual_seed(seed)
    za, zb = torch.randn(2, n, d, generator=g, dtype=torch.float64)
    assert info_nce(za, zb, tau).item() == pytest.approx(_nt_xent_loop(za, zb, tau), abs=1e-9)


def test_info_nce_gradients_match_an_explicit_log_softmax():
    g = torch.Generator().manual_seed(0)
    za = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    zb = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    ours = info_nce(za, zb, 0.3)
    z = torch.cat([za, zb])
    z = z / z.norm(dim=1, keepdim=True)
    sim = z @ z.T / 0.3
    logp = sim - torch.logsumexp(sim - 1e9 * torch.eye(8, dtype=torch.float64), dim=1, keepdim=True)
    ref = -logp[torch.arange(8), (torch.arange(8) + 4) % 8].mean()
    assert ours.item() == pytest.approx(ref.item(), abs=1e-10)
    g1 = torch.autograd.grad(ours, (za, zb))
    g2 = torch.autograd.grad(ref, (za, zb))
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, atol=1e-10)


def test_info_nce_hand_cases():
    # identical twins orthogonal to everything else: loss = −log(e^{1/τ} / (e^{1/τ} + 2N−2))
    e = torch.eye(3, dtype=torch.float64)
    tau = 0.5
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + 4))
    assert info_nce(e, e, tau).item() == pytest.approx(expected, abs=1e-12)
    # the loss falls when the positive pairs become more similar
    g = torch.Generator().manual_seed(1)
    za, noise = torch.randn(2, 8, 4, generator=g, dtype=torch.float64)
    assert info_nce(za, za + 0.1 * noise).item() < info_nce(za, za + 1.0 * noise).item()


def test_encoder_and_simclr_shapes_and_parameter_count():
    enc = MLPEncoder((64, 256, 20))
    out = enc(torch.rand(5, 1, 8, 8))
    assert out.shape == (5, 20) and enc.features == 20 and (out >= 0).all()  # ReLU units
    assert enc(torch.rand(5, 64)).shape == (5, 20)  # flat inputs too
    linears = (64 * 256 + 256) + (256 * 20 + 20)
    bns = 2 * (256 + 20)
    assert sum(p.numel() for p in enc.parameters()) == linears + bns
    model = SimCLR((64, 32, 12), projection=16)
    assert model(torch.rand(5, 1, 8, 8)).shape == (5, 12)
    head = (12 * 12 + 12) + (12 * 16 + 16)
    assert sum(p.numel() for p in model.head.parameters()) == head
    loss = model.loss(torch.rand(6, 1, 8, 8), torch.rand(6, 1, 8, 8))
    assert loss.ndim == 0 and loss.item() > 0
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_linear_probe_separable_and_chance():
    g = torch.Generator().manual_seed(0)
    centres = 5 * torch.randn(3, 6, generator=g)
    yt = torch.arange(3).repeat(20)
    xt = centres[yt] + 0.1 * torch.randn(60, 6, generator=g)
    assert linear_probe(xt[:30], yt[:30], xt[30:], yt[30:], classes=3) == 1.0
    noise = torch.randn(300, 6, generator=g)
    labels = torch.randint(0, 3, (300,), generator=g)
    assert linear_probe(noise[:150], labels[:150], noise[150:], labels[150:], classes=3) < 0.6


def test_views_shapes_determinism_and_identity():
    x = torch.rand(10, 1, 8, 8)
    a = view(x, generator=torch.Generator().manual_seed(3))
    b = view(x, generator=torch.Generator().manual_seed(3))
    assert a.shape == x.shape and torch.equal(a, b)
    va, vb = two_views(x, generator=torch.Generator().manual_seed(3))
    assert not torch.equal(va, vb)
    assert torch.equal(view(x, strength=0.0), x)
    # the identity affine map (no rotation, scale 1, no shear or shift) leaves the images unchanged
    same = affine_jitter(x, degrees=0, scale=(1, 1), shear=0, translate=0)
    assert torch.allclose(same, x, atol=1e-5)
    # contrast with factor 1 and no brightness is the identity; the image mean is kept
    assert torch.allclose(contrast(x, 1.0, 1.0, 0.0), x, atol=1e-6)
    c = contrast(x, 0.5, 0.5, 0.0)
    assert torch.allclose(c.mean((1, 2, 3)), x.mean((1, 2, 3)), atol=1e-6)


def test_random_mask_erases_one_square():
    x = torch.ones(50, 1, 8, 8)
    m = random_mask(x, size=3, p=1.0, generator=torch.Generator().manual_seed(0))
    assert ((m == 0).sum((1, 2, 3)) == 9).all()
    assert torch.equal(random_mask(x, size=3, p=0.0), x)
