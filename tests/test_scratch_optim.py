"""From-scratch optimizers and schedules (dlcourse.scratch.optim) against torch.optim."""

import copy
import io

import pytest
import torch
from torch import nn

from dlcourse.data.quadratic import quadratic
from dlcourse.scratch import optim

STEPS = 100

# (our class, torch class, hyper-parameters): the knobs that change the update rule
CASES = [
    (optim.SGD, torch.optim.SGD, dict(lr=0.1)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.8, dampening=0.5, weight_decay=1e-2)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1)),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=1e-2)),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1, initial_accumulator_value=0.1, eps=1e-6)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-6, momentum=0.9)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, centered=True)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.005, centered=True, momentum=0.5, weight_decay=1e-2)),
    (optim.Adadelta, torch.optim.Adadelta, dict()),
    (optim.Adadelta, torch.optim.Adadelta, dict(lr=0.5, rho=0.95, eps=1e-5, weight_decay=1e-2)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2)),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.01)),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.01, betas=(0.7, 0.9), weight_decay=0.1)),
]
IDS = [f"{ours.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for ours, _, kw in CASES]


def make_problem(seed=0):
    """A tiny regression MLP in float64, with mini-batches that cycle through the data."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    X = torch.randn(64, 5, dtype=torch.float64)
    Y = torch.randn(64, 3, dtype=torch.float64)
    return model, X, Y


def param_groups(model, kw):
    # Two groups (the second with half the lr) and a parameter that never gets a gradient, so the
    # tests also cover per-group hyper-parameters and the "grad is None: skip" rule.
    unused = nn.Parameter(torch.ones(2, dtype=torch.float64))
    return [
        {"params": list(model[0].parameters()) + [unused]},
        {"params": list(model[2].parameters()), "lr": kw.get("lr", 1.0) / 2},
    ]


def train(model, opt, X, Y, steps, start=0):
    for k in range(start, start + steps):
        i = (k % 4) * 16
        opt.zero_grad()
        nn.functional.mse_loss(model(X[i:i + 16]), Y[i:i + 16]).backward()
        opt.step()


def flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("ours, theirs, kw", CASES, ids=IDS)
def test_matches_torch_over_100_steps(ours, theirs, kw):
    model, X, Y = make_problem()
    twin = copy.deepcopy(model)
    train(model, ours(param_groups(model, kw), **kw), X, Y, STEPS)
    train(twin, theirs(param_groups(twin, kw), **kw), X, Y, STEPS)
    moved = (flat(model) - flat(make_problem()[0])).abs().max()
    assert moved > 1e-2  # the comparison means something: the parameters did move
    assert (flat(model) - flat(twin)).abs().max() < 1e-10


@pytest.mark.parametrize("ours, theirs, kw", CASES, ids=IDS)
def test_state_dict_round_trip(ours, theirs, kw):
    # 20 steps, checkpoint (through torch.save/torch.load(weights_only=True)), restore into a fresh
    # model and optimizer, 20 more steps: the same parameters as 40 uninterrupted steps.
    steps = 40
    model, X, Y = make_problem()
    restarted = copy.deepcopy(model)
    train(model, ours(param_groups(model, kw), **kw), X, Y, steps)

    opt = ours(param_groups(restarted, kw), **kw)
    train(restarted, opt, X, Y, steps // 2)
    buf = io.BytesIO()
    torch.save({"model": restarted.state_dict(), "opt": opt.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    fresh = make_problem(seed=1)[0]
    fresh.load_state_dict(ckpt["model"])
    opt2 = ours(param_groups(fresh, kw), **kw)
    opt2.load_state_dict(ckpt["opt"])
    train(fresh, opt2, X, Y, steps - steps // 2, start=steps // 2)
    assert torch.equal(flat(fresh), flat(model))


def test_closure_and_torch_scheduler_interop():
    # step(closure) returns the loss, and torch's schedulers drive our optimizers unchanged.
    model, X, Y = make_problem()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    def closure():
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(X), Y)
        loss.backward()
        return loss

    losses = []
    for _ in range(5):
        losses.append(opt.step(closure).item())
        sched.step()
    assert losses[-1] < losses[0]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**2)


def test_adam_bias_correction_first_step():
    # Erratum 3: with bias correction the first Adam step is lr·sign(g) (up to eps), whatever β₁, β₂.
    w = nn.Parameter(torch.tensor([3.0, -2.0], dtype=torch.float64))
    opt = optim.Adam([w], lr=0.1, betas=(0.9, 0.999), eps=0.0)
    w.grad = torch.tensor([0.5, -4.0], dtype=torch.float64)
    opt.step()
    assert torch.allclose(w.detach(), torch.tensor([2.9, -1.9], dtype=torch.float64))


def test_adamw_decay_is_decoupled():
    # With a zero gradient Adam's L2 term still goes through m/√v (a full lr-sized step), while
    # AdamW just shrinks w by the factor (1 − lr·wd).
    for cls, expected in [(optim.Adam, 1.0 - 0.1), (optim.AdamW, 1.0 * (1 - 0.1 * 0.5))]:
        w = nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
        opt = cls([w], lr=0.1, weight_decay=0.5, eps=1e-12)
        w.grad = torch.zeros_like(w)
        opt.step()
        assert w.item() == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------
# schedules


def torch_lrs(make_sched, base_lr, n):
    """The lr torch uses at optimizer steps 0..n-1."""
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base_lr, momentum=0.9)
    sched = make_sched(opt)
    lrs = []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_step_decay_matches_steplr():
    ours = optim.step_decay(0.3, step_size=7, gamma=0.5)
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5), 0.3, 60)
    assert [ours(s) for s in range(60)] == pytest.approx(theirs, rel=1e-12)


@pytest.mark.parametrize("lr_min", [0.0, 1e-3])
def test_cosine_matches_cosine_annealing(lr_min):
    T = 40
    ours = optim.cosine(0.1, total_steps=T, lr_min=lr_min)
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=T, eta_min=lr_min), 0.1, T + 1)
    assert [ours(s) for s in range(T + 1)] == pytest.approx(theirs, rel=1e-9, abs=1e-12)
    assert ours(T + 10) == pytest.approx(lr_min)  # we stay at the bottom after total_steps


@pytest.mark.parametrize("kw", [dict(), dict(pct_start=0.25, div_factor=10.0, final_div_factor=100.0),
                                dict(pct_start=0.5)])
@pytest.mark.parametrize("total", [100, 37])
def test_one_cycle_matches_onecyclelr(kw, total):
    ours = optim.one_cycle(0.5, total_steps=total, **kw)
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=total, **kw),
                       0.5, total)
    assert [ours(s) for s in range(total)] == pytest.approx(theirs, rel=1e-9, abs=1e-15)


def test_warmup_inverse_sqrt_is_vaswani():
    d_model, warmup = 512, 4000
    lr_at = optim.warmup_inverse_sqrt((d_model * warmup) ** -0.5, warmup)
    for step in [0, 1, 10, 1000, 3998, 3999, 4000, 10_000, 100_000]:
        s = step + 1  # the paper counts steps from 1
        assert lr_at(step) == pytest.approx(d_model**-0.5 * min(s**-0.5, s * warmup**-1.5), rel=1e-12)
    lrs = [lr_at(s) for s in range(20_000)]
    assert max(range(20_000), key=lrs.__getitem__) == warmup - 1  # rises, peaks at the end of warm-up
    assert lr_at(4 * warmup - 1) == pytest.approx(lr_at(warmup - 1) / 2)  # then 1/√step


def test_linear_warmup_cosine():
    lr_at = optim.linear_warmup_cosine(1.0, warmup_steps=10, total_steps=110, lr_min=0.1)
    lrs = [lr_at(s) for s in range(130)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(lrs[:9], lrs[1:10]))
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
    assert lrs[60] == pytest.approx(0.55) and lrs[110] == pytest.approx(0.1) and lrs[129] == pytest.approx(0.1)


def test_set_lr_applies_schedule():
    model, X, Y = make_problem()
    opt = optim.Adam(model.parameters(), lr=0.0)
    lr_at = optim.cosine(0.01, total_steps=10)
    for step in range(10):
        optim.set_lr(opt, lr_at(step))
        assert opt.param_groups[0]["lr"] == lr_at(step)


# ---------------------------------------------------------------------------------------------
# D14 quadratic


def test_quadratic_d14():
    f = quadratic()
    w = f.start().requires_grad_()
    assert f(w).item() == pytest.approx(0.5 * (1 + 5))
    f(w).backward()
    assert torch.allclose(w.grad, f.grad(w.detach()))
    assert torch.equal(f.minimizer, torch.zeros(2, dtype=torch.float64))
    assert f.eigenvalues.tolist() == [1.0, 5.0]
    grid = torch.randn(4, 3, 2, dtype=torch.float64)  # f works on a grid of points too
    assert f(grid).shape == (4, 3)
    g = quadratic(b=[1.0, -2.0])
    assert torch.allclose(g.grad(g.minimizer), torch.zeros(2, dtype=torch.float64))


def test_quadratic_noise_is_unbiased_and_matches_autograd():
    f = quadratic()
    w = torch.tensor([0.3, -0.7], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    mean = f.noisy_grad(w.expand(20_000, 2), 1.0, gen).mean(0)  # 20 000 draws at once
    assert (mean - f.grad(w)).abs().max() < 0.05  # 4 standard errors
    w_ = w.clone().requires_grad_()
    f.noisy_loss(w_, 1.0, torch.Generator().manual_seed(5)).backward()
    assert torch.allclose(w_.grad, f.noisy_grad(w, 1.0, torch.Generator().manual_seed(5)))


def steps_to(opt_cls, tol=1e-3, max_steps=200, **kw):
    f = quadratic()
    w = nn.Parameter(f.start())
    opt = opt_cls([w], **kw)
    for k in range(max_steps):
        if w.detach().norm() < tol:
            return k
        opt.zero_grad()
        f(w).backward()
        opt.step()
    return max_steps


def test_momentum_halves_steps_on_d14():
    # The catalogue's target: at the same lr, momentum reaches ‖w‖ < 1e-3 in at most half the steps.
    plain = steps_to(optim.SGD, lr=0.1)
    heavy = steps_to(optim.SGD, lr=0.1, momentum=0.5)
    assert plain == 66 and heavy <= plain / 2
    # lr·λ_max > 2 diverges, just below converges (05-1.a).
    assert steps_to(optim.SGD, lr=0.39) < 200 and steps_to(optim.SGD, lr=0.41) == 200


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")  # torch.optim.Adagrad's own warning
@pytest.mark.parametrize("kw", [dict(lr=0.1), dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, eps=1e-6)])
def test_adagrad_sparse_gradients_like_torch(kw):
    # nn.Embedding(sparse=True) gives sparse gradients, with a row repeated whenever a token repeats.
    torch.manual_seed(0)
    emb = nn.Embedding(10, 3, sparse=True).double()
    twin = copy.deepcopy(emb)
    ours, theirs = optim.Adagrad(emb.parameters(), **kw), torch.optim.Adagrad(twin.parameters(), **kw)
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        tokens = torch.randint(0, 6, (8,), generator=g)  # rows 6–9 never get a gradient
        target = torch.randn(8, 3, generator=g, dtype=torch.float64)
        for model, opt in ((emb, ours), (twin, theirs)):
            opt.zero_grad()
            nn.functional.mse_loss(model(tokens), target).backward()
            assert model.weight.grad.is_sparse
            opt.step()
    torch.testing.assert_close(emb.weight, twin.weight, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours.state[emb.weight]["sum"], theirs.state[twin.weight]["sum"], rtol=0, atol=1e-12)


def test_adagrad_sparse_gradients_refuse_weight_decay():
    emb = nn.Embedding(4, 2, sparse=True)
    opt = optim.Adagrad(emb.parameters(), weight_decay=0.1)
    emb(torch.tensor([1])).sum().backward()
    with pytest.raises(ValueError, match="weight_decay.*sparse"):
        opt.step()
