"""CNN training steps, lucidnn vs PyTorch CPU, side by side in one process.

Two workloads from PERFORMANCE.md: LeNet-5 (modern: ReLU + max pooling) at batch 128 on
1x28x28, and the small ResNet (3x3 stem of 32, a BasicBlock of 32 and one of 64 with batch
norm) at batch 64 on 3x32x32. Each library trains an identical copy (PyTorch's model gets
lucidnn's weights by name) with cross-entropy and SGD with momentum, in training mode, 2
threads each; after warm-up, rounds alternate between the libraries and the medians are
printed as samples/s with the median per-round ratio (above 1: lucidnn is faster).

Run: ``.venv/bin/python benchmarks/bench_cnn.py`` (after ``make test`` has built .venv).
"""

from __future__ import annotations

import argparse

import numpy as np
from common import compare, timing_arguments, training_step  # benchmarks/common.py (the script's folder is on sys.path)

import lucidnn
from lucidnn import nn, optim
from lucidnn.models import get_model


def torch_lenet5(torch):
    tnn = torch.nn

    class LeNet5(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.act1, self.pool1 = tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2)
            self.conv2, self.act2, self.pool2 = tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2)
            self.conv3, self.act3, self.flatten = tnn.Conv2d(16, 120, 5), tnn.ReLU(), tnn.Flatten()
            self.fc1, self.act4, self.fc2 = tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10)

        def forward(self, x):  # pooling before the ReLU, as lucidnn's modern LeNet-5 does (same function)
            x = self.act1(self.pool1(self.conv1(x)))
            x = self.act2(self.pool2(self.conv2(x)))
            x = self.flatten(self.act3(self.conv3(x)))
            return self.fc2(self.act4(self.fc1(x)))

    return LeNet5()


def torch_resnet_small(torch):
    tnn = torch.nn

    class BasicBlock(tnn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
            self.bn1, self.relu = tnn.BatchNorm2d(c_out), tnn.ReLU()
            self.conv2, self.bn2 = tnn.Conv2d(c_out, c_out, 3, padding=1, bias=False), tnn.BatchNorm2d(c_out)
            self.downsample = None
            if stride != 1 or c_in != c_out:
                self.downsample = tnn.Sequential(tnn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                                 tnn.BatchNorm2d(c_out))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + identity)

    class ResNetSmall(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 32, 3, padding=1, bias=False)
            self.bn1, self.relu = tnn.BatchNorm2d(32), tnn.ReLU()
            self.layer1 = tnn.Sequential(BasicBlock(32, 32, 1))
            self.layer2 = tnn.Sequential(BasicBlock(32, 64, 2))
            self.avgpool, self.fc = tnn.AdaptiveAvgPool2d(1), tnn.Linear(64, 10)

        def forward(self, x):
            x = self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x)))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNetSmall()


def step_fns(torch, ours, theirs, x, y, lr=0.01):
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    ours.train()
    theirs.train()
    opt_ours = optim.SGD(ours.parameters(), lr=lr, momentum=0.9)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=lr, momentum=0.9)
    loss_ours, loss_theirs = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    tx, ty = lucidnn.tensor(x), lucidnn.tensor(y)
    px, py = torch.from_numpy(x), torch.from_numpy(y)

    return (training_step(ours, loss_ours, opt_ours, tx, ty),
            training_step(theirs, loss_theirs, opt_theirs, px, py))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    timing_arguments(parser, steps=5)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    workloads = [
        ("LeNet-5, batch 128, 1x28x28", get_model("lenet5", input_shape=(1, 28, 28), variant="modern",
                                                   rng=lucidnn.Generator(0)), torch_lenet5(torch), (128, 1, 28, 28)),
        ("small ResNet, batch 64, 3x32x32", get_model("resnet_small", input_shape=(3, 32, 32),
                                                       rng=lucidnn.Generator(0)), torch_resnet_small(torch),
         (64, 3, 32, 32)),
    ]
    for name, ours, theirs, shape in workloads:
        x = rng.standard_normal(shape).astype(np.float32)
        y = rng.integers(0, 10, shape[0])
        ours_step, theirs_step = step_fns(torch, ours, theirs, x, y)
        compare(name, shape[0], ours_step, theirs_step, steps=args.steps, rounds=args.rounds, threads=args.threads)

if __name__ == "__main__":
    main()
