"""Multi-layer perceptrons: the workhorse of the first weeks."""

from __future__ import annotations

from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
               "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "identity": nn.Identity, "none": nn.Identity}


def mlp(sizes: list[int] | tuple[int, ...], activation: str = "relu", dropout: float = 0.0,
        batchnorm: bool = False, final_activation: str | None = None) -> nn.Sequential:
    """Linear layers of the given widths with `activation` between them (not after the last).

    activation="identity" gives the "linear" network of the course: its layers compose to one
    affine map however many there are.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            if batchnorm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    if final_activation is not None:
        layers.append(ACTIVATIONS[final_activation]())
    return nn.Sequential(*layers)
