"""Latent-variable EBM functions (dlcourse.scratch.ebm) and the horn data (dlcourse.data.horn).

The free energy's three limits (15-2.b), its ordering, the agreement of gradient-descent inference
with exhaustive search (15-1.c), F_∞ as the squared distance to the manifold (15-1.d), the
Gibbs–Boltzmann marginal (07-1.c), and the ranking AUC against scikit-learn.
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse.data.horn import horn, on_horn, radii, squared_distance
from dlcourse.scratch import ebm

FAST = settings(max_examples=25, deadline=None)


def energies(seed, n=4, grid=64):
    g = torch.Generator().manual_seed(seed)
    return 3 * torch.rand(n, grid, generator=g, dtype=torch.float64) ** 2


@FAST
@given(st.integers(0, 2**31 - 1))
def test_free_energy_limits_and_order(seed):
    e = energies(seed)
    cold, hot = e.min(-1).values, e.mean(-1)
    torch.testing.assert_close(ebm.free_energy(e, 1e6), cold, rtol=0, atol=1e-4)  # β → ∞: the minimum
    torch.testing.assert_close(ebm.free_energy(e, 1e-7), hot, rtol=0, atol=1e-5)  # β → 0: the mean (1/N)
    torch.testing.assert_close(ebm.free_energy(e, math.inf), cold)
    torch.testing.assert_close(ebm.free_energy(e, 0.0), hot)
    previous = hot
    for beta in (0.01, 0.1, 1.0, 10.0, 100.0):  # min ≤ F_β ≤ mean, non-increasing in β
        f = ebm.free_energy(e, beta)
        assert (f >= cold - 1e-12).all() and (f <= hot + 1e-12).all()
        assert (f <= previous + 1e-12).all()
        previous = f


def test_free_energy_is_the_log_sum_exp_formula_and_stable():
    e = energies(0)
    beta = 0.7
    direct = -torch.log(torch.exp(-beta * e).mean(-1)) / beta
    torch.testing.assert_close(ebm.free_energy(e, beta), direct, rtol=1e-12, atol=1e-12)
    big = e + 1e4  # exp(−β·E) underflows to 0 in the direct formula; logsumexp does not
    torch.testing.assert_close(ebm.free_energy(big, 10.0), ebm.free_energy(e, 10.0) + 1e4)
    with pytest.raises(ValueError):
        ebm.free_energy(e, -1.0)


def test_free_energy_gradient_is_the_posterior():
    # ∂F_β/∂E_z = softmin weight of z: warm training moves each latent by its posterior.
    e = energies(1).requires_grad_()
    ebm.free_energy(e, 2.0).sum().backward()
    torch.testing.assert_close(e.grad, ebm.softmin(e.detach(), 2.0))


def test_marginal_over_latent_equals_free_energy_distribution():
    # 07-1.c: P(y) from the joint P(y, z) ∝ exp(−βE) equals exp(−βF_β(y)) normalised over y.
    e = energies(2, n=30, grid=20)  # 30 values of y, 20 of z
    beta = 1.3
    joint = torch.softmax((-beta * e).flatten(), 0).reshape(e.shape)
    from_free = torch.softmax(-beta * ebm.free_energy(e, beta), 0)
    torch.testing.assert_close(joint.sum(1), from_free)


def test_grid_minimum_and_zero_free_energy():
    z_grid = torch.linspace(-2, 2, 401, dtype=torch.float64)
    centres = torch.tensor([-1.0, 0.3, 1.5], dtype=torch.float64)
    f, z = ebm.grid_minimum(lambda zz: (zz[None, :] - centres[:, None]) ** 2 + 0.5, z_grid)
    torch.testing.assert_close(z, centres)
    torch.testing.assert_close(f, torch.full((3,), 0.5, dtype=torch.float64))


def ellipse_energy(y, w):
    return lambda z: ebm.squared_energy(y, w * torch.stack([z.cos(), z.sin()], -1))


@pytest.mark.parametrize("start", [0.0, 1.0, 2.5, -2.0])
def test_gradient_inference_matches_grid_minimum(start):
    # 15-1.c: from several initial latents, GD lands on the grid minimum within the grid resolution.
    _, y, _ = horn(50, x=0.0, seed=3, dtype=torch.float64)
    w = torch.tensor([2.0, 1.5], dtype=torch.float64)
    z_grid = torch.linspace(0, 2 * math.pi, 4097, dtype=torch.float64)[:-1]
    f_grid, z_best = ebm.grid_minimum(
        lambda z: ebm.squared_energy(y[:, None], w * torch.stack([z.cos(), z.sin()], -1)), z_grid)
    z = ebm.infer_latent(ellipse_energy(y, w), torch.full((50,), start, dtype=torch.float64), steps=400, lr=0.05)
    f_gd = ellipse_energy(y, w)(z)
    assert (f_gd <= f_grid + 1e-6).all()  # as low as the exhaustive search, or lower between grid points
    wrapped = torch.remainder(z - z_best + math.pi, 2 * math.pi) - math.pi
    assert wrapped.abs().max() < 2 * math.pi / 4096 * 2


def test_infer_latent_leaves_parameters_alone():
    w = torch.tensor([2.0, 1.5], requires_grad=True)
    y = torch.tensor([[1.0, 1.0]])
    ebm.infer_latent(ellipse_energy(y, w), torch.zeros(1), steps=5)
    assert w.grad is None


def test_zero_temperature_free_energy_is_squared_distance_to_the_ellipse():
    # 15-1.d: for the true decoder, F_∞(y) is the squared distance of y to the ellipse (0 on it).
    g = torch.Generator().manual_seed(0)
    y = (torch.rand(200, 2, generator=g, dtype=torch.float64) - 0.5) * 6
    x = torch.zeros(200, dtype=torch.float64)
    theta = torch.linspace(0, 2 * math.pi, 8193, dtype=torch.float64)[:-1]
    f = ebm.free_energy_zero(ebm.squared_energy(y[:, None], on_horn(x[:, None], theta[None])))[0]
    torch.testing.assert_close(f, squared_distance(x, y, 8192), rtol=0, atol=1e-12)
    on = on_horn(torch.zeros(5, dtype=torch.float64), torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0], dtype=torch.float64))
    assert squared_distance(torch.zeros(5, dtype=torch.float64), on, 100000).max() < 1e-6


def test_ranking_auc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    g = torch.Generator().manual_seed(0)
    low = torch.randn(300, generator=g).round(decimals=1)  # rounding makes ties
    high = (torch.randn(200, generator=g) + 1).round(decimals=1)
    labels = torch.cat([torch.zeros(300), torch.ones(200)])
    expected = roc_auc_score(labels.numpy(), torch.cat([low, high]).numpy())
    assert ebm.ranking_auc(low, high) == pytest.approx(expected, abs=1e-12)
    assert ebm.ranking_auc(torch.zeros(3), torch.ones(4)) == 1.0
    assert ebm.ranking_auc(torch.ones(3), torch.zeros(4)) == 0.0
    assert ebm.ranking_auc(torch.ones(3), torch.ones(4)) == 0.5


# --- D10 -------------------------------------------------------------------------------------

def test_radii_hand_computed():
    torch.testing.assert_close(radii(torch.tensor(0.0)), torch.tensor([2.0, 1.5]))
    e2 = math.exp(2)
    torch.testing.assert_close(radii(torch.tensor(1.0)), torch.tensor([1.5 * e2, 2.0 * e2]))
    torch.testing.assert_close(radii(torch.tensor(0.5)), torch.tensor([1.75, 1.75]) * math.e)


def test_horn_shapes_determinism_and_noise():
    x, y, theta = horn(4000, seed=1)
    assert x.shape == (4000,) and y.shape == (4000, 2) and theta.shape == (4000,)
    assert 0 <= x.min() and x.max() <= 1 and 0 <= theta.min() and theta.max() <= 2 * math.pi
    torch.testing.assert_close(horn(4000, seed=1)[1], y)
    assert not torch.equal(horn(4000, seed=2)[1], y)
    residual = y.double() - on_horn(x.double(), theta.double())
    assert residual.std().item() == pytest.approx(0.05, rel=0.05)
    x0, y0, _ = horn(10, x=0.0)
    assert (x0 == 0).all()
    assert ((y0[:, 0] / 2) ** 2 + (y0[:, 1] / 1.5) ** 2 - 1).abs().max() < 0.2
    with pytest.raises(ValueError):
        horn(-1)
