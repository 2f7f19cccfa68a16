"""From-scratch RNN / GRU / LSTM cells and layers (dlcourse.scratch.rnn) against torch.nn, in float64."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dlcourse.scratch import rnn

TOL = dict(rtol=1e-6, atol=1e-6)


def _copy(ours: nn.Module, theirs: nn.Module) -> None:
    ours.load_state_dict(theirs.state_dict())  # same parameter names, so a plain copy works


def _compare(ours_out, theirs_out, leaves):
    """Values equal, and gradients of a random weighting of all outputs equal for every leaf pair."""
    ours_flat = [t for t in _flatten(ours_out)]
    theirs_flat = [t for t in _flatten(theirs_out)]
    assert len(ours_flat) == len(theirs_flat)
    g = torch.Generator().manual_seed(1)
    loss_a = loss_b = 0
    for a, b in zip(ours_flat, theirs_flat):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, **TOL)
        w = torch.randn(a.shape, generator=g, dtype=a.dtype)
        loss_a, loss_b = loss_a + (a * w).sum(), loss_b + (b * w).sum()
    pairs = [(a, b) for a, b in leaves if a.requires_grad]
    grads_a = torch.autograd.grad(loss_a, [a for a, _ in pairs])
    grads_b = torch.autograd.grad(loss_b, [b for _, b in pairs])
    for ga, gb in zip(grads_a, grads_b):
        torch.testing.assert_close(ga, gb, **TOL)


def _flatten(x):
    if isinstance(x, torch.Tensor):
        return [x]
    return [t for item in x for t in _flatten(item)]


def _leaf(shape, g):
    return torch.randn(shape, generator=g, dtype=torch.float64).requires_grad_()


CELLS = [
    (rnn.RNNCell, nn.RNNCell, dict(nonlinearity="tanh")),
    (rnn.RNNCell, nn.RNNCell, dict(nonlinearity="relu")),
    (rnn.RNNCell, nn.RNNCell, dict(nonlinearity="tanh", bias=False)),
    (rnn.GRUCell, nn.GRUCell, dict()),
    (rnn.GRUCell, nn.GRUCell, dict(bias=False)),
    (rnn.LSTMCell, nn.LSTMCell, dict()),
    (rnn.LSTMCell, nn.LSTMCell, dict(bias=False)),
]


@pytest.mark.parametrize("ours_cls, torch_cls, kw", CELLS,
                         ids=[f"{c.__name__}-{kw}" for c, _, kw in CELLS])
def test_cell_matches_torch(ours_cls, torch_cls, kw):
    torch.manual_seed(0)
    theirs = torch_cls(5, 7, **kw).double()
    ours = ours_cls(5, 7, **kw).double()
    _copy(ours, theirs)
    g = torch.Generator().manual_seed(0)
    x = _leaf((4, 5), g)
    state = (_leaf((4, 7), g), _leaf((4, 7), g)) if ours_cls is rnn.LSTMCell else _leaf((4, 7), g)
    leaves = list(zip(ours.parameters(), theirs.parameters())) + [(x, x)]
    leaves += [(s, s) for s in _flatten(state)]
    _compare(ours(x, state), theirs(x, state), leaves)
    # no state given means a zero state, as in torch
    _compare(ours(x), theirs(x), [(x, x)])


LAYERS = [
    (rnn.RNN, nn.RNN, dict(nonlinearity="tanh")),
    (rnn.RNN, nn.RNN, dict(nonlinearity="relu", num_layers=2, batch_first=True)),
    (rnn.GRU, nn.GRU, dict(num_layers=3)),
    (rnn.GRU, nn.GRU, dict(num_layers=2, batch_first=True, bias=False)),
    (rnn.LSTM, nn.LSTM, dict(num_layers=2)),
    (rnn.LSTM, nn.LSTM, dict(num_layers=1, batch_first=True, bias=False)),
]


@pytest.mark.parametrize("ours_cls, torch_cls, kw", LAYERS,
                         ids=[f"{c.__name__}-{kw}" for c, _, kw in LAYERS])
@pytest.mark.parametrize("with_state", [False, True])
def test_layer_matches_torch(ours_cls, torch_cls, kw, with_state):
    torch.manual_seed(0)
    theirs = torch_cls(3, 6, **kw).double()
    ours = ours_cls(3, 6, **kw).double()
    _copy(ours, theirs)
    g = torch.Generator().manual_seed(2)
    T, B, L = 9, 4, kw.get("num_layers", 1)
    x = _leaf((B, T, 3) if kw.get("batch_first") else (T, B, 3), g)
    leaves = list(zip(ours.parameters(), theirs.parameters())) + [(x, x)]
    if with_state:
        state = (_leaf((L, B, 6), g), _leaf((L, B, 6), g)) if ours_cls is rnn.LSTM else _leaf((L, B, 6), g)
        leaves += [(s, s) for s in _flatten(state)]
        _compare(ours(x, state), theirs(x, state), leaves)
    else:
        _compare(ours(x), theirs(x), leaves)


@settings(max_examples=15, deadline=None)
@given(mode=st.sampled_from(["rnn", "gru", "lstm"]), inp=st.integers(1, 6), hidden=st.integers(1, 6),
       layers=st.integers(1, 3), T=st.integers(1, 6), B=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_layer_matches_torch_any_size(mode, inp, hidden, layers, T, B, seed):
    ours_cls, torch_cls = {"rnn": (rnn.RNN, nn.RNN), "gru": (rnn.GRU, nn.GRU), "lstm": (rnn.LSTM, nn.LSTM)}[mode]
    torch.manual_seed(seed)
    theirs = torch_cls(inp, hidden, layers).double()
    ours = ours_cls(inp, hidden, layers).double()
    _copy(ours, theirs)
    x = _leaf((T, B, inp), torch.Generator().manual_seed(seed))
    _compare(ours(x), theirs(x), list(zip(ours.parameters(), theirs.parameters())) + [(x, x)])


def test_parameter_names_and_shapes_match_torch():
    for ours, theirs in [(rnn.LSTM(3, 5, 2), nn.LSTM(3, 5, 2)), (rnn.GRUCell(3, 5), nn.GRUCell(3, 5))]:
        assert {k: v.shape for k, v in ours.state_dict().items()} == \
               {k: v.shape for k, v in theirs.state_dict().items()}
    assert sum(p.numel() for p in rnn.LSTM(8, 4).parameters()) == 4 * 4 * (8 + 4 + 2)  # 224


def test_notes_gru_is_a_different_function():
    """Erratum 16: with the reset gate inside the matmul the cell no longer matches nn.GRUCell,
    but it does match the notes' formula written out with separate gate matrices."""
    torch.manual_seed(0)
    theirs = nn.GRUCell(4, 5).double()
    notes = rnn.GRUCell(4, 5, reset_after=False).double()
    _copy(notes, theirs)
    g = torch.Generator().manual_seed(0)
    x, h = torch.randn(3, 4, generator=g, dtype=torch.float64), torch.randn(3, 5, generator=g, dtype=torch.float64)
    assert (notes(x, h) - theirs(x, h)).abs().max() > 1e-3
    (W_r, W_z, W_h), (U_r, U_z, U_h) = theirs.weight_ih.chunk(3), theirs.weight_hh.chunk(3)
    b = theirs.bias_ih + theirs.bias_hh  # with r inside, the two biases simply add up
    b_r, b_z, b_h = b.chunk(3)
    z = torch.sigmoid(x @ W_z.T + h @ U_z.T + b_z)
    r = torch.sigmoid(x @ W_r.T + h @ U_r.T + b_r)
    expected = z * h + (1 - z) * torch.tanh(x @ W_h.T + (r * h) @ U_h.T + b_h)  # lectures 06-2.f
    torch.testing.assert_close(notes(x, h), expected, **TOL)


@pytest.mark.parametrize("f_bias, i_bias, expected", [
    (+50, -50, "keep"),   # forget gate open, input gate closed: the memory is kept as it is
    (-50, -50, "reset"),  # both closed: the memory is wiped
    (-50, +50, "write"),  # forget closed, input open: the memory is overwritten by the candidate
])
def test_lstm_gates_as_memory_operations(f_bias, i_bias, expected):
    """Lecture 06-3.d: forcing the gates turns the LSTM cell into keep / reset / write."""
    cell = rnn.LSTMCell(3, 2).double()
    with torch.no_grad():
        cell.bias_hh.zero_()
        cell.bias_ih[0:2] = i_bias
        cell.bias_ih[2:4] = f_bias
    g = torch.Generator().manual_seed(0)
    x, h, c = (torch.randn(4, n, generator=g, dtype=torch.float64) for n in (3, 2, 2))
    h1, c1 = cell(x, (h, c))
    candidate = torch.tanh(x @ cell.weight_ih[4:6].T + cell.bias_ih[4:6] + h @ cell.weight_hh[4:6].T)
    want = {"keep": c, "reset": torch.zeros_like(c), "write": candidate}[expected]
    torch.testing.assert_close(c1, want, **TOL)


def test_bad_arguments():
    with pytest.raises(ValueError):
        rnn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError):
        rnn.GRU(3, 0)
    with pytest.raises(ValueError):
        rnn.LSTM(3, 4)(torch.randn(5, 3))
