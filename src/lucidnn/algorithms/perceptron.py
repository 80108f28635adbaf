r"""Rosenblatt's perceptron: one threshold unit trained by the error-driven perceptron rule.

The perceptron is a hyperplane decision surface in the n-dimensional input space: it
outputs 1 for inputs on one side of the hyperplane and 0 for inputs on the other. It is
trained online, one example at a time, and changes its weights only when it misclassifies
an example. Sets that one hyperplane can separate (AND, OR, NOT) are learned exactly; XOR
is not linearly separable, so a single perceptron never classifies all four cases.

Reference: course notes on the M-P neuron and the perceptron training rule; F. Rosenblatt,
"The perceptron" (1958); A. Novikoff, "On convergence proofs on perceptrons" (1962).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from lucidnn import backend
from lucidnn.autograd.tensor import Tensor

np = backend.numpy


class ConvergenceWarning(UserWarning):
    """A learning algorithm stopped at its iteration limit without meeting its stopping rule."""


@dataclass
class PerceptronResult:
    """What :meth:`Perceptron.fit` did.

    Attributes:
        converged: True when the last epoch ended with every training example classified
            correctly.
        epochs: the number of passes over the training set that were run.
        errors_per_epoch: for each epoch, the number of misclassified examples met during
            it, which is the number of weight updates made in it.
        n_examples: the size of the training set.
        max_epochs: the epoch limit ``fit`` was given.
    """

    converged: bool
    epochs: int
    errors_per_epoch: list[int] = field(default_factory=list)
    n_examples: int = 0
    max_epochs: int = 0

    @property
    def updates(self) -> int:
        """The total number of weight updates (mistakes) over all epochs."""
        return sum(self.errors_per_epoch)

    def __str__(self) -> str:
        if self.converged:
            return (f"Perceptron converged after {self.epochs} epoch(s) and {self.updates} update(s): "
                    f"all {self.n_examples} training examples are classified correctly; "
                    f"errors per epoch {self.errors_per_epoch}")
        last = self.errors_per_epoch[-1] if self.errors_per_epoch else 0
        return (f"Perceptron did not converge within max_epochs={self.max_epochs}: "
                f"the last epoch still misclassified {last} of the {self.n_examples} training examples "
                f"(errors per epoch, last 10: {self.errors_per_epoch[-10:]}). The data may not be "
                "linearly separable (XOR is not); if they are, raise max_epochs")


class Perceptron:
    r"""A single threshold unit trained by Rosenblatt's perceptron rule.

    Forward (the decision rule), for an input :math:`x \in \mathbb{R}^n`:

    .. math::
        o = \begin{cases} 1 & \text{if } w \cdot x + b > 0 \\ 0 & \text{otherwise} \end{cases}

    The bias is the negated threshold, :math:`b = -\theta`: the unit of the course notes
    fires when :math:`w \cdot x > \theta`, which is :math:`w \cdot x + b > 0`. Equivalently, with
    an extra input :math:`x_0 = 1` and weight :math:`w_0 = b`, the decision surface is the
    hyperplane :math:`w \cdot x = 0` of the notes. A point exactly on the hyperplane gives 0.

    Training rule, applied to one example :math:`(x, t)` at a time, with target
    :math:`t \in \{0, 1\}`, output :math:`o` and learning rate :math:`\eta > 0`:

    .. math::
        w_i \leftarrow w_i + \eta (t - o) x_i, \qquad b \leftarrow b + \eta (t - o)

    Since :math:`t - o \in \{-1, 0, 1\}`, the weights change only on a mistake. Each epoch
    visits every example once, in an order drawn from ``rng`` (or in the given order when
    ``shuffle=False``), and training stops after the first epoch whose end weights classify
    every example correctly.

    Convergence (Novikoff, 1962): if some unit vector :math:`u = (w^*, b^*)` separates the
    data with margin :math:`\gamma > 0`, that is :math:`(2t_k - 1)(w^* \cdot x_k + b^*) \ge \gamma`
    for every example, and :math:`R = \max_k \lVert (x_k, 1) \rVert`, then starting from zero
    weights the rule makes at most :math:`(R / \gamma)^2` updates, for any :math:`\eta > 0`.
    On data that are not linearly separable (XOR) it never stops; ``fit`` then gives up after
    ``max_epochs``, warns with :class:`ConvergenceWarning` and returns ``converged=False``.

    Inputs may be NumPy arrays, nested lists or lucidnn Tensors (any device; they are copied
    to the CPU). The unit computes in float64 on the CPU: the online rule is a sequential
    loop over examples, so there is nothing for a GPU to do; predicting a whole set is one
    matrix-vector product.

    Args:
        n_inputs: the number of input features n.
        lr: the learning rate :math:`\eta` (1.0). With zero initial weights the sequence of
            predictions does not depend on it; it only scales the weights.
        rng: the :class:`lucidnn.Generator` that draws the example order and the random
            initial weights (default: lucidnn's default CPU generator).
        init: ``'zeros'`` (default; the starting point of Novikoff's bound) or ``'random'``:
            :math:`w_i, b \sim \mathcal{N}(0, 0.01^2)`.
        shuffle: visit the examples in a fresh random order each epoch (True) or always in
            the given order (False).

    Shape:
        - X: (N, n) with N examples of n features.
        - t: (N,) targets, each 0 or 1 (booleans are accepted; (N, 1) is flattened).
        - predict(X): (N,) int64 array of 0s and 1s.

    Attributes:
        weight: (n,) float64 NumPy array w.
        bias: 0-d float64 NumPy array b (the threshold is ``-bias``).

    Example:
        >>> X = [[0, 0], [0, 1], [1, 0], [1, 1]]
        >>> unit = Perceptron(2, rng=lucidnn.Generator(0))
        >>> unit.fit(X, [0, 0, 0, 1]).converged       # AND
        True
        >>> unit.predict(X).tolist()
        [0, 0, 0, 1]
    """

    def __init__(self, n_inputs: int, *, lr: float = 1.0, rng: backend.Generator | None = None,
                 init: str = "zeros", shuffle: bool = True) -> None:
        if isinstance(n_inputs, bool) or not isinstance(n_inputs, (int, np.integer)) or n_inputs < 1:
            raise ValueError(f"Perceptron: n_inputs must be a positive int, got {n_inputs!r}")
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.number)) or not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"Perceptron: lr must be a positive finite number, got {lr!r}")
        if init not in ("zeros", "random"):
            raise ValueError(f"Perceptron: init must be 'zeros' or 'random', got {init!r}")
        if rng is not None and not isinstance(rng, backend.Generator):
            raise TypeError(f"Perceptron: rng must be a lucidnn.Generator or None, got {type(rng).__name__}")
        if rng is not None and rng.device != "cpu":
            raise ValueError(f"Perceptron: rng must be a 'cpu' Generator (the unit runs on the CPU), "
                             f"got one on {rng.device!r}")
        self.n_inputs = int(n_inputs)
        self.lr = float(lr)
        self.init = init
        self.shuffle = bool(shuffle)
        self.rng = rng
        self.reset_parameters()

    # ------------------------------------------------------------------ parameters

    def _generator(self) -> backend.Generator:
        return self.rng if self.rng is not None else backend.default_generator("cpu")

    def reset_parameters(self) -> None:
        """Set the weights and bias back to their initial values (zeros, or fresh random draws)."""
        if self.init == "zeros":
            self._w = np.zeros(self.n_inputs, dtype=np.float64)
            self._b = 0.0
        else:
            wb = self._generator().normal((self.n_inputs + 1,), std=0.01, dtype=np.float64)
            self._w, self._b = wb[:-1].copy(), float(wb[-1])

    @property
    def weight(self) -> Any:
        """The weights w, a (n_inputs,) float64 NumPy array (a copy)."""
        return self._w.copy()

    @weight.setter
    def weight(self, value: Any) -> None:
        w = np.asarray(_to_numpy(value), dtype=np.float64).reshape(-1)
        if w.shape != (self.n_inputs,) or not np.all(np.isfinite(w)):
            raise ValueError(f"Perceptron.weight: expected {self.n_inputs} finite values, "
                             f"got an array of shape {np.shape(_to_numpy(value))}")
        self._w = w.copy()

    @property
    def bias(self) -> Any:
        """The bias b = -threshold, a 0-d float64 NumPy array."""
        return np.array(self._b, dtype=np.float64)

    @bias.setter
    def bias(self, value: Any) -> None:
        b = np.asarray(_to_numpy(value), dtype=np.float64)
        if b.size != 1 or not np.isfinite(b).all():
            raise ValueError(f"Perceptron.bias: expected one finite number, got {value!r}")
        self._b = float(b.reshape(()))

    @property
    def threshold(self) -> float:
        r"""The firing threshold :math:`\theta = -b`: the unit outputs 1 when :math:`w \cdot x > \theta`."""
        return 0.0 - self._b  # not -b, which prints -0.0 for b = 0

    # ------------------------------------------------------------------ learning

    def fit(self, X: Any, t: Any, max_epochs: int = 100) -> PerceptronResult:
        """Train with the perceptron rule until an epoch ends with every example correct.

        Training continues from the current weights (call :meth:`reset_parameters` to start
        over), so calling ``fit`` again after a non-converged run trains for more epochs.

        Args:
            X: (N, n) inputs; any real dtype, converted to float64.
            t: (N,) targets in {0, 1}.
            max_epochs: the most passes over the data (100).

        Returns:
            A :class:`PerceptronResult`. When the limit is reached first, ``converged`` is False
            and a :class:`ConvergenceWarning` carrying the same message is issued.

        Raises:
            ValueError: for inputs of the wrong shape, non-finite values, targets outside
                {0, 1}, or a max_epochs that is not a positive int.
        """
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, (int, np.integer)) or max_epochs < 1:
            raise ValueError(f"Perceptron.fit: max_epochs must be a positive int, got {max_epochs!r}")
        x = self._check_inputs(X, "fit")
        t = _check_targets(t, len(x))
        result = PerceptronResult(converged=False, epochs=0, n_examples=len(x), max_epochs=int(max_epochs))
        self._train(x, t, int(max_epochs), result)
        if not result.converged:
            warnings.warn(str(result), ConvergenceWarning, stacklevel=2)
        return result

    def _train(self, x: Any, t: Any, max_epochs: int, result: PerceptronResult) -> None:
        """The epoch loop; updates ``self._w`` in place and ``self._b``, fills in ``result``."""
        rng = self._generator()
        w, lr = self._w, self.lr  # w is updated in place
        for _ in range(max_epochs):
            order = rng.permutation(len(x)) if self.shuffle else range(len(x))
            errors = 0
            # inherently sequential: each update changes the prediction for the next example
            for k in order:
                o = 1 if float(x[k] @ w) + self._b > 0.0 else 0
                if o != t[k]:
                    step = lr * float(t[k] - o)  # +lr or -lr
                    w += step * x[k]
                    self._b += step
                    errors += 1
            result.epochs += 1
            result.errors_per_epoch.append(errors)
            # an epoch with updates may still end on a separating hyperplane; one product checks
            if errors == 0 or np.array_equal(_threshold(x @ w + self._b), t):
                result.converged = True
                return

    # ------------------------------------------------------------------ inference

    def decision_function(self, X: Any) -> Any:
        r"""The activation :math:`w \cdot x + b` of every example: a (N,) float64 array."""
        return self._check_inputs(X, "decision_function") @ self._w + self._b

    def predict(self, X: Any) -> Any:
        """The unit's outputs, 1 where w·x + b > 0 and 0 elsewhere: a (N,) int64 NumPy array."""
        return _threshold(self._check_inputs(X, "predict") @ self._w + self._b)  # (N,)

    def score(self, X: Any, t: Any) -> float:
        """The fraction of examples in ``X`` whose prediction equals the target in ``t``."""
        x = self._check_inputs(X, "score")
        t = _check_targets(t, len(x))
        return float(np.mean(_threshold(x @ self._w + self._b) == t))

    def _check_inputs(self, X: Any, where: str) -> Any:
        x = _to_numpy(X)
        if x.dtype == object or x.dtype.kind not in "biuf":
            raise ValueError(f"Perceptron.{where}: X must hold real numbers, got dtype {x.dtype}")
        if x.ndim != 2:
            hint = " (for a single example use X.reshape(1, -1))" if x.ndim == 1 else ""
            raise ValueError(f"Perceptron.{where}: X must be 2-D (N examples, {self.n_inputs} features), "
                             f"got shape {x.shape}{hint}")
        if x.shape[1] != self.n_inputs:
            raise ValueError(f"Perceptron.{where}: X has {x.shape[1]} features per example but the unit "
                             f"has n_inputs={self.n_inputs}")
        if x.shape[0] == 0:
            raise ValueError(f"Perceptron.{where}: X has no examples (shape {x.shape})")
        x = x.astype(np.float64)
        if not np.all(np.isfinite(x)):
            raise ValueError(f"Perceptron.{where}: X contains NaN or infinite values")
        return x

    def __repr__(self) -> str:
        return (f"Perceptron(n_inputs={self.n_inputs}, lr={self.lr}, init={self.init!r}, "
                f"shuffle={self.shuffle})")


def _to_numpy(value: Any) -> Any:
    if isinstance(value, Tensor):
        return backend.to_numpy(value.data)
    return backend.to_numpy(value) if backend.is_array(value) else np.asarray(value)


def _threshold(a: Any) -> Any:
    return (a > 0.0).astype(np.int64)


def _check_targets(t: Any, n: int) -> Any:
    """Targets as a (N,) int64 array of 0s and 1s; anything else is a ValueError that says why."""
    t = _to_numpy(t)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 1 or len(t) != n:
        raise ValueError(f"Perceptron: targets must have shape ({n},), one per example of X, got {t.shape}")
    if t.dtype == object or t.dtype.kind not in "biuf":
        raise ValueError(f"Perceptron: targets must be 0 or 1, got dtype {t.dtype}")
    bad = ~((t == 0) | (t == 1))
    if bad.any():
        found = np.unique(t[bad])[:5].tolist()
        hint = "; for -1/+1 labels pass (t > 0)" if np.all((t == -1) | (t == 1)) else ""
        raise ValueError(f"Perceptron: targets must be 0 or 1, found {found}{hint}")
    return t.astype(np.int64)
