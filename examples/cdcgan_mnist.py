"""Does the conditional DCGAN draw the digit it is asked for? Score its samples with a LeNet-5 trained on MNIST.

For each digit k the generator draws ``--n`` images with label k (fresh noise, batch norm in
evaluation mode); a classifier trained on real MNIST labels them, and the script reports, per
digit and overall, the share classified as k. It also writes a grid with one row per digit.

Train the two models first (outputs under runs/, which git ignores)::

    lucidnn train lenet5 --data mnist:../shared/data/mnist --epochs 3 --optimizer adam --lr 0.001 \
        --out runs/lenet5-mnist
    lucidnn train cdcgan --data mnist:../shared/data/mnist --epochs 5 --batch-size 64 --width 32 \
        --out runs/cdcgan-mnist

then::

    python examples/cdcgan_mnist.py --gan runs/cdcgan-mnist --classifier runs/lenet5-mnist

A well-trained conditional generator scores at or above 90%; an unconditioned one would score
about 10% (chance).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import lucidnn
from lucidnn.cli.commands import load_model
from lucidnn.cli.gan import load_gan
from lucidnn.train import predict
from lucidnn.train.gan import save_image_grid, to_unit_range


def label_accuracy(gan, classifier, n_per_class: int, *, seed: int = 0, batch: int = 500) -> dict:
    """Per-class and overall share of the generator's samples that ``classifier`` assigns to the requested class.

    Returns ``{"per_class": [rate_0, ...], "overall": rate, "confusion": K x K counts (row: requested,
    column: predicted), "n_per_class": n}``.
    """
    if not gan.conditional:
        raise ValueError("label_accuracy: the GAN is unconditional; give a `lucidnn train cdcgan` checkpoint")
    k = gan.num_classes
    rng = lucidnn.Generator(seed)
    confusion = np.zeros((k, k), dtype=np.int64)
    for label in range(k):
        done = 0
        while done < n_per_class:
            size = min(batch, n_per_class - done)
            images = to_unit_range(gan.sample(size, label, rng=rng))  # (size, 1, 28, 28) in [0, 1]
            predicted = predict(classifier, images).numpy().argmax(axis=1)
            confusion[label] += np.bincount(predicted, minlength=k)[:k]
            done += size
    per_class = (np.diag(confusion) / n_per_class).tolist()
    return {"per_class": per_class, "overall": float(np.trace(confusion) / confusion.sum()),
            "confusion": confusion.tolist(), "n_per_class": n_per_class}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--gan", required=True, help="a `lucidnn train cdcgan` run directory or checkpoint")
    parser.add_argument("--classifier", required=True,
                        help="a classifier run directory or checkpoint (e.g. `lucidnn train lenet5` on MNIST)")
    parser.add_argument("--n", type=int, default=100, help="samples per digit (100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise (0)")
    parser.add_argument("--grid", default=None,
                        help="PNG of 10 samples per digit, one row each (default: eval_grid.png beside the GAN)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be a positive integer, got {args.n}")

    gan, config, file = load_gan(args.gan)
    classifier, classifier_config = load_model(args.classifier)
    if tuple(classifier_config.get("input_shape") or ()) not in ((), tuple(gan.image_shape)):
        raise ValueError(f"the classifier takes {classifier_config['input_shape']} images, the GAN draws "
                         f"{list(gan.image_shape)}")
    result = label_accuracy(gan, classifier, args.n, seed=args.seed)
    result.update(gan=str(file), classifier=str(args.classifier), gan_config=config)

    print(f"{file}: {args.n} samples per digit, classified by {classifier_config.get('model')} "
          f"({args.classifier})")
    print("digit  " + " ".join(f"{k:>6}" for k in range(gan.num_classes)) + "   overall")
    print("rate   " + " ".join(f"{r:6.1%}" for r in result["per_class"]) + f"   {result['overall']:.1%}")

    rows = 10
    z = gan.noise(rows, rng=lucidnn.Generator(args.seed + 1))
    z = lucidnn.Tensor(np.tile(z.numpy(), (gan.num_classes, 1)))
    grid = gan.generate(z, np.repeat(np.arange(gan.num_classes), rows))
    path = save_image_grid(to_unit_range(grid), Path(args.grid) if args.grid else file.parent / "eval_grid.png", rows)
    print(f"wrote {path}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    try:
        main()
    except (ValueError, OSError, lucidnn.LucidError) as exc:
        sys.exit(f"cdcgan_mnist.py: error: {exc}")
