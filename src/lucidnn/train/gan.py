r"""Adversarial training of a :class:`~lucidnn.models.gan.GAN`: alternating discriminator and generator updates.

Each batch of real images x (rescaled from [0, 1] to [-1, 1]) with labels y takes two steps,
both networks in training mode. With fresh noise z (and, for a conditional GAN, labels
:math:`\tilde y` drawn uniformly) the fakes are :math:`\tilde x = G(z, \tilde y)`; then

1. the discriminator step minimises
   :math:`L_D = \mathrm{BCE}(D(x, y), 1) + \mathrm{BCE}(D(\tilde x, \tilde y), 0)`
   over D's parameters only, with the fakes detached so no gradient reaches G;
2. the generator step minimises the non-saturating loss
   :math:`L_G = \mathrm{BCE}(D(\tilde x, \tilde y), 1) = -\overline{\log \sigma(D(\tilde x, \tilde y))}`
   over G's parameters only, through the just-updated D whose parameters are frozen for the
   step (no gradient is computed for them, and G's optimizer never sees them).

Each network has its own Adam (lr 2e-4, betas (0.5, 0.999) by default, as the DCGAN paper).
Per epoch the trainer records the mean losses and the discriminator's mean outputs
:math:`\overline{\sigma(D(x))}` and :math:`\overline{\sigma(D(G(z)))}`; :meth:`GANTrainer.fit`
also writes a PNG grid of samples from a fixed noise batch (one row per class for a
conditional GAN), ``metrics.json`` and a resumable checkpoint after every epoch.

Reference: Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014 (algorithm 1 and the
non-saturating generator loss); Radford et al., "Unsupervised Representation Learning with Deep
Convolutional GANs", ICLR 2016.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lucidnn import backend
from lucidnn import functional as F
from lucidnn.autograd.tensor import Tensor
from lucidnn.data.collate import fetch_batch
from lucidnn.errors import NonFiniteError, ShapeError
from lucidnn.optim import Adam

np = backend.numpy

#: the per-step figures averaged over an epoch
STEP_METRICS = ("d_loss", "g_loss", "d_real", "d_fake", "d_fake_after")


# --------------------------------------------------------------------------- image grids


def image_grid(images: Any, nrow: int, *, padding: int = 2) -> Any:
    """Tile (N, C, H, W) images with values in [0, 1] into one picture, ``nrow`` images per row.

    Returns a float array (rows*(H+p)+p, nrow*(W+p)+p) for grey images, with a trailing axis
    of 3 for RGB; the gaps are 0.5 grey and missing tiles stay grey.
    """
    x = backend.to_numpy(images.data if isinstance(images, Tensor) else images)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ShapeError(f"image_grid: expected images of shape (N, 1 or 3, H, W), got {x.shape}")
    n, c, h, w = x.shape
    cols = max(1, min(nrow, n))
    rows = math.ceil(n / cols)
    grid = np.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), 0.5, dtype=np.float32)
    for i in range(n):  # a few dozen tiles; the copies are whole images
        top, left = padding + (i // cols) * (h + padding), padding + (i % cols) * (w + padding)
        grid[:, top:top + h, left:left + w] = np.clip(x[i], 0.0, 1.0)
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def pyplot() -> Any:
    """matplotlib's pyplot with the file-only Agg backend, or an ImportError saying how to install it."""
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        raise ImportError("writing sample grids (PNG) needs matplotlib: pip install lucidnn[plot]") from None
    return plt


def save_image_grid(images: Any, path: str | Path, nrow: int, *, scale: int = 2) -> Path:
    """Write (N, C, H, W) images with values in [0, 1] to ``path`` as one PNG grid; returns the path.

    Each pixel becomes a ``scale`` x ``scale`` block so that small digits stay visible.
    """
    plt = pyplot()
    grid = image_grid(images, nrow)
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, grid, cmap="gray", vmin=0.0, vmax=1.0)
    return path


def to_unit_range(images: Any) -> Any:
    """Generator output in [-1, 1] as a NumPy array in [0, 1] (for pictures and classifiers)."""
    x = backend.to_numpy(images.data if isinstance(images, Tensor) else images)
    return np.clip((x + 1) / 2, 0.0, 1.0).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- the trainer


def _check_positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"GANTrainer: {name} must be a positive int, got {value!r}")
    return int(value)


class GANTrainer:
    r"""Trains a GAN by alternating one discriminator and one generator Adam step per batch.

    Args:
        gan: a :class:`~lucidnn.models.gan.GAN` (or any module with ``generator``,
            ``discriminator``, ``noise(n, rng=)``, ``num_classes`` and ``z_dim``).
        lr: Adam's learning rate for both networks (2e-4).
        betas: Adam's (beta1, beta2) ((0.5, 0.999)).
        seed: seeds the noise and fake labels (``Generator(seed)``), the order of the training
            samples (``seed + 1``) and the fixed noise of the sample grids (``seed + 2``) (0).

    Attributes:
        opt_g, opt_d: the two optimizers, over ``gan.generator`` and ``gan.discriminator``.
        epoch, step: epochs and updates done (each update is one D and one G step).
        history: one dict per epoch: the means of :data:`STEP_METRICS`, ``steps`` and ``wall_time_s``.

    Example::

        gan = get_model("cdcgan", width=32)
        trainer = GANTrainer(gan)
        trainer.fit(MNIST(root), epochs=5, batch_size=128, out="runs/cdcgan")
    """

    def __init__(self, gan: Any, *, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
                 seed: int = 0) -> None:
        if not (isinstance(lr, (int, float)) and lr > 0):
            raise ValueError(f"GANTrainer: lr must be a positive number, got {lr!r}")
        self.gan = gan
        self.seed = int(seed)
        self.opt_g = Adam(gan.generator.parameters(), lr=lr, betas=tuple(betas))
        self.opt_d = Adam(gan.discriminator.parameters(), lr=lr, betas=tuple(betas))
        self.noise_rng = backend.Generator(self.seed)
        self.data_rng = backend.Generator(self.seed + 1)
        self.epoch, self.step, self.wall_time = 0, 0, 0.0
        self.history: list[dict] = []

    @property
    def device(self) -> str:
        return next(self.gan.generator.parameters()).device

    # ------------------------------------------------------------------ one update

    def train_step(self, real: Any, labels: Any = None) -> dict[str, float]:
        """One discriminator step then one generator step on a batch of real images in [-1, 1].

        Args:
            real: (N, C, H, W) images scaled to [-1, 1] (a Tensor or an array).
            labels: (N,) ints, required by a conditional GAN, else None.

        Returns:
            ``d_loss``, ``g_loss``, ``d_real`` (mean sigma(D(x))), ``d_fake`` (mean
            sigma(D(G(z))) before D's step) and ``d_fake_after`` (the same after it, what G's
            step saw).

        Raises:
            NonFiniteError: a loss is NaN or infinite (the networks are not updated further).
        """
        gan, generator, discriminator = self.gan, self.gan.generator, self.gan.discriminator
        x = real if isinstance(real, Tensor) else Tensor(backend.to_device(real, self.device))
        n = x.shape[0]
        if n < 2:
            raise ShapeError(f"GANTrainer.train_step: batch norm needs at least 2 images per batch, got {n}")
        generator.train()
        discriminator.train()
        z = gan.noise(n, rng=self.noise_rng)
        fake_labels = self.noise_rng.integers(0, gan.num_classes, (n,)) if gan.num_classes else None
        xp = backend.get_array_module(x.data)
        ones, zeros = Tensor(xp.ones(n, dtype=x.dtype)), Tensor(xp.zeros(n, dtype=x.dtype))

        fake = generator(z, fake_labels)  # its graph is kept for the generator step
        real_logits = discriminator(x, labels)
        fake_logits = discriminator(fake.detach(), fake_labels)
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, ones)
                  + F.binary_cross_entropy_with_logits(fake_logits, zeros))
        self._check_finite(d_loss, "discriminator")
        self.opt_d.zero_grad()
        d_loss.backward()
        self.opt_d.step()
        self.opt_d.zero_grad()  # no stale D gradient outlives its step

        frozen = [(p, p.requires_grad) for p in discriminator.parameters()]
        for p, _ in frozen:
            p.requires_grad = False  # G's step needs D's input gradient only
        try:
            after_logits = discriminator(fake, fake_labels)
            g_loss = F.binary_cross_entropy_with_logits(after_logits, ones)
            self._check_finite(g_loss, "generator")
            self.opt_g.zero_grad()
            g_loss.backward()
            self.opt_g.step()
            self.opt_g.zero_grad()
        finally:
            for p, flag in frozen:
                p.requires_grad = flag
        self.step += 1
        return {"d_loss": float(d_loss.item()), "g_loss": float(g_loss.item()),
                "d_real": _mean_probability(real_logits), "d_fake": _mean_probability(fake_logits),
                "d_fake_after": _mean_probability(after_logits)}

    def _check_finite(self, loss: Tensor, which: str) -> None:
        value = float(loss.item())
        if not math.isfinite(value):
            raise NonFiniteError(f"GAN training diverged: the {which} loss is {value} at update {self.step + 1}; "
                                 "lower the learning rate or resume from an earlier checkpoint")

    # ------------------------------------------------------------------ epochs

    def train_epoch(self, dataset: Any, batch_size: int = 128, *, max_steps: int | None = None,
                    progress: bool = False) -> dict[str, float]:
        """One pass over ``dataset`` in a fresh random order (the last partial batch dropped).

        Args:
            dataset: a map-style data set of (image (C, H, W) in [0, 1], label) pairs, such as
                :class:`~lucidnn.data.datasets.MNIST`; a vectorised ``__getitems__`` is used when present.
            batch_size: images per update (128); at least 2 (batch norm).
            max_steps: stop after this many updates (None: the whole pass).
            progress: show a tqdm progress bar.

        Returns:
            The epoch's record (also appended to :attr:`history`).
        """
        batch_size = _check_positive(batch_size, "batch_size")
        n = len(dataset)
        if n < 2:
            raise ValueError(f"GANTrainer: the data set has {n} sample(s); adversarial training needs at least 2")
        batch_size = min(batch_size, n)
        steps = n // batch_size
        if max_steps is not None:
            steps = min(steps, _check_positive(max_steps, "max_steps"))
        order = self.data_rng.permutation(n)
        start = time.perf_counter()
        sums = dict.fromkeys(STEP_METRICS, 0.0)
        bar = range(steps)
        if progress:
            from tqdm.auto import tqdm  # noqa: PLC0415

            bar = tqdm(bar, desc=f"epoch {self.epoch + 1}", leave=False, unit="batch")
        for k in bar:
            images, labels = fetch_batch(dataset, order[k * batch_size:(k + 1) * batch_size])[:2]
            real = backend.to_device(np.asarray(images, dtype=np.float32) * 2 - 1, self.device)
            figures = self.train_step(real, labels if self.gan.num_classes else None)
            for key in STEP_METRICS:
                sums[key] += figures[key]
            if progress:
                bar.set_postfix(d=f"{figures['d_loss']:.3f}", g=f"{figures['g_loss']:.3f}", refresh=False)
        wall = time.perf_counter() - start
        self.epoch += 1
        self.wall_time += wall
        record = {"epoch": self.epoch, **{key: sums[key] / steps for key in STEP_METRICS},
                  "steps": steps, "wall_time_s": wall}
        self.history.append(record)
        return record

    def grid_samples(self, per_class: int = 10, count: int = 64) -> tuple[Tensor, int]:
        """The sample grid's images from the fixed noise batch, and the images per row.

        A conditional GAN gives one row per class (class k in row k), the same ``per_class``
        noise vectors across rows so that a column keeps its style; an unconditional one gives
        ``count`` images in rows of 8.
        """
        rng = backend.Generator(self.seed + 2)
        k = self.gan.num_classes
        if k:
            z = self.gan.noise(per_class, rng=rng)
            z = Tensor(backend.get_array_module(z.data).tile(z.data, (k, 1)))  # row r, column j: z_j
            labels = np.repeat(np.arange(k), per_class)
            return self.gan.generate(z, labels), per_class
        return self.gan.generate(self.gan.noise(count, rng=rng)), 8

    def fit(self, dataset: Any, epochs: int, *, batch_size: int = 128, out: str | Path | None = None,
            max_steps: int | None = None, progress: bool = False, config: dict | None = None,
            metadata: dict | None = None, log: Callable[[str], Any] | None = None) -> list[dict]:
        """Train until :attr:`epoch` reaches ``epochs``; with ``out``, save pictures, metrics and checkpoints.

        After every epoch, with ``out`` set: ``samples_epochNNN.png`` (the fixed-noise grid;
        needs matplotlib, checked before training starts), ``last.safetensors`` (a checkpoint
        that :meth:`load_checkpoint` resumes, holding ``config``) and ``metrics.json`` (the
        history, totals, ``config`` and ``metadata``).

        Args:
            dataset: as :meth:`train_epoch`.
            epochs: the total number of epochs (a resumed trainer continues up to it).
            batch_size, max_steps, progress: as :meth:`train_epoch`.
            out: the output directory (None: nothing is written).
            config: the run's settings, stored in the checkpoint and metrics (JSON-able).
            metadata: extra JSON-able entries for ``metrics.json`` (e.g. the command line).
            log: called with one line per epoch (e.g. ``print``); None is silent.

        Returns:
            :attr:`history`.
        """
        from lucidnn.train.callbacks import write_json_atomic  # noqa: PLC0415

        out = Path(out) if out is not None else None
        if out is not None:
            pyplot()  # fail before training, not after the first epoch
        while self.epoch < epochs:
            record = self.train_epoch(dataset, batch_size, max_steps=max_steps, progress=progress)
            line = (f"epoch {self.epoch}/{epochs}: D loss {record['d_loss']:.4f}, G loss {record['g_loss']:.4f}, "
                    f"D(x) {record['d_real']:.3f}, D(G(z)) {record['d_fake']:.3f} -> {record['d_fake_after']:.3f}, "
                    f"{record['steps']} updates, {record['wall_time_s']:.1f} s")
            if out is not None:
                images, per_row = self.grid_samples()
                grid = save_image_grid(to_unit_range(images), out / f"samples_epoch{self.epoch:03d}.png", per_row)
                record["samples"] = grid.name
                self.save_checkpoint(out / "last.safetensors", config)
                write_json_atomic(out / "metrics.json", {
                    "epochs": self.history, "total_epochs": self.epoch, "total_steps": self.step,
                    "total_wall_time_s": self.wall_time, "config": dict(config or {}), **(metadata or {})})
                line += f"; wrote {grid}"
            if log is not None:
                log(line)
        return self.history

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict:
        """Both optimizers, both random generators, the epoch/step counters and the history."""
        return {"epoch": self.epoch, "step": self.step, "wall_time_s": self.wall_time, "seed": self.seed,
                "history": list(self.history), "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "noise_rng": self.noise_rng.state_dict(), "data_rng": self.data_rng.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict`."""
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.noise_rng.load_state_dict(state["noise_rng"])
        self.data_rng.load_state_dict(state["data_rng"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.wall_time, self.seed = float(state["wall_time_s"]), int(state["seed"])
        self.history = [dict(h) for h in state["history"]]

    def save_checkpoint(self, path: str | Path, config: dict | None = None) -> None:
        """Write the GAN's weights and this trainer's state to ``path`` (atomically)."""
        from lucidnn.train.checkpoint import save_training_state  # noqa: PLC0415

        save_training_state(path, model=self.gan, trainer=self, config=config)

    def load_checkpoint(self, path: str | Path) -> dict:
        """Restore the GAN and this trainer from :meth:`save_checkpoint`'s file; returns its config."""
        from lucidnn.train.checkpoint import load_training_state  # noqa: PLC0415

        state = load_training_state(path, model=self.gan, trainer=self)
        return dict(state.get("config") or {})


def _mean_probability(logits: Tensor) -> float:
    """The mean of sigmoid(logits), computed stably on the raw array."""
    x = backend.to_numpy(logits.data).astype(np.float64)
    return float(np.mean(0.5 * (1.0 + np.tanh(0.5 * x))))
