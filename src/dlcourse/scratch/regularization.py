"""Regularizers from scratch (lecture 14-3): inverted dropout and the proximal step of L1.

* `Dropout`: *inverted* dropout, the kind PyTorch implements (erratum 15): in training each unit is
  zeroed with probability p and the survivors are scaled by 1/(1 − p), so the expected activation is
  unchanged and evaluation uses the network as it is. (The original, non-inverted form leaves the
  survivors alone and instead multiplies the weights by 1 − p at test time.) p is a *buffer*, not a
  constant, so an `Ensemble` of stacked networks gives each member its own rate.

* L1 regularization adds λ‖w‖₁ to the loss. Its gradient λ·sign(w) is a constant push of size λ
  towards 0 that overshoots: a weight near 0 jumps between ±ηλ for ever and is never exactly 0.
  The *proximal* step (ISTA, lecture 08-2) treats the L1 term exactly instead: after the gradient
  step on the data loss, w ← shrink(w, ηλ) = sign(w)·max(|w| − ηλ, 0), the minimizer of
  ½‖w − v‖² + ηλ‖w‖₁. Every weight within ηλ of 0 lands on exactly 0 and stays there unless the
  data gradient pulls it out by more than ηλ per step: real sparsity. `ProximalSGD` is SGD followed
  by that shrink.
"""

from __future__ import annotations

import torch
from torch import nn

from dlcourse.scratch.sparse import shrink


class Dropout(nn.Module):
    """Inverted dropout ≡ nn.Dropout in distribution: x·m/(1 − p) with m ~ Bernoulli(1 − p) in
    training, the identity in evaluation."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.register_buffer("p", torch.tensor(float(p), dtype=torch.float64))  # exact for float64 inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        p = self.p.to(x.dtype)
        keep = (torch.rand_like(x) >= p).to(x.dtype)
        return x * keep / (1 - p)

    def extra_repr(self) -> str:
        return f"p={self.p.tolist()}"


class ProximalSGD(torch.optim.SGD):
    """SGD, then the proximal step of λ‖w‖₁ on every parameter group that has an "l1" entry.

    "l1" is a float, or a list of floats: one λ per entry of the parameters' first dimension (one
    per member of a stacked ensemble). Plain numbers, so that the optimizer's state_dict stays
    JSON. With momentum 0 this is exactly proximal gradient descent (ISTA): w ← shrink(w − η∇J, ηλ).

    With momentum μ the shrink must match the length of the step that momentum takes. A steady
    gradient g builds a velocity of (1 − μᵗ)/(1 − μ)·g after t steps (PyTorch's velocity starts at
    g), so the step is that many times η long, and the shrink is ηλ times the same factor; in the
    long run ηλ/(1 − μ), and the fixed points of the iteration are exactly the minimizers of
    J + λ‖w‖₁ (with a plain shrink of ηλ they would be those of J + (1 − μ)λ‖w‖₁, ten times too weak
    at μ = 0.9; with the full factor from step 1 the first steps would shrink ten times more than
    the gradient moves, which can zero a whole layer). Dampening and Nesterov are followed alike.
    The factor is kept in the parameter group ("l1_velocity"), so a checkpoint resumes it exactly.

        opt = ProximalSGD([{"params": weights, "l1": lam}, {"params": biases}], lr=0.1, momentum=0.9)
    """

    @torch.no_grad()
    def step(self, closure=None):
        loss = super().step(closure)
        for group in self.param_groups:
            lam = group.get("l1")
            if lam is None:
                continue
            mu, damp = group["momentum"], group["dampening"]
            if mu == 0:
                length = group["lr"]
            else:  # how many gradients long the velocity is now, for a steady gradient
                v = mu * group["l1_velocity"] + 1 - damp if "l1_velocity" in group else 1.0
                group["l1_velocity"] = v
                length = group["lr"] * (1 + mu * v if group["nesterov"] else v)
            for w in group["params"]:
                lam_t = torch.as_tensor(lam, dtype=w.dtype, device=w.device)
                if lam_t.dim():  # one λ per member: broadcast over the rest of the parameter
                    lam_t = lam_t.view(-1, *[1] * (w.dim() - 1))
                w.copy_(shrink(w, length * lam_t))
        return loss


__all__ = ["Dropout", "ProximalSGD", "shrink"]
