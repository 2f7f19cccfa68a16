"""D13: a toy highway for PPUU (practicum 11-3), batched in torch: vector states instead of video.

A ring road of three lanes carries other cars that never change lane and drive by the intelligent
driver model (IDM), a simple car-following rule: accelerate toward your desired speed, brake to keep
a safe, speed-dependent gap to the car ahead in your lane (another car or the ego car). The ego car
is driven by an action (longitudinal acceleration, lateral speed). Units are metres and seconds.

    a_i = A·[1 − (v_i/v0_i)⁴ − (s*/s)²],   s* = S0 + v_i·T + v_i·(v_i − v_lead)/(2√(A·B))

with s the bumper-to-bumper gap to the leader. The ego car counts as being in every lane it
overlaps (while changing lanes it is a leader in both). A collision is any overlap of the ego's
rectangle with another car's (|Δx| < car length and |Δy| < car width); cars pass through each other
in the simulation itself, so a collision is an event we count, not a change of the dynamics.

The observation the forward model and the policy see is ego-centric: for each other car its
longitudinal offset Δx (wrapped around the ring), lateral offset Δy and relative speed Δv, then the
ego's speed and lateral position: 3·M + 2 numbers. Every function works on a batch of scenes.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

LANE = 3.7  # lane width
LANES = 3  # lane centres at y = −LANE, 0, +LANE
CAR_LENGTH, CAR_WIDTH = 4.5, 1.8
ROAD = 400.0  # ring length
DT = 0.5  # seconds per step
IDM_ACCEL, IDM_BRAKE, IDM_GAP, IDM_HEADWAY, MAX_BRAKE = 1.5, 2.0, 2.0, 1.2, 9.0
EGO_ACCEL = (-6.0, 3.0)  # ego longitudinal acceleration range, m/s²
EGO_LATERAL = 2.0  # ego lateral speed range ±, m/s
EGO_SPEED = 25.0  # the ego's initial (and constant-speed policy's) speed
Y_LIMIT = LANE * (LANES / 2) - CAR_WIDTH / 2  # the ego stays on the road


class Scene(NamedTuple):
    """A batch of B scenes with M other cars each."""
    x: torch.Tensor  # (B, M) positions along the ring, in [0, ROAD)
    y: torch.Tensor  # (B, M) lane centres
    v: torch.Tensor  # (B, M) speeds
    v0: torch.Tensor  # (B, M) desired speeds
    ego: torch.Tensor  # (B, 3): x, y, v


def lane_centres(dtype=torch.float32) -> torch.Tensor:
    return (torch.arange(LANES, dtype=dtype) - (LANES - 1) / 2) * LANE


def wrap(dx: torch.Tensor) -> torch.Tensor:
    """Longitudinal offset on the ring, in [−ROAD/2, ROAD/2)."""
    return torch.remainder(dx + ROAD / 2, ROAD) - ROAD / 2


def reset(batch: int, generator: torch.Generator, cars_per_lane: int = 4, speed: tuple[float, float] = (12.0, 22.0),
          clear: float = 25.0) -> Scene:
    """Random scenes: cars spread evenly per lane with jitter, random desired speeds (all slower
    than the ego's 25 m/s), the ego at x = 0 in a random lane with `clear` metres free ahead and
    behind in its own lane and ±CAR_LENGTH + 2 m free in the others."""
    M = LANES * cars_per_lane
    spacing = ROAD / cars_per_lane
    slot = torch.arange(cars_per_lane).repeat(LANES) * spacing  # (M,)
    lane = torch.arange(LANES).repeat_interleave(cars_per_lane)
    offset = torch.rand(batch, LANES, generator=generator).repeat_interleave(cars_per_lane, 1) * spacing
    jitter = (torch.rand(batch, M, generator=generator) - 0.5) * 0.5 * spacing
    x = torch.remainder(slot + offset + jitter, ROAD)
    y = lane_centres()[lane].expand(batch, M).clone()
    v0 = speed[0] + (speed[1] - speed[0]) * torch.rand(batch, M, generator=generator)
    ego_lane = torch.randint(LANES, (batch,), generator=generator)
    ego = torch.stack([torch.zeros(batch), lane_centres()[ego_lane], torch.full((batch,), EGO_SPEED)], 1)
    # push cars out of the ego's way: in its lane to ±clear, in the others to ±(CAR_LENGTH + 2)
    dx = wrap(x - ego[:, :1])
    need = torch.where(lane[None] == ego_lane[:, None], clear, CAR_LENGTH + 2.0)
    moved = torch.where(dx.abs() < need, torch.sign(dx + 1e-6) * need, dx)
    x = torch.remainder(moved + ego[:, :1], ROAD)
    return Scene(x, y, v0.clone(), v0, ego)


def leader_gap(scene: Scene) -> tuple[torch.Tensor, torch.Tensor]:
    """For each other car: bumper gap to the nearest car ahead in its lane (others or the ego) and
    that leader's speed. (B, M) each; a car alone in its lane sees a gap of one lap."""
    x, y, v, ego = scene.x, scene.y, scene.v, scene.ego
    all_x = torch.cat([x, ego[:, :1]], 1)  # (B, M+1): the ego is the last candidate
    all_v = torch.cat([v, ego[:, 2:]], 1)
    same = y[:, :, None] == y[:, None, :]  # (B, M, M): other cars share a lane exactly
    ego_in = (y - ego[:, 1:2]).abs() < (LANE + CAR_WIDTH) / 2  # the ego overlaps this car's lane
    same = torch.cat([same, ego_in[:, :, None]], 2)
    ahead = torch.remainder(all_x[:, None, :] - x[:, :, None], ROAD)  # (B, M, M+1) in [0, ROAD)
    ahead = torch.where(same & (ahead > 0), ahead, torch.full_like(ahead, ROAD + CAR_LENGTH))
    dist, j = ahead.min(2)
    return dist - CAR_LENGTH, all_v.gather(1, j)


def idm_accel(v: torch.Tensor, v0: torch.Tensor, gap: torch.Tensor, v_lead: torch.Tensor) -> torch.Tensor:
    s_star = IDM_GAP + v * IDM_HEADWAY + v * (v - v_lead) / (2 * math.sqrt(IDM_ACCEL * IDM_BRAKE))
    a = IDM_ACCEL * (1 - (v / v0) ** 4 - (s_star.clamp(min=0) / gap.clamp(min=0.1)) ** 2)
    return a.clamp(min=-MAX_BRAKE)


def step(scene: Scene, action: torch.Tensor) -> Scene:
    """One step of DT seconds. action (B, 2): ego acceleration and lateral speed (clamped to range)."""
    gap, v_lead = leader_gap(scene)
    a = idm_accel(scene.v, scene.v0, gap, v_lead)
    v = (scene.v + a * DT).clamp(min=0)
    x = torch.remainder(scene.x + v * DT, ROAD)  # semi-implicit Euler: the new speed moves the car
    ex, ey, ev = scene.ego.unbind(1)
    acc = action[:, 0].clamp(*EGO_ACCEL)
    lat = action[:, 1].clamp(-EGO_LATERAL, EGO_LATERAL)
    ev = (ev + acc * DT).clamp(min=0)
    ego = torch.stack([torch.remainder(ex + ev * DT, ROAD), (ey + lat * DT).clamp(-Y_LIMIT, Y_LIMIT), ev], 1)
    return Scene(x, scene.y, v, scene.v0, ego)


def observe(scene: Scene) -> torch.Tensor:
    """(B, 3·M + 2): per other car (Δx, Δy, Δv) relative to the ego, then the ego's v and y."""
    dx = wrap(scene.x - scene.ego[:, :1])
    dy = scene.y - scene.ego[:, 1:2]
    dv = scene.v - scene.ego[:, 2:]
    per_car = torch.stack([dx, dy, dv], 2).flatten(1)
    return torch.cat([per_car, scene.ego[:, 2:], scene.ego[:, 1:2]], 1)


def neighbours(obs: torch.Tensor, reach: float = 100.0) -> torch.Tensor:
    """The compact state of D13 from an observation (B, 3·M + 2) → (B, 15): for the lane to the
    left, the ego's own lane and the lane to the right, the gap to the nearest car ahead and its
    relative speed, then the same behind (`reach` metres and 0 when there is none); then the ego's
    speed, its offset from its lane's centre and its lateral position (where the road ends).
    Differentiable in the chosen cars' Δx and Δv (which car is chosen is not)."""
    dx, dy, dv = obs[:, 0:-2:3], obs[:, 1:-2:3], obs[:, 2:-2:3]
    v, y = obs[:, -2], obs[:, -1]
    ego_lane = torch.round(y / LANE)
    rel_lane = torch.round((y[:, None] + dy) / LANE) - ego_lane[:, None]  # −1 left, 0 own, +1 right
    # the six (lane, direction) slots at once: (B, 6, M), sign·Δx > 0 means "in that direction"
    side = torch.tensor([-1.0, -1.0, 0.0, 0.0, 1.0, 1.0], device=obs.device)[:, None]
    sign = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0], device=obs.device)[:, None]
    ahead = sign * dx[:, None, :]
    mask = (rel_lane[:, None, :] == side) & (ahead > 0)
    gap, j = torch.where(mask, ahead, reach).min(2)  # (B, 6): the nearest car of each slot
    found = mask.gather(2, j[..., None])[..., 0]
    rel_v = torch.where(found, dv.gather(1, j), 0.0)
    slots = torch.stack([gap.clamp(max=reach) / reach, rel_v / 10], 2).flatten(1)
    return torch.cat([slots, torch.stack([v / EGO_SPEED, y / LANE - ego_lane, y / LANE], 1)], 1)


def collided(scene: Scene) -> torch.Tensor:
    """(B,) the ego overlaps another car."""
    dx = wrap(scene.x - scene.ego[:, :1])
    dy = scene.y - scene.ego[:, 1:2]
    return ((dx.abs() < CAR_LENGTH) & (dy.abs() < CAR_WIDTH)).any(1)


def constant_speed(obs: torch.Tensor) -> torch.Tensor:
    """The baseline policy: keep speed and lane (zero acceleration, zero lateral speed)."""
    return torch.zeros(len(obs), 2, dtype=obs.dtype, device=obs.device)


def drive(policy, scene: Scene, steps: int) -> tuple[torch.Tensor, torch.Tensor, list[Scene]]:
    """Run a policy (obs (B, D) → action (B, 2)) in the true simulator for `steps` steps.
    Returns (collided at any step (B,), distance the ego travelled (B,), the scenes)."""
    hit = collided(scene)
    travelled = torch.zeros(len(scene.ego))
    scenes = [scene]
    for _ in range(steps):
        scene = step(scene, policy(observe(scene)))
        hit = hit | collided(scene)
        travelled = travelled + scene.ego[:, 2] * DT
        scenes.append(scene)
    return hit, travelled, scenes


__all__ = ["LANE", "LANES", "CAR_LENGTH", "CAR_WIDTH", "ROAD", "DT", "EGO_ACCEL", "EGO_LATERAL", "EGO_SPEED",
           "Y_LIMIT", "Scene", "lane_centres", "wrap", "reset", "leader_gap", "idm_accel", "step", "observe",
           "neighbours", "collided", "constant_speed", "drive"]
