import pytest
import torch

from noisereg.config import TrainConfig
from noisereg.errors import UserError
from noisereg.methods import NoiseRegularization, create_method, list_methods
from noisereg.models.heads import CleanNet, ResidualNet


@pytest.mark.parametrize(
    "activation,kind", [("sigmoid", torch.nn.Sigmoid), ("tanh", torch.nn.Tanh), ("relu", torch.nn.ReLU)]
)
def test_heads_are_linear_activation_linear(activation, kind):
    for net in (CleanNet(20, 7, 5, activation), ResidualNet(20, 7, 5, activation)):
        assert [type(m) for m in net] == [torch.nn.Linear, kind, torch.nn.Linear]
        assert net(torch.randn(3, 20)).shape == (3, 5)
        assert net[0].out_features == 7


def test_forward_returns_c_and_h_logits():
    m = NoiseRegularization(16, 4, hidden=8)
    f = torch.randn(5, 16)
    out = m(f)
    c, r = m.clean_net(f), m.residual_net(f)
    torch.testing.assert_close(out["logits"], c)  # g = sigmoid(c)
    torch.testing.assert_close(out["h_logits"], r + c)  # h = sigmoid(r + c)


def test_unknown_activation_is_a_user_error():
    with pytest.raises(UserError, match="unknown activation 'gelu'"):
        CleanNet(4, 4, 2, "gelu")


@pytest.mark.parametrize("name", list_methods())
def test_every_registered_method_builds_and_gives_logits(name):
    m = create_method(name, 12, 3, TrainConfig(method=name, hidden=8))
    assert m(torch.randn(2, 12))["logits"].shape == (2, 3)
