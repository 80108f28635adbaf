"""XOR: what one perceptron cannot learn and a two-layer network can.

AND and OR are linearly separable, so Rosenblatt's perceptron rule finds a separating line
in a few epochs. XOR is not: no line puts (0,1) and (1,0) on one side and (0,0) and (1,1)
on the other, so the rule keeps making mistakes until it gives up with a
ConvergenceWarning. A 2-4-1 network with tanh hidden units solves it:

    h = tanh(x W1^T + b1),   logit = h W2^T + b2,   loss = BCE(sigmoid(logit), t)

trained by plain full-batch gradient descent, w <- w - lr * dL/dw, with the gradients
from lucidnn's autograd.

Run: ``python examples/xor.py`` (a second or two).
"""

import warnings

import numpy as np

import lucidnn
from lucidnn import functional as F
from lucidnn.algorithms import ConvergenceWarning, Perceptron
from lucidnn.models import MLP

INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
TARGETS = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "XOR": [0, 1, 1, 0]}


def train_perceptrons(max_epochs: int, seed: int) -> dict:
    """Fit one perceptron per truth table; print each outcome (the XOR warning included)."""
    results = {}
    for name, t in TARGETS.items():
        unit = Perceptron(2, rng=lucidnn.Generator(seed))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            result = unit.fit(INPUTS, t, max_epochs=max_epochs)
        results[name] = result
        print(f"perceptron on {name}: {result}")
        if result.converged:
            print(f"    w = {unit.weight.tolist()}, b = {float(unit.bias)}, "
                  f"predictions {unit.predict(INPUTS).tolist()} (targets {t})")
        for warning in caught:
            print(f"    {warning.category.__name__} was raised, as expected for {name}")
    return results


def train_xor_network(steps: int, lr: float, seed: int) -> tuple[list[int], float]:
    """Full-batch gradient descent on a 2-4-1 tanh network; returns (predictions, final loss)."""
    model = MLP(2, (4,), 1, activation="tanh", rng=lucidnn.Generator(seed))
    x = lucidnn.tensor(INPUTS)  # (4, 2)
    t = lucidnn.tensor(np.array(TARGETS["XOR"], dtype=np.float32).reshape(4, 1))  # (4, 1)
    params = list(model.parameters())
    for step in range(1, steps + 1):
        loss = F.binary_cross_entropy_with_logits(model(x), t)
        model.zero_grad()
        loss.backward()
        with lucidnn.no_grad():
            for p in params:
                p.data -= lr * p.grad.data
        if step == 1 or step % (steps // 4) == 0:
            print(f"    step {step:5d}  loss {loss.item():.4f}")
    with lucidnn.no_grad():
        probabilities = F.sigmoid(model(x)).numpy().reshape(-1)
    predictions = (probabilities > 0.5).astype(int).tolist()
    for xi, p, o in zip(INPUTS.astype(int).tolist(), probabilities, predictions):
        print(f"    XOR{tuple(xi)} -> p = {p:.3f} -> {o}")
    return predictions, float(loss.item())


def main(max_epochs: int = 100, steps: int = 2000, lr: float = 0.5, seed: int = 0) -> dict:
    """Run both experiments; return the perceptron results and the network's XOR predictions."""
    results = train_perceptrons(max_epochs, seed)
    print("2-4-1 tanh network on XOR, plain gradient descent:")
    predictions, loss = train_xor_network(steps, lr, seed)
    print(f"network predictions {predictions} (targets {TARGETS['XOR']})")
    return {"perceptron": results, "mlp_predictions": predictions, "mlp_loss": loss}


if __name__ == "__main__":
    main()
