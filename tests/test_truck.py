"""The truck-and-trailer simulator (D11) and the truck lesson's networks."""

import math

import pytest
import torch

from dlcourse.data import truck as sim
from dlcourse.models.truck import MIRROR, Controller, Emulator


def state(x, y, th0, th1):
    return sim.make_state(*(torch.tensor([v], dtype=torch.float64) for v in (x, y, th0, th1)))


def test_straight_step_by_hand():
    s = sim.step(state(10.0, 0.0, 0.0, 0.0), torch.zeros(1, dtype=torch.float64))
    assert torch.allclose(s, torch.tensor([[9.9, 0.0, 0.0, 5.9, 0.0, 0.0]], dtype=torch.float64))


def test_turning_step_by_hand():
    # θ₀ = 90°, θ₁ = 0, φ = 45°: every right-hand side uses the old state (Euler step)
    s = sim.step(state(10.0, 2.0, math.pi / 2, 0.0), torch.tensor([math.pi / 4], dtype=torch.float64))
    th0, th1 = math.pi / 2 - 0.1 * 1.0, 0.0 - 0.1 / 4 * math.sin(math.pi / 2)
    x, y = 10.0 - 0.1 * math.cos(math.pi / 2), 2.0 - 0.1
    expected = [x, y, th0, x - 4 * math.cos(th1), y - 4 * math.sin(th1), th1]
    assert torch.allclose(s[0], torch.tensor(expected, dtype=torch.float64), atol=1e-12)


def test_batch_equals_one_truck_at_a_time():
    g = torch.Generator().manual_seed(0)
    s = sim.random_starts(50, g, heading=None, dtype=torch.float64)
    phi = sim.MAX_STEER * (2 * torch.rand(50, generator=g, dtype=torch.float64) - 1)
    batched = sim.step(s, phi)
    for i in range(50):
        assert torch.equal(batched[i:i + 1], sim.step(s[i:i + 1], phi[i:i + 1]))
    stacked = sim.step(s.reshape(5, 10, 6), phi.reshape(5, 10))  # any leading shape
    assert torch.equal(stacked.reshape(50, 6), batched)


def test_straight_backing_folds_and_forward_straightens():
    s0 = state(30.0, 0.0, 0.2, 0.0)
    back, fwd = s0, s0
    for _ in range(20):
        back = sim.step(back, torch.zeros(1, dtype=torch.float64))
        fwd = sim.step(fwd, torch.zeros(1, dtype=torch.float64), speed=0.1)
    hitch = lambda s: (s[0, 2] - s[0, 5]).abs().item()  # noqa: E731
    assert hitch(back) > 0.2 > hitch(fwd)


def test_backing_straight_ends_in_a_jackknife():
    path, last, over = sim.rollout(lambda s: torch.zeros(s.shape[:-1], dtype=s.dtype),
                                   state(30.0, 0.0, 0.2, 0.0), max_steps=1000)
    final = sim.final_states(path, last)
    assert over.all() and sim.jackknifed(final).all() and not sim.off_screen(final).any()
    assert not sim.jackknifed(path[last - 1, 0]).any()  # the final state is the first ended one


def test_jackknife_threshold():
    assert sim.jackknifed(state(20.0, 0.0, 1.6, 0.0)).item()
    assert sim.jackknifed(state(20.0, 0.0, -1.6, 0.0)).item()
    assert not sim.jackknifed(state(20.0, 0.0, 1.5, 0.0)).item()
    assert sim.jackknifed(state(20.0, 0.0, 2 * math.pi, 0.0)).item()  # no wrap-around, as in the notebook


def test_off_screen():
    assert sim.off_screen(state(39.0, 0.0, 0.0, 0.0)).item()  # cab front at x = 40.5
    assert not sim.off_screen(state(38.0, 0.0, 0.0, 0.0)).item()
    assert sim.off_screen(state(20.0, 8.0, 0.0, -math.pi / 2)).item()  # trailer rear at y = 12
    assert sim.off_screen(state(3.0, 0.0, 0.0, 0.0)).item()  # trailer rear at x = −1: past the wall
    assert not sim.off_screen(state(4.0, 9.0, 0.0, 0.0)).item()


def test_docking():
    assert sim.docked(state(3.95, 0.5, 0.0, 0.0)).item()
    assert sim.docked(state(3.95, 0.5, 0.1 + 2 * math.pi, 0.1 + 2 * math.pi)).item()  # θ₁ is wrapped
    assert not sim.docked(state(3.95, 1.5, 0.0, 0.0)).item()  # too far from the dock
    assert not sim.docked(state(3.95, 0.0, 0.4, 0.4)).item()  # too skewed
    assert not sim.docked(state(4.5, 0.0, 0.0, 0.0)).item()  # not at the wall yet
    assert not sim.docked(state(3.95, 0.0, 1.8, 0.1)).item()  # jackknifed


def test_random_starts():
    g = torch.Generator().manual_seed(1)
    s = sim.random_starts(2000, g, x=(10, 20), y=(-5, 5))
    assert s.shape == (2000, 6) and not sim.ended(s).any()
    assert s[:, 0].min() >= 10 and s[:, 0].max() <= 20 and s[:, 1].abs().max() <= 5
    assert s[:, 5].abs().max() <= math.pi / 4 + 1e-6
    assert torch.allclose(s[:, 3:5], torch.stack(sim.trailer_rear(s[:, 0], s[:, 1], s[:, 5]), 1))
    again = sim.random_starts(2000, torch.Generator().manual_seed(1), x=(10, 20), y=(-5, 5))
    assert torch.equal(s, again)
    anyway = sim.random_starts(2000, g, heading=None)
    assert (anyway[:, 2].cos() < 0).float().mean() > 0.3  # many face away from the dock
    assert ((anyway[:, 5] - anyway[:, 2]).abs() <= math.pi / 4 + 1e-6).all()


@pytest.mark.parametrize("hold", [1, 3])
def test_random_steering_episodes(hold):
    x, y = sim.random_steering_episodes(20, torch.Generator().manual_seed(2), hold=hold)
    assert x.shape[1] == 7 and y.shape == (len(x), 6) and len(x) > 100
    expected = x[:, 1:]
    for _ in range(hold):
        expected = sim.step(expected, x[:, 0])
    assert torch.allclose(y, expected)
    assert x[:, 0].abs().max() <= sim.MAX_STEER
    assert not sim.ended(x[:, 1:]).any()  # every recorded input is a live state


def test_rollout_backpropagates_to_the_controller():
    g = torch.Generator().manual_seed(3)
    ctrl = Controller(2, 8, generator=g)
    s0 = sim.random_starts(10, g).reshape(2, 5, 6)
    path, last, _ = sim.rollout(ctrl.policy(), s0, max_steps=50)
    sim.final_states(path, last)[..., 4].pow(2).sum().backward()
    net = ctrl.net  # the output bias cancels in f(s) − f(mirror s): it alone gets no gradient
    assert all(p.grad.abs().sum() > 0 for p in [*net.weights, net.biases[0]])


def test_fast_paths_equal_the_plain_ones_and_mirror_symmetry():
    g = torch.Generator().manual_seed(4)
    ctrl = Controller(3, 16, generator=g).double()
    emu = Emulator(12).double()
    x, y = sim.random_steering_episodes(30, g)
    emu.fit_scalers(x.double(), y.double())
    s = sim.random_starts(60, g, dtype=torch.float64).reshape(3, 20, 6)
    phi = ctrl(s)
    assert torch.allclose(ctrl.policy()(s), phi, atol=1e-12)
    assert torch.allclose(ctrl(s * MIRROR.double()), -phi, atol=1e-12)  # φ(mirror s) = −φ(s)
    assert phi.abs().max() < sim.MAX_STEER
    assert torch.allclose(emu.stepper()(s, phi), emu.step(s, phi), atol=1e-10)
    nxt = emu.step(s, phi)  # the trailer's rear is geometry, recomputed from (x, y, θ₁)
    assert torch.allclose(nxt[..., 3:5], torch.stack(sim.trailer_rear(nxt[..., 0], nxt[..., 1], nxt[..., 5]), -1))


def test_emulator_shapes_and_parameter_count():
    emu = Emulator()
    assert sum(p.numel() for p in emu.parameters()) == 7 * 45 + 45 + 45 * 6 + 6  # 636, as in the notebook
    u, v = emu.standardize(torch.randn(5, 7), torch.randn(5, 6))
    assert emu(u).shape == v.shape == (5, 6)
