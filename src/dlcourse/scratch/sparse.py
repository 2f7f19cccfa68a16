"""Sparse coding from scratch (lectures 08-2 and 09-1): ISTA, FISTA, LISTA and dictionary learning.

Conventions: signals are rows y (n, d), the dictionary W (d, k) holds one atom per column, codes are
rows z (n, k) and the reconstruction is z·Wᵀ. The energy of sparse coding is

    E(y, z) = ½‖y − Wz‖² + λ‖z‖₁

(with the ½; without it the gradient doubles and so does the Lipschitz constant, 08-2.c). Its
minimum over z is the code, and the step size of every method below is 1/L with
L = λ_max(WᵀW) = ‖W‖₂², the Lipschitz constant of the quadratic's gradient.

* ISTA: a gradient step on the quadratic, then the proximal step of λ‖z‖₁, a soft threshold:
      z ← shrink_{λ/L}(z − (1/L)Wᵀ(Wz − y)).               objective − min = O(1/k)
* FISTA: the same step taken from an extrapolated point v (Nesterov momentum; note the notes'
  "FISTA" section prints plain ISTA, erratum 5):
      z_k = shrink_{λ/L}(v_k − (1/L)Wᵀ(Wv_k − y)),  t_{k+1} = (1 + √(1 + 4t_k²))/2,
      v_{k+1} = z_k + ((t_k − 1)/t_{k+1})(z_k − z_{k−1}),  t₁ = 1.          O(1/k²)
* LISTA (Gregor & LeCun 2010): ISTA rewritten as z ← shrink_θ(W_e·y + S·z) with W_e = (1/L)Wᵀ,
  S = I − (1/L)WᵀW, θ = λ/L (erratum 5: "+ S z", the notes print "− S z"), unrolled for K layers,
  and then W_e, S, θ are *learned* to regress the converged code: amortised inference.
* Dictionary learning: alternate inference of z (FISTA) with a gradient step on W, keeping every
  atom at unit norm, or λ‖z‖₁ could be made arbitrarily small by growing W and shrinking z.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def shrink(u: torch.Tensor, theta: torch.Tensor | float) -> torch.Tensor:
    """Soft threshold sign(u)·max(|u| − θ, 0) (nn.Softshrink for a scalar θ; here θ may be a tensor)."""
    return torch.sign(u) * torch.relu(u.abs() - theta)


def lipschitz(w: torch.Tensor) -> torch.Tensor:
    """L = λ_max(WᵀW), the squared largest singular value of W (from the smaller Gram matrix)."""
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    return torch.linalg.eigvalsh(gram)[-1]


def objective(y: torch.Tensor, w: torch.Tensor, z: torch.Tensor, lam: float) -> torch.Tensor:
    """Per-signal sparse-coding energy ½‖y − Wz‖² + λ‖z‖₁, shape (n,)."""
    return 0.5 * ((y - z @ w.T) ** 2).sum(-1) + lam * z.abs().sum(-1)


def _tracer(trace, y, w, lam):
    if trace is True:  # the default record: the mean objective
        return lambda z: objective(y, w, z, lam).mean()
    return trace or None


def ista(y: torch.Tensor, w: torch.Tensor, lam: float, steps: int, z0: torch.Tensor | None = None,
         trace: bool | Callable[[torch.Tensor], torch.Tensor] = False):
    """ISTA from z0 (default 0). Returns the code (n, k); with `trace`, (code, history) where
    history[i] is recorded after i steps (history[0] at the start): the mean objective for
    trace=True, or trace(z) for a function."""
    L = lipschitz(w)
    z = torch.zeros(len(y), w.shape[1], dtype=y.dtype, device=y.device) if z0 is None else z0
    record = _tracer(trace, y, w, lam)
    history = [record(z)] if record else None
    for _ in range(steps):
        z = shrink(z - ((z @ w.T - y) @ w) / L, lam / L)
        if record:
            history.append(record(z))
    return (z, torch.stack(history)) if record else z


def fista(y: torch.Tensor, w: torch.Tensor, lam: float, steps: int, z0: torch.Tensor | None = None,
          trace: bool | Callable[[torch.Tensor], torch.Tensor] = False):
    """FISTA (Beck & Teboulle 2009) from z0 (default 0); same arguments and returns as `ista`."""
    L = lipschitz(w)
    z = torch.zeros(len(y), w.shape[1], dtype=y.dtype, device=y.device) if z0 is None else z0
    v, t = z, 1.0
    record = _tracer(trace, y, w, lam)
    history = [record(z)] if record else None
    for _ in range(steps):
        z_next = shrink(v - ((v @ w.T - y) @ w) / L, lam / L)
        t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
        v = z_next + ((t - 1) / t_next) * (z_next - z)
        z, t = z_next, t_next
        if record:
            history.append(record(z))
    return (z, torch.stack(history)) if record else z


class LISTA(nn.Module):
    """K layers of z ← shrink_θ(W_e·y + S·z) from z = 0, with learned W_e (k, d) and S (k, k) shared
    by every layer (a recurrent net, as in Gregor & LeCun) and one threshold per layer and code unit,
    θ (K, k): letting early layers threshold differently from late ones costs K·k numbers and makes
    the few layers count more. `from_dictionary` initialises it to compute exactly K ISTA steps."""

    def __init__(self, d: int, k: int, layers: int = 3):
        super().__init__()
        if layers < 1:
            raise ValueError(f"LISTA needs at least one layer, got {layers}")
        self.layers = layers
        self.encoder = nn.Linear(d, k, bias=False)  # W_e
        self.lateral = nn.Linear(k, k, bias=False)  # S, shared by every layer (a recurrent net)
        self.theta = nn.Parameter(torch.full((layers, k), 0.1))

    @classmethod
    def from_dictionary(cls, w: torch.Tensor, lam: float, layers: int = 3) -> "LISTA":
        d, k = w.shape
        model = cls(d, k, layers).to(dtype=w.dtype, device=w.device)
        L = lipschitz(w)
        with torch.no_grad():
            model.encoder.weight.copy_(w.T / L)
            model.lateral.weight.copy_(torch.eye(k, dtype=w.dtype, device=w.device) - w.T @ w / L)
            model.theta.fill_(float(lam / L))
        return model

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        b = self.encoder(y)  # W_e·y is the same input to every layer: compute it once
        z = shrink(b, self.theta[0])  # the first layer starts from z = 0, where S·z vanishes
        for t in range(1, self.layers):
            z = shrink(b + self.lateral(z), self.theta[t])
        return z


class Dictionary(nn.Module):
    """k unit-norm atoms in R^d, and optionally one persistent code per training signal.

    The raw weight V is free; the atoms are its normalised columns W = V/‖V‖, so a gradient step on
    V followed by normalisation is the "update, then renormalise" of 08-2.b written as a
    parametrisation that an ordinary optimizer can train. With `signals` > 0 the module keeps the
    last code of every training signal (a buffer, so it is checkpointed with the weights): each
    visit warm-starts FISTA where the previous visit stopped, and a few steps per visit suffice.
    """

    def __init__(self, d: int, k: int, init: torch.Tensor | None = None, signals: int = 0, seed: int = 0):
        super().__init__()
        if init is None:
            init = torch.randn(d, k, generator=torch.Generator().manual_seed(seed))
        if init.shape != (d, k):
            raise ValueError(f"init must have shape {(d, k)}, got {tuple(init.shape)}")
        self.weight = nn.Parameter(init.clone())
        self.register_buffer("codes", torch.zeros(signals, k, dtype=init.dtype))

    @property
    def atoms(self) -> torch.Tensor:
        return self.weight / self.weight.norm(dim=0, keepdim=True)

    def reconstruction_loss(self, y: torch.Tensor, lam: float, steps: int,
                            index: torch.Tensor | None = None) -> torch.Tensor:
        """Infer codes by FISTA with the dictionary held fixed (warm-started from the stored codes of
        signals `index`, if given), then ½‖y − Wz‖² (mean over rows): its gradient with respect to
        W is the dictionary-learning step (the code is a constant for it)."""
        w = self.atoms
        with torch.no_grad():
            z = fista(y, w, lam, steps, z0=None if index is None else self.codes[index])
            if index is not None:
                self.codes[index] = z
        return 0.5 * ((y - z @ w.T) ** 2).sum(-1).mean()


def relative_code_error(z: torch.Tensor, z_star: torch.Tensor) -> torch.Tensor:
    """‖z − z*‖² / ‖z*‖² summed over the whole set."""
    return ((z - z_star) ** 2).sum() / (z_star ** 2).sum()


__all__ = ["shrink", "lipschitz", "objective", "ista", "fista", "LISTA", "Dictionary", "relative_code_error"]
