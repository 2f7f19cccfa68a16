"""models/ensemble.py: a stacked-parameter ensemble must behave exactly like its members run one by one."""

import copy

import pytest
import torch
from torch import nn

from dlcourse.models.ensemble import Ensemble
from dlcourse.models.mlp import mlp


def members_and_ensemble(sizes=(3, 7, 5, 2), n=4, activation="tanh", **kw):
    torch.manual_seed(0)
    members = [mlp(list(sizes), activation=activation, **kw).double() for _ in range(n)]
    return members, Ensemble.from_modules(copy.deepcopy(members))


def test_forward_matches_members_shared_and_per_member_input():
    members, ens = members_and_ensemble()
    x = torch.randn(6, 3, dtype=torch.float64)
    out = ens(x)
    assert out.shape == (4, 6, 2)
    for i, m in enumerate(members):
        torch.testing.assert_close(out[i], m(x), rtol=0, atol=1e-12)
    xs = torch.randn(4, 6, 3, dtype=torch.float64)
    out = ens(xs, per_member=True)
    for i, m in enumerate(members):
        torch.testing.assert_close(out[i], m(xs[i]), rtol=0, atol=1e-12)


def test_gradient_of_summed_loss_is_each_members_own_gradient():
    members, ens = members_and_ensemble()
    x, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
    ((ens(x) - y) ** 2).mean((1, 2)).sum().backward()
    for i, m in enumerate(members):
        ((m(x) - y) ** 2).mean().backward()
        for (name, stacked), p in zip(ens.stacked().items(), m.parameters()):
            torch.testing.assert_close(stacked.grad[i], p.grad, rtol=0, atol=1e-12, msg=name)


def test_adam_steps_on_the_ensemble_equal_separate_trainings():
    members, ens = members_and_ensemble(activation="relu")
    x, y = torch.randn(10, 3, dtype=torch.float64), torch.randn(10, 2, dtype=torch.float64)
    opt = torch.optim.Adam(ens.parameters(), lr=0.05)
    opts = [torch.optim.Adam(m.parameters(), lr=0.05) for m in members]
    for _ in range(5):
        opt.zero_grad()
        ((ens(x) - y) ** 2).mean((1, 2)).sum().backward()
        opt.step()
        for m, o in zip(members, opts):
            o.zero_grad()
            ((m(x) - y) ** 2).mean().backward()
            o.step()
    for i, m in enumerate(members):
        torch.testing.assert_close(ens(x)[i], m(x), rtol=0, atol=1e-10)


def test_parameters_member_copy_and_state_dict_round_trip():
    members, ens = members_and_ensemble()
    per_member = sum(p.numel() for p in members[0].parameters())
    assert per_member == 3 * 7 + 7 + 7 * 5 + 5 + 5 * 2 + 2
    assert sum(p.numel() for p in ens.parameters()) == 4 * per_member
    x = torch.randn(5, 3, dtype=torch.float64)
    second = ens.member(1)
    assert isinstance(second, nn.Sequential)
    torch.testing.assert_close(second(x), members[1](x), rtol=0, atol=1e-12)
    with torch.no_grad():
        second[0].weight.add_(1.0)  # a copy: the ensemble is unchanged
    torch.testing.assert_close(ens(x)[1], members[1](x), rtol=0, atol=1e-12)
    _, other = members_and_ensemble()
    with torch.no_grad():
        for p in other.parameters():
            p.zero_()
    other.load_state_dict(ens.state_dict())
    torch.testing.assert_close(other(x), ens(x), rtol=0, atol=0)


def test_make_draws_independent_members_from_the_global_rng():
    torch.manual_seed(1)
    ens = Ensemble(lambda: nn.Linear(2, 3), 5)
    torch.manual_seed(1)
    expected = [nn.Linear(2, 3) for _ in range(5)]
    for i, m in enumerate(expected):
        torch.testing.assert_close(ens.stacked()["weight"][i], m.weight.detach())
    assert not torch.equal(ens.stacked()["weight"][0], ens.stacked()["weight"][1])


def test_batchnorm_members_train_without_running_stats_and_evaluate_with_them():
    x = torch.randn(9, 3, dtype=torch.float64)
    members, ens = members_and_ensemble(sizes=(3, 6, 2), n=3, batchnorm=True)
    with pytest.raises(RuntimeError, match="running statistics"):
        ens(x)  # vmap would silently leave the running statistics stale
    for m in members:
        m[1].running_mean.uniform_(-1, 1)  # make each member's buffers differ
        m.eval()
    ens = Ensemble.from_modules(copy.deepcopy(members)).eval()
    out = ens(x)
    for i, m in enumerate(members):
        torch.testing.assert_close(out[i], m(x), rtol=0, atol=1e-12)

    torch.manual_seed(0)
    members = [nn.Sequential(nn.Linear(3, 6), nn.BatchNorm1d(6, track_running_stats=False), nn.ReLU(),
                             nn.Linear(6, 2)).double() for _ in range(3)]
    out = Ensemble.from_modules(copy.deepcopy(members))(x)  # batch statistics per member
    for i, m in enumerate(members):
        torch.testing.assert_close(out[i], m(x), rtol=0, atol=1e-12)


def test_rejects_empty_ensembles():
    with pytest.raises(ValueError):
        Ensemble(lambda: nn.Linear(1, 1), 0)
    with pytest.raises(ValueError):
        Ensemble.from_modules([])


def test_train_and_eval_reach_dropout_in_the_members():
    torch.manual_seed(0)
    ens = Ensemble(lambda: nn.Sequential(nn.Linear(4, 32), nn.Dropout(0.5), nn.Linear(32, 2)), 3)
    wrapper = nn.Sequential(ens)  # the switch must also arrive through a parent module
    x = torch.randn(5, 4)
    wrapper.eval()
    expected = torch.stack([ens.member(i).eval()(x) for i in range(3)])
    torch.testing.assert_close(ens(x), expected)
    wrapper.train()
    assert not torch.allclose(ens(x), ens(x))  # fresh dropout masks on every call
