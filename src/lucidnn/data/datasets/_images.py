"""The shared sample access of the image data sets: uint8 pixels in, float32 in [0, 1] out."""

from __future__ import annotations

from typing import Any

from lucidnn import backend
from lucidnn.data._util import as_index, as_indices
from lucidnn.data.dataset import Dataset

np = backend.numpy


class ImageDataset(Dataset):
    """A data set of grey images held as ``self.images`` (N, H, W) uint8 and ``self.labels`` (N,) int64.

    ``dataset[i]`` gives ``(image (1, H, W) float32 = pixel / pixel_max, label)``; a batch of
    indices is served in one vectorised step. ``transform`` and ``target_transform``, when
    set, receive one sample or a whole batch.
    """

    images: Any
    labels: Any
    transform: Any = None
    target_transform: Any = None
    #: the pixel value that maps to 1.0
    pixel_max: int = 255

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def _scaled(self, pixels: Any) -> Any:
        return pixels.astype(np.float32) / np.float32(self.pixel_max)

    def _finish(self, image: Any, label: Any) -> tuple:
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def __getitem__(self, index: int) -> tuple:
        i = as_index(index, len(self), type(self).__name__)
        return self._finish(self._scaled(self.images[i])[None], self.labels[i])  # (1, H, W)

    def __getitems__(self, indices: Any) -> tuple:
        idx = as_indices(indices, len(self), type(self).__name__)
        return self._finish(self._scaled(self.images[idx])[:, None], self.labels[idx])  # (N, 1, H, W)
