"""The toy highway (D13) of the PPUU lesson."""

import torch

from dlcourse.data import highway as hw


def scene(cars, ego):
    """cars: list of (x, lane index, v, v0); ego: (x, y, v)."""
    t = torch.tensor(cars, dtype=torch.float32)[None]
    y = hw.lane_centres()[t[..., 1].long()]
    return hw.Scene(t[..., 0], y, t[..., 2], t[..., 3], torch.tensor([ego], dtype=torch.float32))


def test_reset_shapes_determinism_and_clear_start():
    s = hw.reset(500, torch.Generator().manual_seed(0))
    assert s.x.shape == s.y.shape == s.v.shape == s.v0.shape == (500, 12) and s.ego.shape == (500, 3)
    again = hw.reset(500, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(s, again))
    assert not hw.collided(s).any()
    dx = hw.wrap(s.x - s.ego[:, :1])
    same_lane = s.y == s.ego[:, 1:2]
    assert dx[same_lane].abs().min() >= 25 - 1e-4
    assert (s.v0 < hw.EGO_SPEED).all() and ((s.x >= 0) & (s.x < hw.ROAD)).all()
    assert hw.observe(s).shape == (500, 3 * 12 + 2)


def test_wrap():
    dx = torch.tensor([10.0, 390.0, -390.0, 200.0])
    assert torch.allclose(hw.wrap(dx), torch.tensor([10.0, -10.0, 10.0, -200.0]))


def test_leader_gap_by_hand():
    s = scene([(10, 0, 20, 20), (30, 0, 15, 20)], (0, 0.0, 25))  # the ego is two lanes away
    gap, v_lead = hw.leader_gap(s)
    assert torch.allclose(gap, torch.tensor([[30 - 10 - 4.5, 400 - 20 - 4.5]]))
    assert torch.allclose(v_lead, torch.tensor([[15.0, 20.0]]))
    s = scene([(10, 0, 20, 20), (30, 0, 15, 20)], (20, -hw.LANE, 25))  # the ego cuts in between
    gap, v_lead = hw.leader_gap(s)
    assert torch.allclose(gap, torch.tensor([[20 - 10 - 4.5, 400 - 20 - 4.5]]))
    assert torch.allclose(v_lead, torch.tensor([[25.0, 20.0]]))


def test_idm():
    v0, far = torch.tensor([20.0]), torch.tensor([1e4])
    assert abs(hw.idm_accel(torch.tensor([20.0]), v0, far, v0).item()) < 1e-3  # cruising
    assert abs(hw.idm_accel(torch.tensor([0.0]), v0, far, v0).item() - 1.5) < 1e-6  # starts at A
    assert hw.idm_accel(torch.tensor([20.0]), v0, torch.tensor([1.0]), torch.tensor([0.0])).item() == -9.0


def test_ego_kinematics_and_action_limits():
    s = scene([(200, 0, 20, 20)], (0, 0.0, 25))
    nxt = hw.step(s, torch.tensor([[2.0, 1.0]]))
    assert torch.allclose(nxt.ego, torch.tensor([[26 * 0.5, 0.5, 26.0]]))  # v += 2·0.5, then x += v·0.5
    nxt = hw.step(s, torch.tensor([[100.0, 100.0]]))  # clamped to +3 m/s² and 2 m/s
    assert torch.allclose(nxt.ego, torch.tensor([[26.5 * 0.5, 1.0, 26.5]]))
    nxt = hw.step(scene([(200, 0, 20, 20)], (399.0, 0.0, 25)), torch.zeros(1, 2))
    assert abs(nxt.ego[0, 0].item() - 11.5) < 1e-4  # around the ring


def test_collisions():
    assert hw.collided(scene([(4.0, 1, 20, 20)], (0, 0.0, 25))).item()
    assert hw.collided(scene([(398.0, 1, 20, 20)], (2, 0.0, 25))).item()  # across the seam
    assert not hw.collided(scene([(4.0, 2, 20, 20)], (0, 0.0, 25))).item()  # the next lane
    assert not hw.collided(scene([(5.0, 1, 20, 20)], (0, 0.0, 25))).item()


def test_constant_speed_rear_ends_a_slow_car_and_braking_avoids_it():
    s = scene([(50, 1, 10, 10)], (0, 0.0, 25))  # closing at 15 m/s over a 45.5 m gap: ~3 s
    hit, travelled, scenes = hw.drive(hw.constant_speed, s, 10)
    assert hit.item() and abs(travelled.item() - 25 * 0.5 * 10) < 1e-3
    first = next(t for t, sc in enumerate(scenes) if hw.collided(sc).item())
    assert first * hw.DT >= 45.5 / 15 - hw.DT and first * hw.DT <= 45.5 / 15 + hw.DT

    def brake(obs):
        return torch.tensor([[hw.EGO_ACCEL[0], 0.0]]).expand(len(obs), 2)
    hit, _, _ = hw.drive(brake, s, 10)
    assert not hit.item()
