"""The clean net F_c and the residual net F_r: Linear -> activation -> Linear (paper sec. 3.1)."""

from __future__ import annotations

from torch import nn

from ..errors import UserError

ACTIVATIONS: dict[str, type[nn.Module]] = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


def make_head(in_dim: int, hidden: int, out_dim: int, activation: str = "sigmoid") -> nn.Sequential:
    """Linear(in_dim, hidden) -> activation -> Linear(hidden, out_dim).

    The non-linearity lets each net map the shared features to its own label space (sec. 3.1).
    """
    if activation not in ACTIVATIONS:
        raise UserError(f"unknown activation '{activation}': expected one of {sorted(ACTIVATIONS)}")
    if hidden < 1:
        raise UserError(f"hidden size must be >= 1, got {hidden}")
    return nn.Sequential(nn.Linear(in_dim, hidden), ACTIVATIONS[activation](), nn.Linear(hidden, out_dim))


class CleanNet(nn.Sequential):
    """F_c: features f(x) (N, D) -> clean logits c (N, K); eq. (1)."""

    def __init__(self, in_dim: int, hidden: int, num_classes: int, activation: str = "sigmoid") -> None:
        super().__init__(*make_head(in_dim, hidden, num_classes, activation))


class ResidualNet(nn.Sequential):
    """F_r: features f(x) (N, D) -> residual logits r (N, K); eq. (3)."""

    def __init__(self, in_dim: int, hidden: int, num_classes: int, activation: str = "sigmoid") -> None:
        super().__init__(*make_head(in_dim, hidden, num_classes, activation))
