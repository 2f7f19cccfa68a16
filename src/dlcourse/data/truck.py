"""D11: the truck-and-trailer kinematic simulator of practicum 10-3 / notebook 14, batched in torch.

A cab of length L pulls (here: pushes, it only reverses) a trailer of length d hitched at the cab's
rear. The state of one truck is 6 numbers (x, y, θ₀, x_tr, y_tr, θ₁): the hitch (x, y), the cab
heading θ₀, the trailer's rear (x_tr, y_tr) = (x − d·cos θ₁, y − d·sin θ₁) and the trailer heading
θ₁. One step with steering φ and signed speed s (negative: backing), dt = 1:

    x += s·cos θ₀        y += s·sin θ₀        θ₀ += (s/L)·tan φ        θ₁ += (s/d)·sin(θ₀ − θ₁)

(the code's sign of the last term, erratum 7: driving forward straightens the trailer, backing
folds it). The arena is x ∈ [0, 40], y ∈ [−10, 10] with the dock at (0, 0) on the left wall.
An episode ends when the truck jackknifes (|θ₀ − θ₁| > 90°, no wrap-around, as in the notebook),
when the cab's front (x + 1.5L·cos θ₀, y + 1.5L·sin θ₀) or the trailer's rear leaves the arena, or
when the trailer's rear reaches the left wall. It *docks* if it reaches the wall with
|y_tr| ≤ 1 and |θ₁| ≤ 0.3 (wrapped), unjackknifed.

Everything works on a batch: states are tensors (..., 6), so one call steps a thousand trucks (or
three seeds × a thousand) at once; benchmarks/truck.py measures that against one truck at a time.
`rollout` closes the loop with any policy and any dynamics (this simulator, or a network that
emulates it), and is differentiable through both when they are.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

CAB_LENGTH = 1.0  # L
TRAILER_LENGTH = 4.0  # d (hitch to trailer rear)
SPEED = -0.1  # s: backing up
MAX_STEER = math.pi / 4  # |φ| < 45°
BOX = (0.0, 40.0, -10.0, 10.0)  # x_min, x_max, y_min, y_max
DOCK_Y, DOCK_ANGLE = 1.0, 0.3  # docking tolerance: |y_tr| ≤ 1 and |θ₁| ≤ 0.3 rad


def trailer_rear(x: torch.Tensor, y: torch.Tensor, theta1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x - TRAILER_LENGTH * torch.cos(theta1), y - TRAILER_LENGTH * torch.sin(theta1)


def make_state(x, y, theta0, theta1) -> torch.Tensor:
    """(…, 6) states from hitch position and the two headings (the trailer rear follows)."""
    x_tr, y_tr = trailer_rear(x, y, theta1)
    return torch.stack([x, y, theta0, x_tr, y_tr, theta1], dim=-1)


def step(state: torch.Tensor, phi: torch.Tensor, speed: float = SPEED, dt: float = 1.0) -> torch.Tensor:
    """One kinematic step of every truck: state (..., 6), steering phi (...) → next state (..., 6)."""
    x, y, th0, _, _, th1 = state.unbind(-1)
    x = x + speed * torch.cos(th0) * dt
    y = y + speed * torch.sin(th0) * dt
    # every right-hand side uses the old state (the notebook unpacks it before updating: Euler step)
    th1 = th1 + speed / TRAILER_LENGTH * torch.sin(th0 - th1) * dt
    th0 = th0 + speed / CAB_LENGTH * torch.tan(phi) * dt
    return make_state(x, y, th0, th1)


def jackknifed(state: torch.Tensor) -> torch.Tensor:
    return (state[..., 2] - state[..., 5]).abs() > math.pi / 2


def _outside(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    x0, x1, y0, y1 = BOX
    return (px < x0) | (px > x1) | (py < y0) | (py > y1)


def off_screen(state: torch.Tensor) -> torch.Tensor:
    """The cab's front or the trailer's rear is outside the arena."""
    x, y, th0, x_tr, y_tr, _ = state.unbind(-1)
    front_x, front_y = x + 1.5 * CAB_LENGTH * torch.cos(th0), y + 1.5 * CAB_LENGTH * torch.sin(th0)
    return _outside(front_x, front_y) | _outside(x_tr, y_tr)


def at_wall(state: torch.Tensor) -> torch.Tensor:
    return state[..., 3] <= BOX[0]


def wrap(angle: torch.Tensor) -> torch.Tensor:
    """Angle in (−π, π]."""
    return torch.atan2(torch.sin(angle), torch.cos(angle))


def docked(state: torch.Tensor) -> torch.Tensor:
    """The trailer's rear is at the wall, near the dock, nearly square to it, and not jackknifed."""
    return (at_wall(state) & (state[..., 4].abs() <= DOCK_Y) & (wrap(state[..., 5]).abs() <= DOCK_ANGLE)
            & ~jackknifed(state))


def ended(state: torch.Tensor) -> torch.Tensor:
    """Episode over: jackknifed, or off the arena (which includes reaching the left wall)."""
    return jackknifed(state) | off_screen(state)


def random_starts(n: int, generator: torch.Generator, x: tuple[float, float] = (10.0, 40.0),
                  y: tuple[float, float] = (-10.0, 10.0), heading: float | None = math.pi / 4,
                  hitch: float = math.pi / 4, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """n valid start states (n, 6), drawn and redrawn until none is ended.

    heading None: the notebook's reset (any heading), θ₀ uniform and θ₁ = θ₀ + U[−π/4, π/4); the
      notebook draws θ₀ in [0, 2π), we draw it in [−π, π): the same headings, but a truck facing the
      dock has angles near 0 from both sides, which is where the controller lives.
    heading h: the trailer backs toward the dock within ±h: θ₁ ~ U[−h, h], θ₀ = θ₁ + U[−hitch, hitch].
    Redrawing only the invalid rows keeps it vectorized: a few rounds, not a loop over trucks."""
    out = torch.empty(n, 6, dtype=dtype)
    todo = torch.arange(n)
    while len(todo):
        m = len(todo)
        u = torch.rand(m, 4, generator=generator, dtype=dtype)
        cx = x[0] + (x[1] - x[0]) * u[:, 0]
        cy = y[0] + (y[1] - y[0]) * u[:, 1]
        if heading is None:
            th0 = math.pi * (2 * u[:, 2] - 1)
            th1 = th0 + math.pi / 4 * (2 * u[:, 3] - 1)
        else:
            th1 = heading * (2 * u[:, 2] - 1)
            th0 = th1 + hitch * (2 * u[:, 3] - 1)
        s = make_state(cx, cy, th0, th1)
        bad = ended(s)
        out[todo[~bad]] = s[~bad]
        todo = todo[bad]
    return out


def random_steering_episodes(episodes: int, generator: torch.Generator, max_steps: int = 1000,
                             hold: int = 1, heading: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The notebook's expert data: from random starts (any heading), steer at random until the episode
    ends. Returns inputs (N, 7) = (φ, state) and targets (N, 6) = the state `hold` steps later, over
    every transition of every episode (the transition into the final, ended state included).
    hold > 1 keeps each random φ for `hold` steps: the transitions of a controller that acts every
    `hold` steps. `heading` limits the starts as in `random_starts` (None: any heading).
    All episodes run side by side; a finished one simply stops contributing rows."""
    state = random_starts(episodes, generator, heading=heading)
    alive = torch.ones(episodes, dtype=torch.bool)
    inputs, targets = [], []
    for _ in range(max_steps):
        phi = MAX_STEER * (2 * torch.rand(episodes, generator=generator) - 1)
        nxt = state
        for _ in range(hold):
            nxt = step(nxt, phi)
        inputs.append(torch.cat([phi[alive, None], state[alive]], 1))
        targets.append(nxt[alive])
        state, alive = nxt, alive & ~ended(nxt)
        if not alive.any():
            break
    return torch.cat(inputs), torch.cat(targets)


def rollout(policy: Callable[[torch.Tensor], torch.Tensor], state: torch.Tensor,
            dynamics: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = step,
            max_steps: int = 1000, hold: int = 1, check_every: int = 10):
    """Close the loop on a batch of trucks (any leading shape): φ = policy(state) every `hold` steps,
    state = dynamics(state, φ), for max_steps or until every truck has ended.

    The loop itself never branches per truck: it steps everyone and only every `check_every` steps
    asks whether all have ended (the per-step termination tests would cost as much as the step).
    Afterwards each truck's *first* ended state is picked from the stacked path. Picking is a
    `gather`, so when policy and dynamics are differentiable the gradient of a loss on the final
    states flows back through exactly the steps each truck took (a controller trains that way).
    Returns (path (T+1, ..., 6), index of each truck's final state (...), ended mask (...));
    `path.gather(0, ...)` or `final_states` gives the final states."""
    path = [state]
    ever = ended(state)
    for t in range(max_steps):
        if t % hold == 0:
            phi = policy(state)
        state = dynamics(state, phi)
        path.append(state)
        if (t + 1) % check_every == 0 or t + 1 == max_steps:
            with torch.no_grad():
                ever = ever | ended(torch.stack(path[-check_every:]).detach()).any(0)
            if bool(ever.all()):
                break
    path = torch.stack(path)
    with torch.no_grad():
        over = ended(path)
        last = torch.where(over.any(0), over.int().argmax(0), len(path) - 1)  # first True, else the end
    return path, last, over.any(0)


def final_states(path: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """path (T+1, ..., 6) and indices (...) from `rollout` → the final states (..., 6)."""
    return path.gather(0, last[None, ..., None].expand(1, *last.shape, path.shape[-1]))[0]


__all__ = ["CAB_LENGTH", "TRAILER_LENGTH", "SPEED", "MAX_STEER", "BOX", "trailer_rear", "make_state",
           "step", "jackknifed", "off_screen", "at_wall", "docked", "ended", "wrap", "random_starts",
           "random_steering_episodes", "rollout", "final_states"]
