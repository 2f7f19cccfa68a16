"""Sparse coding from scratch (dlcourse.scratch.sparse) and the natural-patch data (dlcourse.data.patches).

ISTA and FISTA must reach the Lasso minimiser that scikit-learn's coordinate descent finds; the
soft threshold must equal nn.Softshrink in value and gradient; LISTA at its initialisation must be
exactly K ISTA steps (erratum 5: + S z).
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse.data.patches import extract, patches, zca
from dlcourse.scratch import sparse as S

FAST = settings(max_examples=20, deadline=None)


def problem(seed=0, d=12, k=20, n=5):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, k, generator=g, dtype=torch.float64)
    w = w / w.norm(dim=0)
    return torch.randn(n, d, generator=g, dtype=torch.float64), w


@FAST
@given(st.integers(0, 2**31 - 1), st.floats(0.0, 2.0))
def test_shrink_matches_softshrink_values_and_grads(seed, theta):
    u = torch.randn(50, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2
    a, b = u.clone().requires_grad_(), u.clone().requires_grad_()
    mine, theirs = S.shrink(a, theta), F.softshrink(b, theta)
    torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-12)
    up = torch.randn(50, dtype=torch.float64)
    (mine * up).sum().backward()
    (theirs * up).sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=1e-12)


def test_lipschitz_is_largest_eigenvalue():
    _, w = problem()
    assert S.lipschitz(w).item() == pytest.approx(torch.linalg.eigvalsh(w.T @ w)[-1].item(), rel=1e-10)
    assert S.lipschitz(w.T).item() == pytest.approx(S.lipschitz(w).item(), rel=1e-10)


@pytest.mark.parametrize("method", [S.ista, S.fista])
def test_converges_to_sklearn_lasso(method):
    from sklearn.linear_model import Lasso

    # Under-complete (k < d): the problem is strongly convex and the minimiser unique and reached
    # fast; over-complete ones converge to the same objective but the code can drift slowly.
    y, w = problem(d=16, k=10)
    lam = 0.1
    z = method(y, w, lam, 800)
    for i in range(len(y)):
        # scikit-learn minimises (1/(2·n_rows))‖y − Xw‖² + α‖w‖₁ with n_rows = d: α = λ/d.
        lasso = Lasso(alpha=lam / w.shape[0], fit_intercept=False, tol=1e-12, max_iter=100000)
        ref = lasso.fit(w.numpy(), y[i].numpy())
        torch.testing.assert_close(z[i], torch.from_numpy(ref.coef_), rtol=0, atol=1e-6)


def test_ista_objective_never_increases_and_fista_is_faster():
    y, w = problem(1, d=16, k=48, n=8)
    _, hi = S.ista(y, w, 0.05, 300, trace=True)
    _, hf = S.fista(y, w, 0.05, 300, trace=True)
    assert (hi[1:] <= hi[:-1] + 1e-12).all()
    z_star = S.fista(y, w, 0.05, 5000)
    best = S.objective(y, w, z_star, 0.05).mean()
    assert hf[100] - best < 0.1 * (hi[100] - best)
    assert hf[0] == hi[0]  # the same start


def test_trace_function_records_every_step():
    y, w = problem()
    z, hist = S.ista(y, w, 0.1, 7, trace=lambda z: z.abs().sum())
    assert hist.shape == (8,) and hist[0] == 0 and hist[-1] == z.abs().sum()


@pytest.mark.parametrize("layers", [1, 2, 5])
def test_lista_at_init_is_exactly_k_ista_steps(layers):
    y, w = problem(2)
    lista = S.LISTA.from_dictionary(w, 0.1, layers)
    torch.testing.assert_close(lista(y), S.ista(y, w, 0.1, layers), rtol=0, atol=1e-12)


def test_lista_shapes_and_parameter_count():
    lista = S.LISTA(d=64, k=128, layers=5)
    assert lista(torch.randn(3, 64)).shape == (3, 128)
    assert sum(p.numel() for p in lista.parameters()) == 128 * 64 + 128 * 128 + 5 * 128
    with pytest.raises(ValueError):
        S.LISTA(4, 8, layers=0)


def test_dictionary_atoms_unit_norm_and_gradient_step_lowers_loss():
    y, w = problem(3, n=40)
    d = S.Dictionary(12, 20, init=w * 3, signals=40)
    torch.testing.assert_close(d.atoms.norm(dim=0), torch.ones(20, dtype=torch.float64))
    index = torch.arange(40)
    opt = torch.optim.SGD(d.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        loss = d.reconstruction_loss(y, 0.1, 20, index)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert d.codes.abs().sum() > 0  # the warm-start codes were stored
    torch.testing.assert_close(d.atoms.norm(dim=0), torch.ones(20, dtype=torch.float64))


def test_relative_code_error():
    z = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert S.relative_code_error(z, z).item() == 0
    assert S.relative_code_error(torch.zeros_like(z), z).item() == 1


# --- the D4 data ------------------------------------------------------------------------------

def test_extract_cuts_the_right_pixels():
    images = torch.arange(2 * 6 * 7, dtype=torch.float64).reshape(2, 6, 7)
    p = extract(images, 20, 3, seed=0)
    assert p.shape == (20, 3, 3)
    for patch in p:  # every patch is a contiguous 3×3 window of one image
        k, r, c = [int(i) for i in ((patch[0, 0] // 42), (patch[0, 0] % 42) // 7, (patch[0, 0] % 42) % 7)]
        torch.testing.assert_close(patch, images[k, r:r + 3, c:c + 3])
    with pytest.raises(ValueError):
        extract(images, 1, 7)


def test_zca_whitens():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5000, 4, generator=g, dtype=torch.float64) @ torch.tensor(
        [[2.0, 0.5, 0, 0], [0, 1, 0.3, 0], [0, 0, 0.5, 0], [0.1, 0, 0, 0.2]], dtype=torch.float64)
    x = x - x.mean(0)
    white = x @ zca(x, eps=0.0)
    torch.testing.assert_close(white.T @ white / len(x), torch.eye(4, dtype=torch.float64), rtol=0, atol=1e-8)
    m = zca(x, 0.1)
    torch.testing.assert_close(m, m.T)  # zero-phase: symmetric


def test_patches_shapes_determinism_and_centering():
    a = patches(300, 8, seed=3)
    assert a.shape == (300, 64) and a.dtype == torch.float32
    torch.testing.assert_close(a, patches(300, 8, seed=3))
    assert not torch.equal(a, patches(300, 8, seed=4))
    raw = patches(300, 6, whiten=False, downsample=1, seed=0).double()
    torch.testing.assert_close(raw.mean(1), torch.zeros(300, dtype=torch.float64), rtol=0, atol=1e-5)
    assert raw.std().item() == pytest.approx(1.0, rel=1e-3)
    with pytest.raises(ValueError):
        patches(0)
