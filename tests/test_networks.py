"""Tests of hw11_utils.networks: MLP, functional parameters, LSTMCore, TransitionEncoder."""

import pytest
import torch
from torch import nn

from hw11_utils.networks import (
    MLP,
    LSTMCore,
    TransitionEncoder,
    functional_forward,
    param_dict,
    stacked_forward,
    transition_features,
)


def setup_module():
    torch.manual_seed(0)


def test_mlp_shapes_and_layers():
    net = MLP(4, 3, hidden_sizes=(8, 16))
    assert net(torch.randn(5, 7, 4)).shape == (5, 7, 3)
    linear = [m for m in net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(4, 8), (8, 16), (16, 3)]
    assert sum(isinstance(m, nn.Tanh) for m in net) == 2
    assert all(torch.all(m.bias == 0) for m in linear)


def test_mlp_output_gain_scales_last_layer():
    small = MLP(4, 2, output_gain=0.01)
    last = [m for m in small if isinstance(m, nn.Linear)][-1]
    assert last.weight.abs().max() < 0.05
    assert MLP(4, 2, hidden_sizes=(), activation=nn.ReLU)[0].weight.shape == (2, 4)


def test_param_dict_returns_live_parameters():
    net = MLP(4, 2)
    params = param_dict(net)
    assert list(params) == [name for name, _ in net.named_parameters()]
    for name, p in net.named_parameters():
        assert params[name] is p and p.requires_grad


def test_functional_forward_with_own_params_equals_module():
    net = MLP(4, 2)
    x = torch.randn(6, 4)
    torch.testing.assert_close(functional_forward(net, param_dict(net), x), net(x))


def test_functional_forward_uses_given_params_and_leaves_module_unchanged():
    net = MLP(4, 2)
    x = torch.randn(6, 4)
    before = net(x).detach()
    shifted = {name: p + 1.0 for name, p in param_dict(net).items()}
    assert not torch.allclose(functional_forward(net, shifted, x), before)
    torch.testing.assert_close(net(x), before)


def test_meta_gradient_flows_through_adapted_params():
    # linear f(x) = w.x + b; inner loss L1 = 0.5 f(x1)^2, adapted theta' = theta - a grad L1,
    # outer loss L2 = f'(x2). With s = w.x1 + b:
    #   dL2/dw = x2 - a (x1.x2 + 1) x1,   dL2/db = 1 - a (x1.x2 + 1)
    net = MLP(3, 1, hidden_sizes=())
    x1, x2, a = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.3, 0.2, -1.0]), 0.1
    theta = param_dict(net)
    inner = 0.5 * functional_forward(net, theta, x1).pow(2).sum()
    grads = torch.autograd.grad(inner, list(theta.values()), create_graph=True)
    adapted = {name: p - a * g for (name, p), g in zip(theta.items(), grads)}
    outer = functional_forward(net, adapted, x2).sum()
    grad_w, grad_b = torch.autograd.grad(outer, [theta["0.weight"], theta["0.bias"]])
    c = x1.dot(x2) + 1.0
    torch.testing.assert_close(grad_w, (x2 - a * c * x1).view(1, 3))
    torch.testing.assert_close(grad_b, (1.0 - a * c).view(1))


def _stacked_params(module, num_sets):
    generator = torch.Generator().manual_seed(1)
    return {
        name: torch.stack([p.detach() + 0.1 * torch.randn(p.shape, generator=generator) for _ in range(num_sets)])
        for name, p in module.named_parameters()
    }


@pytest.mark.parametrize("input_shape", [(6, 4), (6, 5, 4), (6, 2, 3, 4)])
def test_stacked_forward_of_an_mlp_is_bitwise_the_vmap_of_functional_forward(input_shape):
    net = MLP(4, 3, hidden_sizes=(16, 8))
    stacked = _stacked_params(net, input_shape[0])
    inputs = torch.randn(input_shape)
    expected = torch.func.vmap(lambda params, x: functional_forward(net, params, x))(stacked, inputs)
    result = stacked_forward(net, stacked, inputs)
    assert result.shape == (*input_shape[:-1], 3)
    assert torch.equal(result, expected)
    for k in range(input_shape[0]):  # and each entry is its own parameter set
        own = {name: value[k] for name, value in stacked.items()}
        assert torch.allclose(result[k], functional_forward(net, own, inputs[k]), atol=1e-6)


def test_stacked_forward_falls_back_to_vmap_for_other_modules():
    class Scaled(nn.Module):  # not a Sequential: goes through vmap
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 2)

        def forward(self, x):
            return 2.0 * self.linear(x)

    layer_norm_net = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))  # a layer with parameters of its own
    for net in (Scaled(), layer_norm_net):
        stacked = _stacked_params(net, 3)
        inputs = torch.randn(3, 5, 4)
        for k in range(3):
            own = {name: value[k] for name, value in stacked.items()}
            assert torch.allclose(stacked_forward(net, stacked, inputs)[k], functional_forward(net, own, inputs[k]),
                                  atol=1e-6)


def test_lstm_core_shapes():
    core = LSTMCore(input_dim=7, hidden_size=16, num_actions=2)
    logits, values, h = core(torch.randn(3, 5, 7))
    assert logits.shape == (3, 5, 2) and values.shape == (3, 5) and h.shape == (1, 3, 32)
    logits, values, h = core.step(torch.randn(3, 7), h)
    assert logits.shape == (3, 2) and values.shape == (3,) and h.shape == (1, 3, 32)


def test_lstm_stepping_equals_sequence_forward():
    core = LSTMCore(input_dim=7, hidden_size=16, num_actions=2)
    inputs, h0 = torch.randn(3, 6, 7), torch.randn(1, 3, 32)
    for start in (None, h0):
        seq_logits, seq_values, seq_h = core(inputs, start)
        h, step_logits, step_values = start, [], []
        for t in range(inputs.shape[1]):
            logits, values, h = core.step(inputs[:, t], h)
            step_logits.append(logits)
            step_values.append(values)
        torch.testing.assert_close(torch.stack(step_logits, dim=1), seq_logits)
        torch.testing.assert_close(torch.stack(step_values, dim=1), seq_values)
        torch.testing.assert_close(h, seq_h)


def test_lstm_input_gain_must_match_the_input_size():
    with pytest.raises(ValueError, match="input_gain must have 7 entries"):
        LSTMCore(input_dim=7, hidden_size=16, num_actions=2, input_gain=[1.0] * 6)


def test_lstm_hidden_state_matters():
    core = LSTMCore(input_dim=7, hidden_size=16, num_actions=2)
    x = torch.randn(3, 7)
    _, values_zero, _ = core.step(x, None)
    _, values_other, _ = core.step(x, torch.ones(1, 3, 32))
    assert not torch.allclose(values_zero, values_other)


def test_lstm_core_functional_forward():
    core = LSTMCore(input_dim=7, hidden_size=16, num_actions=2)
    inputs = torch.randn(2, 4, 7)
    logits, values, h = functional_forward(core, param_dict(core), inputs)
    torch.testing.assert_close(logits, core(inputs)[0])


def test_transition_features_layout():
    obs = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    next_obs = torch.tensor([[5.0, 6.0, 7.0, 8.0]])
    features = transition_features(obs, torch.tensor([1]), torch.tensor([0.5]), next_obs, num_actions=2)
    expected = torch.tensor([[1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 0.5, 5.0, 6.0, 7.0, 8.0]])
    torch.testing.assert_close(features, expected)
    batched = transition_features(
        torch.randn(2, 5, 4), torch.zeros(2, 5, dtype=torch.long), torch.randn(2, 5), torch.randn(2, 5, 4), 3
    )
    assert batched.shape == (2, 5, 4 + 3 + 1 + 4) and batched.dtype == torch.float32


def test_transition_encoder_is_per_transition():
    encoder = TransitionEncoder(transition_dim=11, latent_dim=5, hidden_sizes=(32, 32))
    context = torch.randn(4, 9, 11)
    out = encoder(context)
    assert out.shape == (4, 9, 10)
    permutation = torch.randperm(9)
    torch.testing.assert_close(encoder(context[:, permutation]), out[:, permutation])
