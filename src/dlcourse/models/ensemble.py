"""Ensembles with stacked parameters: E copies of one network evaluated in one vectorized call.

Training 20 seeds, or a 10-member deep ensemble, as a Python loop of separate models costs 20 or 10
times the per-step overhead. Here the E members' parameters are stacked along a new first
dimension and `torch.func.vmap` runs `functional_call(base, member_params, x)` over that dimension,
so every Linear becomes one batched matmul for all members at once.

API
---
``Ensemble(make, members)``
    Builds `members` networks with `make()` (each drawing its own initial weights from the global
    RNG, exactly as `members` separate `make()` calls would) and stacks their parameters and buffers.
    It is an ordinary `nn.Module`: `ensemble.parameters()` go to one optimizer, `state_dict()` to a
    checkpoint, `.to(device)` moves it, and `dlcourse.train.fit` trains it.
``Ensemble.from_modules(modules)``
    The same from networks you already built (same architecture, parameter names and shapes).
``ensemble(x)``
    Every member on the same input: x (N, ...) -> (E, N, ...).
``ensemble(x, per_member=True)``
    Member e on its own input x[e]: x (E, N, ...) -> (E, N, ...).
``ensemble.member(i)``
    A stand-alone copy of member i as a normal module (to inspect or plot one of them).
``ensemble.stacked()``
    {name: tensor (E, ...)}: the stacked parameters under the base network's names (e.g.
    "0.weight"), for custom initialisation in place (`with torch.no_grad(): ...`).

Train on the *sum* over members of each member's own loss: the gradient a member receives is then
exactly the gradient of its own loss, so one optimizer step on the sum is E independent steps (SGD
and Adam alike; averaging instead would divide every member's learning rate by E under SGD).

Buffers are stacked too and used as they are, but a forward in training mode cannot update them
(vmap hands each member a temporary slice): a base with BatchNorm that tracks running statistics
is refused in training mode; build it with `track_running_stats=False` or evaluate only.

Members must share the architecture; to mix activations (5 ReLU + 5 Tanh nets) keep one Ensemble
per architecture in an `nn.ModuleDict` and train them with one optimizer on the summed loss.
"""

from __future__ import annotations

import copy
import math
from typing import Callable, Iterable

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from dlcourse.models.mlp import ACTIVATIONS


class Ensemble(nn.Module):
    """E networks of one architecture with parameters stacked along dimension 0."""

    def __init__(self, make: Callable[[], nn.Module], members: int):
        if members < 1:
            raise ValueError(f"an ensemble needs at least one member, got {members}")
        super().__init__()
        self._build([make() for _ in range(members)])

    @classmethod
    def from_modules(cls, modules: Iterable[nn.Module]) -> "Ensemble":
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self._build(list(modules))
        return self

    def _build(self, modules: list[nn.Module]) -> None:
        if not modules:
            raise ValueError("an ensemble needs at least one member")
        params, buffers = stack_module_state(modules)
        self.members = len(modules)
        # Parameter names like "0.weight" cannot be attribute names: keep them in order, positionally.
        self._param_names = list(params)
        self._buffer_names = list(buffers)
        self.weights = nn.ParameterList([nn.Parameter(params[k].detach().clone()) for k in self._param_names])
        for i, k in enumerate(self._buffer_names):
            self.register_buffer(f"buffer_{i}", buffers[k].detach().clone())
        # The base network only lends its code (forward); its own tensors are never used, so they
        # live on the "meta" device and outside the module tree (not in state_dict or parameters()).
        self.__dict__["_base"] = copy.deepcopy(modules[0]).to("meta")
        self._running_stats = any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
                                  for m in modules[0].modules())

    def stacked(self) -> dict[str, torch.Tensor]:
        """The stacked parameters (E, ...) by the base network's parameter names."""
        return dict(zip(self._param_names, self.weights))

    def _buffers_by_name(self) -> dict[str, torch.Tensor]:
        return {k: getattr(self, f"buffer_{i}") for i, k in enumerate(self._buffer_names)}

    def forward(self, x: torch.Tensor, per_member: bool = False) -> torch.Tensor:
        if self.training and self._running_stats:
            raise RuntimeError("Ensemble cannot update BatchNorm running statistics in training mode; "
                               "use BatchNorm(track_running_stats=False) in the members, or call .eval()")
        def one(params, buffers, xi):
            return functional_call(self._base, (params, buffers), (xi,))

        return vmap(one, in_dims=(0, 0, 0 if per_member else None), randomness="different")(
            self.stacked(), self._buffers_by_name(), x)

    def train(self, mode: bool = True) -> "Ensemble":
        # The base lives outside the module tree, so nn.Module.train would not reach it; dropout and
        # friends in the members read *its* flag.
        self._base.train(mode)
        return super().train(mode)

    def member(self, i: int) -> nn.Module:
        """Member i as an ordinary module (a copy: changing it does not change the ensemble)."""
        module = copy.deepcopy(self._base).to_empty(device=self.weights[0].device)
        state = {k: v[i].detach().clone() for k, v in {**self.stacked(), **self._buffers_by_name()}.items()}
        module.load_state_dict(state)
        return module

    def extra_repr(self) -> str:
        return f"members={self.members}, base={self._base.__class__.__name__}"


class StackedMLP(nn.Module):
    """S MLPs of widths `sizes` in parallel: input (S, N, sizes[0]) → output (S, N, sizes[-1]).

    The hand-written sibling of `Ensemble` for plain MLPs: weights (S, in, out) and batched
    matmuls (`baddbmm`) instead of vmap, which is cheaper per step for the tiny nets trained for
    thousands of steps (the GAN ring, the truck controller), and lets a lesson fold layers by hand.
    Each seed's initial weights are drawn like nn.Linear's default. Sum the seeds' losses: the
    gradient w.r.t. one seed's slice is then that seed's own gradient, and Adam, element-wise,
    follows exactly the trajectory each seed would follow alone."""

    def __init__(self, stack: int, sizes: list[int] | tuple[int, ...], activation: str = "relu",
                 generator: torch.Generator | None = None):
        super().__init__()
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for a, b in zip(sizes[:-1], sizes[1:]):
            bound = 1 / math.sqrt(a)  # nn.Linear's default init, drawn per seed
            self.weights.append(nn.Parameter((torch.rand(stack, a, b, generator=generator) * 2 - 1) * bound))
            self.biases.append(nn.Parameter((torch.rand(stack, 1, b, generator=generator) * 2 - 1) * bound))
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < len(self.weights) - 1:
                x = self.act(x)
        return x

    def member(self, i: int) -> nn.Sequential:
        """Seed i as an ordinary nn.Sequential of Linear layers (a copy), e.g. to check or export it."""
        layers: list[nn.Module] = []
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            lin = nn.Linear(w.shape[1], w.shape[2])
            with torch.no_grad():
                lin.weight.copy_(w[i].T)
                lin.bias.copy_(b[i, 0])
            layers.append(lin)
            if k < len(self.weights) - 1:
                layers.append(type(self.act)())
        return nn.Sequential(*layers)


__all__ = ["Ensemble", "StackedMLP"]
