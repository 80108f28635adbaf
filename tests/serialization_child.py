"""Child process for the kill-during-save test (R14): save two ~5 MB states to one path, forever.

Run as ``python tests/serialization_child.py PATH``. It prints ``ready`` once the first save is
complete, then alternates between the two states until the parent SIGKILLs it.
"""

import sys

import numpy as np


def make_states() -> tuple[dict, dict]:
    """The two states the child alternates between; each is recognisable in full."""
    states = []
    for step in (1, 2):
        states.append({
            "model": {"w": np.full(1_250_000, float(step), dtype=np.float32),
                      "b": np.arange(1000, dtype=np.int64) * step},
            "optimizer": {"state": {0: {"step": step}}, "lr": 0.1 * step},
        })
    return states[0], states[1]


def main(path: str) -> None:
    from lucidnn.serialization import save

    a, b = make_states()
    save(a, path)
    print("ready", flush=True)
    while True:
        save(b, path)
        save(a, path)


if __name__ == "__main__":
    main(sys.argv[1])
