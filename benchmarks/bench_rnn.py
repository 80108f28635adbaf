"""Character-level language-model training steps, lucidnn vs PyTorch CPU, side by side in one process.

The workload of PERFORMANCE.md: vocabulary 65, embedding 64, one recurrent layer of hidden
size 256 (LSTM, GRU or tanh RNN), sequences of 64 steps, batch 32, time-major, a linear
read-out and cross-entropy over all T*N next-character predictions, SGD with momentum 0.9.
PyTorch's model gets lucidnn's weights by name, the first-step losses must agree, and after
warm-up, rounds alternate between the libraries and the medians are printed as samples/s with
the median per-round ratio (above 1:
lucidnn is faster). Both libraries run on 2 threads (NumPy's BLAS through threadpoolctl).

lucidnn's recurrent layer is ``nn.LSTM``/``nn.GRU``/``nn.RNN`` when the package has them;
otherwise a minimal module in this file holds PyTorch-named parameters and calls
``F.lstm_sequence``/``F.gru_sequence``/``F.rnn_sequence`` (the same fused Functions).

Run: ``.venv/bin/python benchmarks/bench_rnn.py [--cells lstm gru rnn]``.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from common import compare, timing_arguments, training_step  # benchmarks/common.py (the script's folder is on sys.path)

import lucidnn
from lucidnn import functional as F
from lucidnn import nn, optim

VOCAB, EMBED, HIDDEN, SEQ, BATCH = 65, 64, 256, 64, 32
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


class _FusedLayer(nn.Module):
    """One recurrent layer on the fused functions, parameters named as in PyTorch (fallback only)."""

    def __init__(self, kind: str, input_size: int, hidden_size: int, rng: lucidnn.Generator) -> None:
        super().__init__()
        self.kind, self.hidden_size = kind, hidden_size
        rows = GATES[kind] * hidden_size
        bound = 1.0 / math.sqrt(hidden_size)
        for name, shape in (("weight_ih_l0", (rows, input_size)), ("weight_hh_l0", (rows, hidden_size)),
                            ("bias_ih_l0", (rows,)), ("bias_hh_l0", (rows,))):
            p = nn.Parameter(lucidnn.zeros(*shape))
            nn.init.uniform_(p, -bound, bound, rng=rng)
            setattr(self, name, p)

    def forward(self, x):
        h0 = lucidnn.zeros(x.shape[1], self.hidden_size)
        params = (self.weight_ih_l0, self.weight_hh_l0, self.bias_ih_l0, self.bias_hh_l0)
        if self.kind == "lstm":
            return F.lstm_sequence(x, h0, lucidnn.zeros(x.shape[1], self.hidden_size), *params)[0]
        if self.kind == "gru":
            return F.gru_sequence(x, h0, *params)[0]
        return F.rnn_sequence(x, h0, *params)[0]


def recurrent_layer(kind: str, rng: lucidnn.Generator) -> tuple[nn.Module, str]:
    """lucidnn's module for ``kind`` and a note of which implementation it is."""
    cls = getattr(nn, kind.upper(), None)
    if cls is None:
        return _FusedLayer(kind, EMBED, HIDDEN, rng), "fallback module on F.*_sequence"
    return cls(EMBED, HIDDEN, rng=rng), f"nn.{kind.upper()}"


class CharLM(nn.Module):
    def __init__(self, kind: str, rng: lucidnn.Generator) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMBED, rng=rng)
        self.rnn, self.note = recurrent_layer(kind, rng)
        self.fc = nn.Linear(HIDDEN, VOCAB, rng=rng)

    def forward(self, tokens):
        y = self.rnn(self.emb(tokens))
        if isinstance(y, tuple):  # nn.LSTM/GRU/RNN return (output, state)
            y = y[0]
        return self.fc(y.reshape(-1, HIDDEN))


def torch_char_lm(torch, kind: str):
    tnn = torch.nn
    layer = {"lstm": tnn.LSTM, "gru": tnn.GRU, "rnn": tnn.RNN}[kind]

    class TorchCharLM(tnn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.rnn, self.fc = tnn.Embedding(VOCAB, EMBED), layer(EMBED, HIDDEN), tnn.Linear(HIDDEN, VOCAB)

        def forward(self, tokens):
            return self.fc(self.rnn(self.emb(tokens))[0].reshape(-1, HIDDEN))

    return TorchCharLM()


def step_fns(torch, ours, theirs, tokens, targets, lr=0.1):
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    opt_ours = optim.SGD(ours.parameters(), lr=lr, momentum=0.9)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=lr, momentum=0.9)
    loss_ours, loss_theirs = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    tx, ty = lucidnn.tensor(tokens), lucidnn.tensor(targets.reshape(-1))
    px, py = torch.from_numpy(tokens), torch.from_numpy(targets.reshape(-1))

    return (training_step(ours, loss_ours, opt_ours, tx, ty),
            training_step(theirs, loss_theirs, opt_theirs, px, py))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn"], choices=sorted(GATES))
    timing_arguments(parser, steps=5)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCAB, (SEQ, BATCH))  # time-major, as both layers default to
    targets = np.roll(tokens, -1, axis=0)
    for kind in args.cells:
        ours, theirs = CharLM(kind, lucidnn.Generator(0)), torch_char_lm(torch, kind)
        ours_step, theirs_step = step_fns(torch, ours, theirs, tokens, targets)
        compare(f"char-{kind.upper()}, T {SEQ}, batch {BATCH}, H {HIDDEN}", BATCH, ours_step, theirs_step,
                steps=args.steps, rounds=args.rounds, threads=args.threads, rtol=1e-4, note=ours.note)

if __name__ == "__main__":
    main()
