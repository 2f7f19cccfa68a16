"""The two networks of the truck backer-upper (practicum 10-3, notebook 14).

`Emulator`: the notebook's 7 → 45 → 6 MLP that learns the truck's dynamics from (φ, state) pairs. It
predicts the *change* of state, standardized by the statistics of the changes (the notebook predicts
the next state standardized with the input statistics: one step moves the truck 0.1 units, so that
target is almost the input itself and small relative errors add up over hundreds of steps). After
each emulated step the trailer's rear is recomputed from (x, y, θ₁): it is geometry, not dynamics.

`Controller`: S independent 6 → 25 → 1 steering networks (one per seed, stacked weights, so the
seeds train in one batched rollout). Steering is mirror-symmetric by construction: reflecting the
world in the x axis (y → −y, θ → −θ) must reflect the steering, φ(mirror s) = −φ(s), so the net
computes φ = φ_max·tanh(f(s) − f(mirror s)). Half the states it would otherwise have to learn come free.
f is a `models.ensemble.StackedMLP`: S ReLU MLPs in one set of (S, in, out) weights, run with batched matmuls.
"""

from __future__ import annotations

import torch
from torch import nn

from dlcourse.data.truck import MAX_STEER, make_state
from dlcourse.models.ensemble import StackedMLP

MIRROR = torch.tensor([1.0, -1.0, -1.0, 1.0, -1.0, -1.0])  # (x, y, θ₀, x_tr, y_tr, θ₁) reflected in y = 0
# fixed input scaling for the controller: zero at the mirror axis, so reflection is a sign flip
CENTRE = torch.tensor([20.0, 0.0, 0.0, 20.0, 0.0, 0.0])
SCALE = torch.tensor([10.0, 5.0, 1.0, 10.0, 5.0, 1.0])


class Emulator(nn.Module):
    """(φ, state) → next state, by a 7 → hidden → 6 MLP on standardized inputs and changes."""

    def __init__(self, hidden: int = 45):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(7, hidden), nn.ReLU(), nn.Linear(hidden, 6))
        for name, size in (("in_mean", 7), ("in_std", 7), ("d_mean", 6), ("d_std", 6)):
            self.register_buffer(name, torch.zeros(size) if "mean" in name else torch.ones(size))

    def fit_scalers(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Standardization statistics from training data: inputs (N, 7), next states (N, 6)."""
        change = targets - inputs[:, 1:]
        self.in_mean.copy_(inputs.mean(0)), self.in_std.copy_(inputs.std(0))
        self.d_mean.copy_(change.mean(0)), self.d_std.copy_(change.std(0))

    def standardize(self, inputs: torch.Tensor, targets: torch.Tensor):
        """The training pairs in network units: standardized inputs, standardized changes."""
        return (inputs - self.in_mean) / self.in_std, (targets - inputs[:, 1:] - self.d_mean) / self.d_std

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Standardized (φ, state) → standardized change (what the loss sees)."""
        return self.net(inputs)

    def step(self, state: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        """Drop-in for dlcourse.data.truck.step: state (..., 6), phi (...) → next state (..., 6)."""
        u = (torch.cat([phi[..., None], state], -1) - self.in_mean) / self.in_std
        nxt = state + self.net(u) * self.d_std + self.d_mean
        return make_state(nxt[..., 0], nxt[..., 1], nxt[..., 2], nxt[..., 5])

    def stepper(self):
        """The same function as `step`, with the standardizations folded into the two layers once
        (a rollout calls it hundreds of times; every tensor op costs microseconds on a CPU, and
        backpropagation through time pays for each one twice). Call it again after training."""
        lin1, lin2 = self.net[0], self.net[2]
        w1 = (lin1.weight / self.in_std).T  # (7, hidden): x ↦ W((x − m)/s) + b
        b1 = lin1.bias - w1.T @ self.in_mean
        w2 = (lin2.weight.T * self.d_std)[:, [0, 1, 2, 5]]  # only x, y, θ₀, θ₁ are dynamics
        b2 = (lin2.bias * self.d_std + self.d_mean)[[0, 1, 2, 5]]

        def step(state: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
            flat = torch.cat([phi.reshape(-1, 1), state.reshape(-1, 6)], 1)
            change = torch.addmm(b2, torch.relu(torch.addmm(b1, flat, w1)), w2)
            x, y, th0, th1 = (flat[:, [1, 2, 3, 6]] + change).unbind(1)
            return make_state(x, y, th0, th1).reshape(state.shape)

        return step


class Controller(nn.Module):
    """S mirror-symmetric steering networks: states (S, B, 6) → steering (S, B) in (−φ_max, φ_max)."""

    def __init__(self, seeds: int, hidden: int = 25, generator: torch.Generator | None = None):
        super().__init__()
        self.net = StackedMLP(seeds, [6, hidden, 1], "relu", generator=generator)
        for name, t in (("mirror", MIRROR), ("centre", CENTRE), ("scale", SCALE)):
            self.register_buffer(name, t.clone())

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        u = (state - self.centre) / self.scale
        both = self.net(torch.cat([u, u * self.mirror], 1))  # one batched pass for s and mirror(s)
        a, b = both.squeeze(-1).chunk(2, dim=1)
        return MAX_STEER * torch.tanh(a - b)

    def policy(self):
        """The same function as `forward` in fewer ops, for rollouts (see Emulator.stepper): the
        input scaling is folded into the first layer, f(s) and f(mirror s) come out of one matmul
        with the weights [W, mirror·W], and f(s) − f(mirror s) is one matmul with [w₂; −w₂]
        (the output bias cancels). Differentiable: gradients reach the stacked weights."""
        (w1, w2), (b1, _) = self.net.weights, self.net.biases  # (S, 6, H), (S, H, 1); (S, 1, H)
        w1 = w1 / self.scale[:, None]
        b1 = b1 - (self.centre @ w1)[:, None]  # (S, 1, H)
        w1 = torch.cat([w1, w1 * self.mirror[:, None]], 2)  # (S, 6, 2H)
        b1 = torch.cat([b1, b1], 2)
        w2 = torch.cat([w2, -w2], 1)  # (S, 2H, 1)

        def policy(state: torch.Tensor) -> torch.Tensor:  # (S, B, 6) → (S, B)
            return MAX_STEER * torch.tanh(torch.bmm(torch.relu(torch.baddbmm(b1, state, w1)), w2)[..., 0])

        return policy


__all__ = ["Emulator", "Controller"]
