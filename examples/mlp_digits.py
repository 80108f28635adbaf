"""A two-layer MLP on scikit-learn's 8x8 digits, written with lucidnn.functional only.

    h = relu(x W1^T + b1),   logits = h W2^T + b2,   loss = cross_entropy(logits, y)

trained by plain mini-batch gradient descent, w <- w - lr * dL/dw, with the gradients
from lucidnn's autograd. Prints the loss as it falls and the held-out test accuracy.

Run: ``make demo`` (or ``python examples/mlp_digits.py`` with lucidnn and scikit-learn installed).
"""

import math
import time

import numpy as np
from sklearn.datasets import load_digits

import lucidnn
from lucidnn import functional as F


def main(epochs: int = 40, hidden: int = 128, batch_size: int = 32, lr: float = 0.1, seed: int = 0) -> float:
    digits = load_digits()
    x_all = (digits.data / 16.0).astype(np.float32)  # (1797, 64), pixels in [0, 1]
    y_all = digits.target.astype(np.int64)
    rng = lucidnn.Generator(seed)
    order = rng.permutation(len(x_all))
    n_test = len(x_all) // 5
    test, train = order[:n_test], order[n_test:]
    x_train, y_train = lucidnn.tensor(x_all[train]), lucidnn.tensor(y_all[train])
    x_test, y_test = lucidnn.tensor(x_all[test]), lucidnn.tensor(y_all[test])

    # He initialisation for the ReLU layer, 1/sqrt(fan_in) for the output layer
    w1 = lucidnn.randn(hidden, 64, rng=rng) * math.sqrt(2.0 / 64)
    w2 = lucidnn.randn(10, hidden, rng=rng) * math.sqrt(1.0 / hidden)
    params = [w1.requires_grad_(), lucidnn.zeros(hidden, requires_grad=True),
              w2.requires_grad_(), lucidnn.zeros(10, requires_grad=True)]

    def forward(x):
        w1, b1, w2, b2 = params
        return F.linear(F.relu(F.linear(x, w1, b1)), w2, b2)

    start = time.perf_counter()
    n = len(train)
    for epoch in range(1, epochs + 1):
        perm = rng.permutation(n)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            loss = F.cross_entropy(forward(x_train[idx]), y_train[idx])
            for p in params:
                p.grad = None
            loss.backward()
            with lucidnn.no_grad():
                for p in params:
                    p.data -= lr * p.grad.data
            total += loss.item() * len(idx)
        if epoch == 1 or epoch % 10 == 0:
            print(f"epoch {epoch:3d}  train loss {total / n:.4f}")
    with lucidnn.no_grad():
        accuracy = (forward(x_test).argmax(axis=1) == y_test).numpy().mean()
    print(f"test accuracy {accuracy:.4f} on {n_test} held-out digits "
          f"({epochs} epochs, {time.perf_counter() - start:.1f} s)")
    return float(accuracy)


if __name__ == "__main__":
    main()
