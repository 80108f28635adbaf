"""MLP training step, lucidnn vs PyTorch CPU, side by side in one process.

784-256-256-10 ReLU MLP, softmax cross-entropy, batch 128, plain SGD update: the
PERFORMANCE.md reference workload. Both libraries use 2 threads (PyTorch via
``set_num_threads``, NumPy's BLAS via threadpoolctl), get identical weights and data, warm
up, then rounds alternate between the libraries and the medians are printed as samples/s with
the median per-round ratio.

Run: ``.venv/bin/python benchmarks/bench_mlp.py`` (after ``make test`` has built .venv).
"""

from __future__ import annotations

import argparse

import numpy as np
from common import compare, timing_arguments, training_step  # benchmarks/common.py (the script's folder is on sys.path)

import lucidnn
from lucidnn import functional as F

SIZES = (784, 256, 256, 10)


def make_data(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], batch)
    weights = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        weights.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        weights.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return x, y, weights


def lucidnn_step_fn(x, y, weights, lr=0.01):
    params = [lucidnn.tensor(w.copy(), requires_grad=True) for w in weights]
    tx, ty = lucidnn.tensor(x), lucidnn.tensor(y)

    def step():
        h = tx
        for i in range(0, len(params) - 2, 2):
            h = F.relu(F.linear(h, params[i], params[i + 1]))
        loss = F.cross_entropy(F.linear(h, params[-2], params[-1]), ty)
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data -= lr * p.grad.data
        return loss.item()

    return step


def torch_step_fn(torch, x, y, weights, lr=0.01):
    params = [torch.tensor(w.copy(), requires_grad=True) for w in weights]
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    tf = torch.nn.functional

    def step():
        h = tx
        for i in range(0, len(params) - 2, 2):
            h = tf.relu(tf.linear(h, params[i], params[i + 1]))
        loss = tf.cross_entropy(tf.linear(h, params[-2], params[-1]), ty)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
        return loss.item()

    return step


def lucidnn_module_step_fn(x, y, weights, lr=0.01):
    """The same step written as a user would: nn.Sequential, CrossEntropyLoss, optim.SGD with momentum."""
    from lucidnn import nn, optim

    layers = []
    for i in range(0, len(weights), 2):
        linear = nn.Linear(weights[i].shape[1], weights[i].shape[0])
        linear.load_state_dict({"weight": weights[i], "bias": weights[i + 1]})
        layers += [linear, nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    optimizer, loss_fn = optim.SGD(model.parameters(), lr=lr, momentum=0.9), nn.CrossEntropyLoss()
    tx, ty = lucidnn.tensor(x), lucidnn.tensor(y)

    return training_step(model, loss_fn, optimizer, tx, ty)


def torch_module_step_fn(torch, x, y, weights, lr=0.01):
    layers = []
    for i in range(0, len(weights), 2):
        linear = torch.nn.Linear(weights[i].shape[1], weights[i].shape[0])
        linear.load_state_dict({"weight": torch.from_numpy(weights[i]), "bias": torch.from_numpy(weights[i + 1])})
        layers += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    optimizer, loss_fn = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9), torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    return training_step(model, loss_fn, optimizer, tx, ty)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    timing_arguments(parser, steps=50)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    x, y, weights = make_data(args.batch)
    pairs = [("functional ops + manual SGD", lucidnn_step_fn(x, y, weights), torch_step_fn(torch, x, y, weights)),
             ("nn.Sequential + optim.SGD(momentum)", lucidnn_module_step_fn(x, y, weights),
              torch_module_step_fn(torch, x, y, weights))]
    print(f"MLP 784-256-256-10 ReLU, cross-entropy, batch {args.batch}, {args.threads} threads")
    for name, ours, theirs in pairs:
        compare("  " + name, args.batch, ours, theirs, steps=args.steps, rounds=args.rounds, threads=args.threads,
                rtol=1e-4)

if __name__ == "__main__":
    main()
