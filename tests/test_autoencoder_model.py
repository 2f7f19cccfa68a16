"""The autoencoder of lesson `autoencoder`: shapes, parameter count, the {0, 2} dropout mask."""

import torch

from dlcourse.models.autoencoder import Autoencoder, dropout_mask


# --- autoencoder ---------------------------------------------------------------------------------

def test_autoencoder_shapes_and_parameter_count():
    ae = Autoencoder(64, 10)
    assert ae(torch.rand(5, 64)).shape == (5, 64)
    assert sum(p.numel() for p in ae.parameters()) == 64 * 10 + 10 + 10 * 64 + 64
    # the notebook's 784-30-784 net has 47,854 parameters (practica.md, notebook 10)
    assert sum(p.numel() for p in Autoencoder(784, 30).parameters()) == 47_854


def test_dropout_mask_is_zero_or_two_like_nn_dropout():
    g = torch.Generator().manual_seed(0)
    m = dropout_mask((200, 64), 0.5, generator=g)
    assert set(m.unique().tolist()) == {0.0, 2.0}
    assert abs((m == 0).float().mean().item() - 0.5) < 0.02
    assert abs(m.mean().item() - 1.0) < 0.04  # inverted dropout keeps the mean
    m2 = dropout_mask((200, 64), 0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(m, m2)
    # same values as nn.Dropout applied to ones: {0, 1/(1-p)}
    ref = torch.nn.Dropout(0.25)(torch.ones(1000))
    assert set(ref.unique().tolist()) == set(dropout_mask((1000,), 0.25).unique().tolist())
