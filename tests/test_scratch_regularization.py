"""Inverted dropout and the proximal L1 step."""

import json

import pytest
import torch
from torch import nn

from dlcourse.scratch.regularization import Dropout, ProximalSGD
from dlcourse.scratch.sparse import shrink


def test_dropout_is_inverted():
    torch.manual_seed(0)
    x = torch.full((200_000,), 2.0)
    drop = Dropout(0.75)
    y = drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.25) < 0.01
    assert torch.allclose(y[kept], torch.tensor(8.0))  # 2 / (1 − 0.75): survivors scaled up
    assert abs(y.mean().item() - 2.0) < 0.05  # the expectation is unchanged
    drop.eval()
    assert torch.equal(drop(x), x)  # nothing at test time


def test_dropout_matches_torch_in_distribution():
    torch.manual_seed(1)
    x = torch.rand(100_000)
    ours, theirs = Dropout(0.3)(x), nn.Dropout(0.3)(x)
    assert abs((ours == 0).float().mean() - (theirs == 0).float().mean()) < 0.01
    assert abs(ours.mean() - theirs.mean()) < 0.01
    assert torch.equal(Dropout(0.0)(x), x)


def test_dropout_rejects_bad_p():
    with pytest.raises(ValueError):
        Dropout(1.0)


def test_proximal_step_is_sgd_then_soft_threshold():
    w = torch.tensor([0.5, -0.05, 0.02, -1.0], requires_grad=True)
    opt = ProximalSGD([{"params": [w], "l1": 0.5}], lr=0.1)
    w.grad = torch.tensor([1.0, 0.0, 0.0, -1.0])
    opt.step()
    # gradient step: [0.4, -0.05, 0.02, -0.9]; shrink by lr·λ = 0.05: [0.35, 0, 0, -0.85]
    assert torch.allclose(w.detach(), torch.tensor([0.35, 0.0, 0.0, -0.85]))
    assert (w == 0).sum() == 2  # exact zeros, not just small numbers


def test_proximal_l1_per_member_and_plain_groups():
    w = torch.ones(3, 2, 2, requires_grad=True)
    b = torch.ones(3, requires_grad=True)
    opt = ProximalSGD([{"params": [w], "l1": [0.0, 1.0, 20.0]}, {"params": [b]}], lr=0.1)
    w.grad, b.grad = torch.zeros_like(w), torch.zeros_like(b)
    opt.step()
    assert torch.allclose(w[0], torch.ones(2, 2)) and torch.allclose(w[1], torch.full((2, 2), 0.9))
    assert torch.equal(w[2], torch.zeros(2, 2))
    assert torch.equal(b.detach(), torch.ones(3))  # no "l1": plain SGD
    json.dumps(opt.state_dict()["param_groups"])  # checkpoints store the groups as JSON


def test_without_l1_it_is_torch_sgd():
    torch.manual_seed(0)
    a = torch.randn(5, requires_grad=True)
    b = a.detach().clone().requires_grad_()
    ours, theirs = ProximalSGD([a], lr=0.1, momentum=0.9), torch.optim.SGD([b], lr=0.1, momentum=0.9)
    for _ in range(5):
        for p, opt in ((a, ours), (b, theirs)):
            opt.zero_grad()
            (p**3).sum().backward()
            opt.step()
    assert torch.allclose(a, b)


def test_shrink_equals_softshrink():
    x = torch.linspace(-2, 2, 41)
    assert torch.allclose(shrink(x, 0.3), nn.Softshrink(0.3)(x))


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.5, True)])
def test_proximal_sgd_converges_to_the_lasso_solution(momentum, nesterov):
    # min ½‖w − a‖² + λ‖w‖₁ has the closed form shrink(a, λ) (= Softshrink): the iteration's fixed
    # point must be it, with and without momentum (the shrink follows the momentum's step length).
    torch.manual_seed(0)
    a = torch.randn(50, dtype=torch.float64)
    w = torch.zeros(50, dtype=torch.float64, requires_grad=True)
    opt = ProximalSGD([{"params": [w], "l1": 0.4}], lr=0.1, momentum=momentum, nesterov=nesterov)
    for _ in range(600):
        opt.zero_grad()
        (0.5 * ((w - a) ** 2).sum()).backward()
        opt.step()
    expected = nn.Softshrink(0.4)(a)
    assert torch.allclose(w.detach(), expected, atol=1e-6)
    assert torch.equal(w.detach() == 0, expected == 0)  # exact zeros, exactly where the lasso has them


def test_proximal_shrink_follows_the_momentum_velocity():
    # zero data gradient: the velocity stays 0, so the only motion is the shrink, whose length
    # grows like the velocity a steady gradient would have: lr·λ·(1 + μ + μ² + ...)
    w = torch.full((1,), 10.0, dtype=torch.float64, requires_grad=True)
    opt = ProximalSGD([{"params": [w], "l1": 1.0}], lr=0.1, momentum=0.5)
    moved = []
    for _ in range(3):
        before = w.item()
        w.grad = torch.zeros(1, dtype=torch.float64)
        opt.step()
        moved.append(before - w.item())
    assert moved == pytest.approx([0.1, 0.15, 0.175])
    assert opt.state_dict()["param_groups"][0]["l1_velocity"] == pytest.approx(1.75)  # resumable


def test_dropout_gradient_is_the_scaled_mask():
    torch.manual_seed(2)
    x = (torch.rand(1000, dtype=torch.float64) + 0.5).requires_grad_()
    y = Dropout(0.4)(x)
    y.sum().backward()
    mask = (y != 0).to(torch.float64)
    torch.testing.assert_close(y, x.detach() * mask / 0.6, rtol=0, atol=1e-12)
    torch.testing.assert_close(x.grad, mask / 0.6, rtol=0, atol=1e-12)


def test_l2_in_the_loss_is_torch_weight_decay():
    # lecture 14-3.c: J + (λ/2)‖θ‖² gives θ ← θ − η∇J − ηλθ, which is SGD's weight_decay = λ
    torch.manual_seed(3)
    a = torch.randn(7, dtype=torch.float64, requires_grad=True)
    b = a.detach().clone().requires_grad_()
    ours = torch.optim.SGD([a], lr=0.1, momentum=0.9)
    theirs = torch.optim.SGD([b], lr=0.1, momentum=0.9, weight_decay=0.05)
    for _ in range(5):
        ours.zero_grad()
        theirs.zero_grad()
        ((a**3).sum() + 0.05 / 2 * (a**2).sum()).backward()
        (b**3).sum().backward()
        ours.step()
        theirs.step()
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
