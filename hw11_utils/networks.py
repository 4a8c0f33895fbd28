"""Networks and functional-parameter helpers shared by MAML, RL² and PEARL.

* :class:`MLP` — a plain multilayer perceptron with orthogonal initialisation (as in CleanRL).
* :func:`param_dict` / :func:`functional_forward` — run a module with an explicit dict of
  parameters via :func:`torch.func.functional_call`. MAML's adapted parameters are such dicts:
  values computed from the module's own parameters, never written back into the module, so the
  meta-gradient flows through the adaptation step.
* :func:`stacked_forward` — run a module with K parameter dicts at once, one per batch entry
  (MAML's sampler runs every task with its own adapted parameters).
* :class:`LSTMCore` — the recurrent policy/value network of RL².
* :class:`TransitionEncoder` and :func:`transition_features` — the per-transition network of
  PEARL's context encoder (the student turns its output into a Gaussian factor).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap


def layer_init(layer: nn.Linear, gain: float = math.sqrt(2.0), bias: float = 0.0) -> nn.Linear:
    """Orthogonal weights with the given gain and constant bias (CleanRL's ``layer_init``)."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.constant_(layer.bias, bias)
    return layer


class MLP(nn.Sequential):
    """Multilayer perceptron: ``in_dim -> hidden_sizes... -> out_dim``, activation between layers.

    Hidden layers are initialised orthogonally with gain sqrt(2), the output layer with
    ``output_gain`` (use a small gain such as 0.01 for a policy head so the initial policy is
    near uniform, 1.0 for a value head); biases start at 0.

    Args:
        in_dim: input features D_in.
        out_dim: output features D_out.
        hidden_sizes: widths of the hidden layers (empty: a linear map).
        activation: activation module class, instantiated between layers.
        output_gain: orthogonal-init gain of the last layer.

    Shapes: input [..., D_in] -> output [..., D_out] (any leading dimensions).
    Parameter names are ``"0.weight", "0.bias", "2.weight", ...`` (the indices of the layers).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: type[nn.Module] = nn.Tanh,
        output_gain: float = 1.0,
    ) -> None:
        layers: list[nn.Module] = []
        width = in_dim
        for hidden in hidden_sizes:
            layers += [layer_init(nn.Linear(width, hidden)), activation()]
            width = hidden
        layers.append(layer_init(nn.Linear(width, out_dim), gain=output_gain))
        super().__init__(*layers)
        self.in_dim = in_dim
        self.out_dim = out_dim


def param_dict(module: nn.Module) -> dict[str, Tensor]:
    """The module's named parameters as a dict name -> tensor.

    The tensors are the live parameters themselves (not detached, not cloned): they are the
    meta-parameters theta, and anything computed from them (e.g. an adapted
    ``theta' = theta - alpha * grad``) stays connected to them in the autograd graph.
    """
    return dict(module.named_parameters())


def functional_forward(module: nn.Module, params: dict[str, Tensor], *inputs: Tensor) -> Tensor:
    """Call ``module(*inputs)`` with the parameters in ``params`` instead of its own.

    A thin wrapper of :func:`torch.func.functional_call`; the module is not modified. Parameters
    missing from ``params`` (and buffers) are taken from the module.

    Example (one MAML inner step)::

        theta = param_dict(policy)
        grads = torch.autograd.grad(inner_loss(theta), list(theta.values()), create_graph=True)
        adapted = {name: p - inner_lr * g for (name, p), g in zip(theta.items(), grads)}
        logits = functional_forward(policy, adapted, obs)   # differentiable w.r.t. theta
    """
    return functional_call(module, params, inputs)


_ELEMENTWISE = (nn.Tanh, nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Identity)


def _is_linear_stack(module: nn.Module, params: dict[str, Tensor]) -> bool:
    """Whether ``module`` is an ``nn.Sequential`` of linear layers and element-wise activations, keyed by ``params``."""
    if not isinstance(module, nn.Sequential) or set(params) != {name for name, _ in module.named_parameters()}:
        return False
    return all(isinstance(layer, (nn.Linear, *_ELEMENTWISE)) for layer in module)


def stacked_forward(module: nn.Module, stacked_params: dict[str, Tensor], inputs: Tensor) -> Tensor:
    """``module`` run with K parameter sets at once: ``inputs[k]`` goes through ``stacked_params[name][k]``.

    The same numbers as ``torch.func.vmap`` over :func:`functional_forward`. For an ``nn.Sequential``
    of ``nn.Linear`` layers and element-wise activations (an :class:`MLP`), the linear layers are batched
    matrix products, about 1.6x faster than vmap at MAML's sampling sizes; any other module goes
    through vmap.

    Inputs:
        module: the network whose parameter names key ``stacked_params``.
        stacked_params: name -> tensor [K, *parameter shape].
        inputs: float [K, ..., in].

    Returns:
        float [K, ..., out].
    """
    if not _is_linear_stack(module, stacked_params):
        return vmap(lambda params, x: functional_forward(module, params, x))(stacked_params, inputs)
    hidden = inputs.reshape(inputs.shape[0], -1, inputs.shape[-1])
    for name, layer in module.named_children():
        if isinstance(layer, nn.Linear):
            weight, bias = stacked_params[f"{name}.weight"], stacked_params.get(f"{name}.bias")
            hidden = torch.bmm(hidden, weight.transpose(1, 2))
            hidden = hidden if bias is None else hidden + bias.unsqueeze(1)
        else:
            hidden = layer(hidden)
    return hidden.reshape(*inputs.shape[:-1], hidden.shape[-1])


class LSTMCore(nn.Module):
    """Recurrent actor-critic: a one-layer LSTM followed by a policy head and a value head.

        (h_t, c_t) = LSTM(g * x_t, (h_{t-1}, c_{t-1})),   logits_t = W_pi h_t + b_pi,   V_t = w_V . h_t + b_V

    Args:
        input_dim: size of the per-step input x_t (for RL²: observation, one-hot previous action,
            previous reward and previous done flag).
        hidden_size: size H of the LSTM's hidden state h (and of its cell state c).
        num_actions: number of discrete actions A.
        input_gain: fixed (not trained) per-feature factors g of the input, length ``input_dim``;
            ``None``: all ones. RL² on ``target`` amplifies the reward's column with it.

    The recurrent state is h and c side by side in one tensor, [1, B, 2H] (``state_size`` = 2H), so that
    it can be stored, cloned and compared like a single hidden state; ``None`` means zeros.

    An LSTM rather than a GRU for speed: on a CPU, torch runs :class:`torch.nn.LSTM` with oneDNN's fused
    kernels, and RL²'s homework training on flip took 66 s instead of 116 s with :class:`torch.nn.GRU`
    (two threads, same config and seed; ``docs/RESULTS_LOG.md``).
    """

    def __init__(
        self, input_dim: int, hidden_size: int, num_actions: int, input_gain: Optional[Sequence[float]] = None
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.hidden_size = hidden_size
        self.num_actions = num_actions
        gain = torch.ones(input_dim) if input_gain is None else torch.as_tensor(input_gain, dtype=torch.float32)
        if gain.shape != (input_dim,):
            raise ValueError(f"input_gain must have {input_dim} entries, got shape {tuple(gain.shape)}")
        self.register_buffer("input_gain", gain.clone(), persistent=False)  # saved by save_rl2, not in state_dict
        self.lstm = nn.LSTM(input_dim, hidden_size, batch_first=True)
        self.policy_head = layer_init(nn.Linear(hidden_size, num_actions), gain=0.01)
        self.value_head = layer_init(nn.Linear(hidden_size, 1), gain=1.0)

    @property
    def state_size(self) -> int:
        """Size of the recurrent state's last dimension: h and c, 2H."""
        return 2 * self.hidden_size

    def forward(self, inputs: Tensor, h0: Optional[Tensor] = None) -> tuple[Tensor, Tensor, Tensor]:
        """Run the LSTM over whole sequences.

        Args:
            inputs: float [B, L, input_dim].
            h0: float [1, B, 2H] initial recurrent state (h and c side by side), or ``None`` for zeros.

        Returns:
            logits [B, L, A], values [B, L], and the recurrent state after the last step [1, B, 2H].
        """
        h_c = None if h0 is None else tuple(part.contiguous() for part in h0.chunk(2, dim=-1))
        hidden, (h_n, c_n) = self.lstm(inputs * self.input_gain, h_c)
        return self.policy_head(hidden), self.value_head(hidden).squeeze(-1), torch.cat([h_n, c_n], dim=-1)

    def step(self, inputs: Tensor, h: Optional[Tensor] = None) -> tuple[Tensor, Tensor, Tensor]:
        """Advance by one time step (used while acting).

        Args:
            inputs: float [B, input_dim].
            h: float [1, B, 2H] recurrent state (h and c side by side), or ``None`` for zeros.

        Returns:
            logits [B, A], values [B], new recurrent state [1, B, 2H].
        """
        logits, values, h = self.forward(inputs.unsqueeze(1), h)
        return logits.squeeze(1), values.squeeze(1), h


class TransitionEncoder(nn.Module):
    """Per-transition network of a PEARL context encoder.

    Maps each transition vector c_n (see :func:`transition_features`) to ``2 * latent_dim`` raw
    numbers, independently for every transition. Splitting them into the mean and the variance
    of a Gaussian factor, and combining the factors into a posterior, is left to the caller.

    Args:
        transition_dim: size of a transition vector D_c.
        latent_dim: size of the latent task variable z.
        hidden_sizes: widths of the hidden layers.

    Shapes: [..., D_c] -> [..., 2 * latent_dim].
    """

    def __init__(self, transition_dim: int, latent_dim: int, hidden_sizes: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        self.transition_dim = transition_dim
        self.latent_dim = latent_dim
        self.net = MLP(transition_dim, 2 * latent_dim, hidden_sizes, activation=nn.ReLU, output_gain=1.0)

    def forward(self, transitions: Tensor) -> Tensor:
        """Raw outputs [..., 2 * latent_dim] for transitions [..., transition_dim]."""
        return self.net(transitions)


def transition_features(obs: Tensor, actions: Tensor, rewards: Tensor, next_obs: Tensor, num_actions: int) -> Tensor:
    """Concatenate a transition (s, a, r, s') into one vector, with the action one-hot.

        c = [s, onehot(a), r, s']

    Args:
        obs: float [..., 4]; actions: long [...]; rewards: float [...]; next_obs: float [..., 4].
        num_actions: number of discrete actions A.

    Returns:
        float32 [..., 4 + A + 1 + 4].
    """
    one_hot = nn.functional.one_hot(actions.long(), num_actions).to(torch.float32)
    return torch.cat(
        [obs.float(), one_hot, rewards.float().unsqueeze(-1), next_obs.float()],
        dim=-1,
    )
