"""Convolution is a matrix product with a (doubly block) Toeplitz matrix (practicum 04-1, 03-3).

A 1-D convolution (PyTorch's, i.e. a cross-correlation) computes y[o] = Σ_k w[k] · x[o·stride −
padding + k·dilation]. Write S_k for the 0/1 matrix that picks input i = o·stride − padding + k·dilation
for output o (a shifted, strided identity; rows that fall into the zero padding are simply empty). Then

    y = (Σ_k w[k] S_k) x,

and T = Σ_k w[k] S_k is a banded Toeplitz matrix: *locality* makes it zero away from the band,
*stationarity* (weight sharing) repeats the same K numbers along every diagonal. With channels, the
kernel w[c_out, c_in, k] gives one such band per (c_out, c_in) pair: a block matrix of Toeplitz blocks.

In 2-D the shifts act on rows and on columns separately, T = Σ_{k,l} w[k, l] (S^rows_k ⊗ S^cols_l):
a block-Toeplitz matrix whose blocks are Toeplitz, the "doubly block Toeplitz" matrix. `einsum` writes
both sums in one line each. The matrices are dense tensors here (they are for teaching and testing,
not for speed); `conv1d`/`conv2d` apply them and agree with F.conv1d/F.conv2d to rounding error.
"""

from __future__ import annotations

import torch


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def output_size(n_in: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """PyTorch's formula: ⌊(n + 2p − d(k − 1) − 1) / s⌋ + 1."""
    n_out = (n_in + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    if n_out < 1:
        raise ValueError(f"input of size {n_in} is too small for kernel {kernel} "
                         f"(stride {stride}, padding {padding}, dilation {dilation})")
    return n_out


def shift_matrices(n_in: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                   dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """S of shape (kernel, n_out, n_in): S[k, o, i] = 1 iff i == o·stride − padding + k·dilation."""
    n_out = output_size(n_in, kernel, stride, padding, dilation)
    o = torch.arange(n_out).view(1, n_out, 1)
    k = torch.arange(kernel).view(kernel, 1, 1)
    i = torch.arange(n_in).view(1, 1, n_in)
    return (i == o * stride - padding + k * dilation).to(dtype)


def conv1d_matrix(weight: torch.Tensor, length: int, stride: int = 1, padding: int = 0,
                  dilation: int = 1) -> torch.Tensor:
    """The (C_out·L_out, C_in·L) matrix of F.conv1d(·, weight) on inputs of `length` (flattened C-major)."""
    c_out, c_in, kernel = weight.shape
    s = shift_matrices(length, kernel, stride, padding, dilation, weight.dtype).to(weight.device)
    t = torch.einsum("ack,kpi->apci", weight, s)  # (C_out, L_out, C_in, L): Σ_k w[:, :, k] ⊗ S_k
    return t.reshape(c_out * s.shape[1], c_in * length)


def conv2d_matrix(weight: torch.Tensor, size: tuple[int, int], stride: int | tuple[int, int] = 1,
                  padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1) -> torch.Tensor:
    """The doubly block Toeplitz (C_out·H_out·W_out, C_in·H·W) matrix of F.conv2d(·, weight)."""
    c_out, c_in, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    rows = shift_matrices(size[0], kh, sh, ph, dh, weight.dtype).to(weight.device)  # (kh, H_out, H)
    cols = shift_matrices(size[1], kw, sw, pw, dw, weight.dtype).to(weight.device)  # (kw, W_out, W)
    t = torch.einsum("ackl,kpi,lqj->apqcij", weight, rows, cols)  # Σ_{k,l} w[:, :, k, l] ⊗ R_k ⊗ C_l
    return t.reshape(c_out * rows.shape[1] * cols.shape[1], c_in * size[0] * size[1])


def conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1,
           padding: int = 0, dilation: int = 1) -> torch.Tensor:
    """F.conv1d as one matrix product: (N, C_in, L) → (N, C_out, L_out)."""
    t = conv1d_matrix(weight, x.shape[-1], stride, padding, dilation)
    y = (x.flatten(1) @ t.T).view(len(x), weight.shape[0], -1)
    return y if bias is None else y + bias.view(1, -1, 1)


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
           dilation: int | tuple[int, int] = 1) -> torch.Tensor:
    """F.conv2d as one matrix product: (N, C_in, H, W) → (N, C_out, H_out, W_out)."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    h_out = output_size(x.shape[2], weight.shape[2], sh, ph, dh)
    w_out = output_size(x.shape[3], weight.shape[3], sw, pw, dw)
    t = conv2d_matrix(weight, x.shape[2:], stride, padding, dilation)
    y = (x.flatten(1) @ t.T).view(len(x), weight.shape[0], h_out, w_out)
    return y if bias is None else y + bias.view(1, -1, 1, 1)


__all__ = ["output_size", "shift_matrices", "conv1d_matrix", "conv2d_matrix", "conv1d", "conv2d"]
