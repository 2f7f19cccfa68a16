"""The variational autoencoder of practicum 08-3 (notebook 11), with its loss written out.

Encoder x → (μ, log σ²); sampler z = μ + ε ⊙ exp(½ log σ²), ε ~ N(0, I) (z = μ in eval mode, as in
the notebook); decoder z → pixel logits (the sigmoid is folded into the BCE: the same loss, computed
stably). Loss per image = BCE summed over pixels + β · KL(N(μ, σ²) ‖ N(0, I)).

`variational=False` gives the plain autoencoder with the very same layers: no noise on the code and
no KL term, so nothing ties its codes to N(0, I). That is the comparison of the VAE lesson.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dlcourse.models.mlp import mlp


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, exp(logvar)) ‖ N(0, I)) per row, in closed form: ½ Σ (exp(logvar) − logvar − 1 + μ²).

    (erratum 17: the notes write it with the variance V; the code uses logvar.) v − log v − 1 ≥ 0 is
    0 only at variance 1 and μ² only at μ = 0: the "spring" that keeps the codes near the prior.
    """
    return 0.5 * (logvar.exp() - logvar - 1 + mu.pow(2)).sum(-1)


class VAE(nn.Module):
    """n → hidden… (ReLU) → 2d (μ, log σ²); d → …hidden (ReLU) → n logits."""

    def __init__(self, n: int = 64, hidden: tuple[int, ...] = (256, 256), d: int = 8, variational: bool = True):
        super().__init__()
        self.d, self.variational = d, variational
        self.encoder = mlp([n, *hidden, 2 * d])
        self.decoder = mlp([d, *reversed(hidden), n])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def reparameterise(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.variational):
            return mu
        return mu + torch.randn_like(mu) * (0.5 * logvar).exp()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pixel logits of the reconstruction, μ and log σ²."""
        mu, logvar = self.encode(x)
        return self.decoder(self.reparameterise(mu, logvar)), mu, logvar

    def loss(self, x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
        """Mean over the batch of the per-image loss (for a plain AE: the BCE alone)."""
        logits, mu, logvar = self(x)
        return vae_loss(logits, x, mu, logvar, beta if self.variational else 0.0).mean()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode n codes drawn from the prior N(0, I): pixel probabilities (the decoder's mean image)."""
        z = torch.randn(n, self.d, generator=generator).to(next(self.parameters()).device)
        return torch.sigmoid(self.decoder(z))


def vae_loss(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             beta: float = 1.0) -> torch.Tensor:
    """Per-image BCE (summed over pixels) + β·KL: with a sampled z and β = 1, an estimate of −ELBO."""
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    return bce + beta * kl_to_standard_normal(mu, logvar)


__all__ = ["VAE", "kl_to_standard_normal", "vae_loss"]
