"""D14: the (noisy) quadratic f(w) = ½wᵀAw + bᵀw of the optimisation lectures (05-1, 05-2).

The default A = diag(1, 5) has condition number 5: gradient descent must take a step small enough
for the steep direction (λ = 5) and then crawls along the flat one (λ = 1) — the picture that
motivates momentum and per-coordinate step sizes. Runs start at w = (1, 1).

    f = quadratic()                      # A = diag(1, 5), b = 0, minimum at w* = 0
    w = f.start()                        # tensor([1., 1.])
    w = w - 0.1 * f.grad(w)              # one step of gradient descent
    g = f.noisy_grad(w, noise=1.0, generator=gen)   # unbiased stochastic gradient (05-1.b)
"""

import torch


class Quadratic:
    def __init__(self, A, b):
        # Only the symmetric part of A matters for f, and it makes ∇f = Aw + b exact.
        self.A = (A + A.T) / 2
        self.b = b

    def __call__(self, w):
        """f(w) for w of shape (..., d): works on a single point or on a whole grid (contour plots)."""
        return 0.5 * ((w @ self.A) * w).sum(-1) + w @ self.b

    def grad(self, w):
        return w @ self.A + self.b

    def noisy_grad(self, w, noise, generator=None):
        """∇f(w) + noise·ξ, ξ ~ N(0, I): a stochastic gradient whose mean is the true gradient."""
        xi = torch.randn(w.shape, generator=generator, dtype=w.dtype, device=w.device)
        return self.grad(w) + noise * xi

    def noisy_loss(self, w, noise, generator=None):
        """f(w) + noise·ξᵀw: its autograd gradient is noisy_grad, so torch optimizers can run on it."""
        xi = torch.randn(w.shape, generator=generator, dtype=w.dtype, device=w.device)
        return self(w) + (noise * xi * w).sum(-1)

    @property
    def minimizer(self):
        return -torch.linalg.solve(self.A, self.b)

    @property
    def eigenvalues(self):
        """Curvatures λ: gradient descent converges iff lr < 2/λ_max (05-1.a)."""
        return torch.linalg.eigvalsh(self.A)

    def start(self):
        return torch.ones(self.A.shape[0], dtype=self.A.dtype)


def quadratic(A=None, b=None, dtype=torch.float64):
    """D14. Defaults: A = diag(1, 5), b = 0."""
    A = torch.diag(torch.tensor([1.0, 5.0], dtype=dtype)) if A is None else torch.as_tensor(A, dtype=dtype)
    b = torch.zeros(A.shape[0], dtype=dtype) if b is None else torch.as_tensor(b, dtype=dtype)
    return Quadratic(A, b)
