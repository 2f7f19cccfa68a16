"""Custom ``torch.autograd.Function``s with hand-written backward passes (notebook extra/b, 02-2.a, 05-3.f).

A Function is one node of PyTorch's graph: ``forward`` computes outputs from inputs (autograd does not
look inside), and ``backward`` receives dLoss/d(output) for each output and must return dLoss/d(input)
for each input. The three below are the module backward rules of lecture 02-2:

    Add    y = x1 + x2       -> the gradient is copied to both inputs
    Split  y1 = y2 = x       -> the two incoming gradients add up (fan-out)
    Max    y = max(x)        -> the gradient goes only to the entry that won
"""

import torch


class Add(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x1, x2):
        return x1 + x2

    @staticmethod
    def backward(ctx, grad):
        return grad, grad  # dy/dx1 = dy/dx2 = 1


class Split(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone(), x.clone()

    @staticmethod
    def backward(ctx, grad1, grad2):
        return grad1 + grad2  # x reached the loss along two paths: add both contributions


class Max(torch.autograd.Function):
    """Max over all entries (``dim=None``, a 0-d result) or along ``dim``.

    Backward: a mask of the winning entries times the incoming gradient. If several entries tie for the
    max, each gets the full gradient, as in the notebook (any convex combination is a valid subgradient;
    ``torch.max(x, dim)`` picks one index, ``torch.amax`` splits evenly)."""

    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False):
        y = x.max() if dim is None else x.max(dim, keepdim=True).values
        ctx.save_for_backward((x == y).to(x.dtype))  # where the max came from
        ctx.dim, ctx.keepdim = dim, keepdim
        return y if dim is None or keepdim else y.squeeze(dim)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        if ctx.dim is not None and not ctx.keepdim:
            grad = grad.unsqueeze(ctx.dim)  # broadcast back along the reduced dimension
        return mask * grad, None, None  # no gradient for the arguments dim and keepdim


def add(x1, x2):
    """x1 + x2 (same shape) through :class:`Add`."""
    return Add.apply(x1, x2)


def split(x):
    """Two copies of x through :class:`Split`."""
    return Split.apply(x)


def max_of(x, dim=None, keepdim=False):
    """Max of x over all entries or along ``dim``, through :class:`Max`."""
    return Max.apply(x, dim, keepdim)
