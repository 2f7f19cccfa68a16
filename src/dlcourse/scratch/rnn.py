"""RNN, GRU and LSTM from scratch (lectures 06-2, 06-3), checked against torch.nn.

A recurrent layer is one small function, the *cell*, applied at every time step with the same
weights: h_t = cell(x_t, h_{t-1}). Back-propagation through time is nothing more than autograd on
the unrolled loop. The cells below follow PyTorch's conventions exactly, so weights copied from
`nn.RNNCell` / `nn.GRUCell` / `nn.LSTMCell` (or from `nn.RNN` / `nn.GRU` / `nn.LSTM`, whose
parameters have the same names) give the same numbers to float64 precision:

* Weights are stacked by gate along the rows: `weight_ih` is (G·H, I), `weight_hh` is (G·H, H) with
  G = 1 (RNN), 3 (GRU: r, z, n) or 4 (LSTM: i, f, g, o), and there are two biases, `bias_ih` and
  `bias_hh` (one would do mathematically; two is what cuDNN does and so what PyTorch stores).
* GRU (erratum 16): PyTorch applies the reset gate *after* the hidden matmul,
  n = tanh(W_n x + b_in + r ⊙ (U_n h + b_hn)), while the lecture notes write
  n = tanh(W_n x + U_n (r ⊙ h) + b_n). Both are GRUs (Cho et al. 2014 used the second); they are
  different functions of the same weights. `reset_after=True` (the default) is PyTorch's form,
  `reset_after=False` is the notes' form. Either way h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}.
* LSTM: c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh(c_t), gate order i, f, g, o.

Layers (`RNN`, `GRU`, `LSTM`) stack `num_layers` cells, each layer reading the whole output sequence
of the one below, with the parameter names of torch.nn (`weight_ih_l0`, ...), so
`ours.load_state_dict(theirs.state_dict())` copies a PyTorch model over. Inputs are (T, B, I), or
(B, T, I) with `batch_first=True`; no dropout between layers and no bidirectional mode.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

Tensor = torch.Tensor

# --------------------------------------------------------------------------------------------------
# the cells, as plain functions of (input, state, weights)


def _affine(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    return x @ w.T if b is None else x @ w.T + b


def rnn_cell(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None, nonlinearity: Literal["tanh", "relu"] = "tanh") -> Tensor:
    """Elman RNN: h_t = g(W x_t + b_ih + U h_{t−1} + b_hh), g = tanh or ReLU."""
    pre = _affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)
    if nonlinearity == "tanh":
        return torch.tanh(pre)
    if nonlinearity == "relu":
        return torch.relu(pre)
    raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


def gru_cell(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None, reset_after: bool = True) -> Tensor:
    """GRU step. reset_after=True is PyTorch's form, False the lecture notes' form (erratum 16)."""
    x_r, x_z, x_n = _affine(x, w_ih, b_ih).chunk(3, -1)
    h_r, h_z, h_n = _affine(h, w_hh, b_hh).chunk(3, -1)
    r = torch.sigmoid(x_r + h_r)  # reset gate: how much of the past enters the candidate
    z = torch.sigmoid(x_z + h_z)  # update gate: how much of the past is kept as it is
    if reset_after:
        n = torch.tanh(x_n + r * h_n)  # r ⊙ (U_n h + b_hn)
    else:
        hidden = h.shape[-1]
        u_n = w_hh[2 * hidden:]
        b_hn = None if b_hh is None else b_hh[2 * hidden:]
        n = torch.tanh(x_n + _affine(r * h, u_n, b_hn))  # U_n (r ⊙ h) + b_hn
    return (1 - z) * n + z * h


def lstm_cell(x: Tensor, state: tuple[Tensor, Tensor], w_ih: Tensor, w_hh: Tensor,
              b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """LSTM step on state (h, c); returns the new (h, c). Gate order i, f, g, o as in PyTorch."""
    h, c = state
    i, f, g, o = (_affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)).chunk(4, -1)
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)  # input, forget, output gates
    c = f * c + i * torch.tanh(g)  # the cell is updated additively: the gradient's highway
    return o * torch.tanh(c), c


GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def _step(mode: str, x, state, w_ih, w_hh, b_ih, b_hh, nonlinearity: str, reset_after: bool):
    if mode == "rnn":
        return rnn_cell(x, state, w_ih, w_hh, b_ih, b_hh, nonlinearity)
    if mode == "gru":
        return gru_cell(x, state, w_ih, w_hh, b_ih, b_hh, reset_after)
    return lstm_cell(x, state, w_ih, w_hh, b_ih, b_hh)


def _init_uniform(params, hidden_size: int) -> None:
    # PyTorch's initialisation of every recurrent weight and bias: U(−1/√H, 1/√H).
    bound = 1 / math.sqrt(hidden_size)
    for p in params:
        nn.init.uniform_(p, -bound, bound)


# --------------------------------------------------------------------------------------------------
# cells as modules (parameter names of nn.RNNCell / nn.GRUCell / nn.LSTMCell)


class _Cell(nn.Module):
    mode = "rnn"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", reset_after: bool = True):
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError("input_size and hidden_size must be positive")
        gates = GATES[self.mode]
        self.input_size, self.hidden_size = input_size, hidden_size
        self.nonlinearity, self.reset_after = nonlinearity, reset_after
        self.weight_ih = nn.Parameter(torch.empty(gates * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(gates * hidden_size, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gates * hidden_size))
            self.bias_hh = nn.Parameter(torch.empty(gates * hidden_size))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        _init_uniform(self.parameters(), hidden_size)

    def forward(self, x: Tensor, state=None):
        if state is None:
            zeros = x.new_zeros(*x.shape[:-1], self.hidden_size)
            state = (zeros, zeros) if self.mode == "lstm" else zeros
        return _step(self.mode, x, state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                     self.nonlinearity, self.reset_after)


class RNNCell(_Cell):
    """≡ nn.RNNCell(input_size, hidden_size, bias, nonlinearity)."""

    mode = "rnn"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: Literal["tanh", "relu"] = "tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, nonlinearity=nonlinearity)


class GRUCell(_Cell):
    """≡ nn.GRUCell with reset_after=True; the lecture notes' GRU with reset_after=False."""

    mode = "gru"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, reset_after: bool = True):
        super().__init__(input_size, hidden_size, bias, reset_after=reset_after)


class LSTMCell(_Cell):
    """≡ nn.LSTMCell; forward(x, (h, c)) -> (h, c)."""

    mode = "lstm"


# --------------------------------------------------------------------------------------------------
# multi-layer recurrent layers (parameter names of nn.RNN / nn.GRU / nn.LSTM)


class _Recurrent(nn.Module):
    mode = "rnn"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, nonlinearity: str = "tanh", reset_after: bool = True):
        super().__init__()
        if input_size <= 0 or hidden_size <= 0 or num_layers <= 0:
            raise ValueError("input_size, hidden_size and num_layers must be positive")
        gates = GATES[self.mode]
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bias, batch_first
        self.nonlinearity, self.reset_after = nonlinearity, reset_after
        for k in range(num_layers):
            inp = input_size if k == 0 else hidden_size  # layer k reads the outputs of layer k-1
            self.register_parameter(f"weight_ih_l{k}", nn.Parameter(torch.empty(gates * hidden_size, inp)))
            self.register_parameter(f"weight_hh_l{k}", nn.Parameter(torch.empty(gates * hidden_size, hidden_size)))
            if bias:
                self.register_parameter(f"bias_ih_l{k}", nn.Parameter(torch.empty(gates * hidden_size)))
                self.register_parameter(f"bias_hh_l{k}", nn.Parameter(torch.empty(gates * hidden_size)))
        _init_uniform(self.parameters(), hidden_size)

    def layer_weights(self, k: int):
        get = lambda name: getattr(self, f"{name}_l{k}", None)  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def forward(self, x: Tensor, state=None):
        """x: (T, B, I) or (B, T, I) if batch_first. state: h0 (L, B, H), or (h0, c0) for the LSTM.

        Returns (output, h_n) — (output, (h_n, c_n)) for the LSTM — where output holds the last
        layer's h_t at every step, exactly as torch.nn does.
        """
        if x.dim() != 3:
            raise ValueError(f"expected a 3-D input (time, batch, features), got shape {tuple(x.shape)}")
        if self.batch_first:
            x = x.transpose(0, 1)
        shape = (self.num_layers, x.shape[1], self.hidden_size)
        if state is None:
            state = x.new_zeros(shape)
            if self.mode == "lstm":
                state = (state, state)
        finals = []
        for k in range(self.num_layers):
            s = (state[0][k], state[1][k]) if self.mode == "lstm" else state[k]
            weights = self.layer_weights(k)
            outputs = []
            for x_t in x:  # the unrolled loop: the same weights at every step
                s = _step(self.mode, x_t, s, *weights, self.nonlinearity, self.reset_after)
                outputs.append(s[0] if self.mode == "lstm" else s)
            x = torch.stack(outputs)
            finals.append(s)
        output = x.transpose(0, 1) if self.batch_first else x
        if self.mode == "lstm":
            return output, (torch.stack([h for h, _ in finals]), torch.stack([c for _, c in finals]))
        return output, torch.stack(finals)


class RNN(_Recurrent):
    """≡ nn.RNN(input_size, hidden_size, num_layers, nonlinearity, bias, batch_first)."""

    mode = "rnn"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: Literal["tanh", "relu"] = "tanh", bias: bool = True, batch_first: bool = False):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, nonlinearity=nonlinearity)


class GRU(_Recurrent):
    """≡ nn.GRU(input_size, hidden_size, num_layers, bias, batch_first) with reset_after=True."""

    mode = "gru"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, reset_after: bool = True):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, reset_after=reset_after)


class LSTM(_Recurrent):
    """≡ nn.LSTM(input_size, hidden_size, num_layers, bias, batch_first) (no proj_size)."""

    mode = "lstm"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first)


__all__ = ["rnn_cell", "gru_cell", "lstm_cell", "RNNCell", "GRUCell", "LSTMCell", "RNN", "GRU", "LSTM"]
