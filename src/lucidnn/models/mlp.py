r"""MLP: the multi-layer perceptron classifier of the course, built from ``nn`` layers.

Images or feature vectors go in, class logits come out:

    h_0 = flatten(x),   h_l = dropout(act(h_{l-1} W_l^T + b_l)) for l = 1..L,
    logits = h_L W_{L+1}^T + b_{L+1}

It is registered in the model zoo as ``"mlp"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lucidnn import backend, nn
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import ShapeError
from lucidnn.models.registry import register_model

# activation name -> the nn layer class name (looked up when a model is built)
ACTIVATIONS = {
    "relu": "ReLU",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "gelu": "GELU",
    "leaky_relu": "LeakyReLU",
    "elu": "ELU",
    "silu": "SiLU",
}


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, backend.numpy.integer)) or value < 1:
        raise ValueError(f"MLP: {name} must be a positive int, got {value!r}")
    return int(value)


class MLP(nn.Module):
    r"""A multi-layer perceptron classifier: Flatten, then Linear/activation blocks, then Linear logits.

    .. math::
        h_0 = \operatorname{flatten}(x), \quad
        h_l = \operatorname{dropout}(\sigma(h_{l-1} W_l^\top + b_l)), \quad
        \text{logits} = h_L W_{L+1}^\top + b_{L+1}

    The output is raw logits (no softmax): pair it with ``F.cross_entropy``.

    Layout and parameter names (PyTorch's, so a state dict moves by name): ``flatten`` is a
    :class:`~lucidnn.nn.Flatten` (axes 1..end) outside the stack, and ``layers`` is a
    :class:`~lucidnn.nn.Sequential` of ``Linear, activation[, Dropout]`` per hidden layer and a
    final ``Linear``. Without dropout the Linear layers sit at indices 0, 2, 4, ... giving
    ``layers.0.weight``, ``layers.0.bias``, ``layers.2.weight``, ...; with ``dropout > 0`` each
    block has three modules and they sit at 0, 3, 6, .... The last index is always the output
    layer.

    Args:
        in_features: features per sample after flattening (784 = 1x28x28 images).
        hidden_sizes: the width of each hidden layer ((256, 256)); empty gives multinomial
            logistic regression; one int means one hidden layer.
        num_classes: the number of logits (10).
        activation: one of relu, tanh, sigmoid, gelu, leaky_relu, elu, silu ('relu').
        dropout: the drop probability after each hidden activation, in [0, 1) (0.0: no
            Dropout modules at all).
        rng: the :class:`lucidnn.Generator` for the initial weights and the dropout masks
            (default: lucidnn's default generator).
        dtype: the parameters' dtype (default float dtype).

    Shape:
        - Input: (N, in_features) or (N, *) with in_features elements per sample, e.g. (N, 1, 28, 28).
        - Output: (N, num_classes).

    Parameters:
        Each Linear(fan_in, fan_out) as :class:`~lucidnn.nn.Linear` initialises it: weight and
        bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    Attributes:
        config: the constructor arguments as a JSON-able dict (``rng`` excluded, ``dtype`` as
            its name), so ``get_model("mlp", **model.config)`` builds the same architecture.
        model_name: ``"mlp"``, the registry name.
    """

    model_name = "mlp"

    def __init__(self, in_features: int = 784, hidden_sizes: Sequence[int] | int = (256, 256),
                 num_classes: int = 10, *, activation: str = "relu", dropout: float = 0.0,
                 rng: backend.Generator | None = None, dtype: Any = None) -> None:
        super().__init__()
        in_features = _positive_int(in_features, "in_features")
        num_classes = _positive_int(num_classes, "num_classes")
        if isinstance(hidden_sizes, (int, backend.numpy.integer)) and not isinstance(hidden_sizes, bool):
            hidden_sizes = (hidden_sizes,)
        if isinstance(hidden_sizes, (str, bytes)) or not isinstance(hidden_sizes, Sequence):
            raise ValueError(f"MLP: hidden_sizes must be a sequence of positive ints, got {hidden_sizes!r}")
        hidden = [_positive_int(h, "each of hidden_sizes") for h in hidden_sizes]
        key = activation.lower() if isinstance(activation, str) else activation
        if key not in ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"MLP: dropout must be a probability in [0, 1), got {dropout!r}")
        dtype = backend.as_dtype(dtype)
        if not backend.is_floating(dtype):
            raise ValueError(f"MLP: dtype must be a floating type, got {dtype}")

        self.in_features, self.hidden_sizes, self.num_classes = in_features, tuple(hidden), num_classes
        self.activation, self.dropout = key, float(dropout)
        self.config = {
            "in_features": in_features,
            "hidden_sizes": list(hidden),
            "num_classes": num_classes,
            "activation": key,
            "dropout": float(dropout),
            "dtype": dtype.name,
        }

        act = getattr(nn, ACTIVATIONS[key])
        self.flatten = nn.Flatten(start_axis=1)
        blocks: list[nn.Module] = []
        fan_in = in_features
        for width in hidden:
            blocks += [nn.Linear(fan_in, width, dtype=dtype, rng=rng), act()]
            if self.dropout > 0:
                blocks.append(nn.Dropout(self.dropout, rng=rng))
            fan_in = width
        blocks.append(nn.Linear(fan_in, num_classes, dtype=dtype, rng=rng))
        self.layers = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"MLP: expected a lucidnn Tensor, got {type(x).__name__} (wrap it with lucidnn.tensor)")
        if x.ndim < 2:
            raise ShapeError(f"MLP: input must have a batch axis, (N, {self.in_features}) or (N, C, H, W), "
                             f"got shape {x.shape}")
        h = self.flatten(x)  # (N, in_features)
        if h.shape[1] != self.in_features:
            raise ShapeError(f"MLP: input of shape {x.shape} has {h.shape[1]} features per sample but the model "
                             f"expects in_features={self.in_features}")
        return self.layers(h)  # (N, num_classes)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, hidden_sizes={self.hidden_sizes}, "
                f"num_classes={self.num_classes}, activation={self.activation!r}, dropout={self.dropout}")


@register_model("mlp")
def mlp(*, in_features: int = 784, num_classes: int = 10, hidden_sizes: Sequence[int] | int = (256, 256),
        activation: str = "relu", dropout: float = 0.0, rng: backend.Generator | None = None,
        dtype: Any = None) -> MLP:
    """A multi-layer perceptron classifier: Flatten, then Linear/activation blocks, then Linear logits.

    See :class:`MLP` for the arguments; all are keyword-only here.
    """
    return MLP(in_features, hidden_sizes, num_classes, activation=activation, dropout=dropout,
               rng=rng, dtype=dtype)
