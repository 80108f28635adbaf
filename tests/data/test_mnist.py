"""MNIST from the shared data folder, Fashion-MNIST from a synthetic folder, and the checks on malformed files."""

import numpy as np
import pytest

from lucidnn.data import MNIST, DataFormatError, DataLoader, FashionMNIST, MissingDataError, write_idx

README_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture(scope="module")
def mnist_train(mnist_dir):
    return MNIST(mnist_dir, train=True)


def test_real_mnist_train(mnist_train):
    assert len(mnist_train) == 60000
    assert mnist_train.images.shape == (60000, 28, 28) and mnist_train.images.dtype == np.uint8
    assert mnist_train.labels.dtype == np.int64
    assert np.bincount(mnist_train.labels, minlength=10).tolist() == README_TRAIN_COUNTS


def test_real_mnist_test(mnist_dir):
    test = MNIST(mnist_dir, train=False)
    assert len(test) == 10000 and test.images.shape == (10000, 28, 28)
    assert np.bincount(test.labels).sum() == 10000


def test_samples_are_float_images_in_unit_range_and_int64_labels(mnist_train):
    image, label = mnist_train[0]
    assert image.shape == (1, 28, 28) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.max() == 1.0
    np.testing.assert_array_equal(image[0] * 255, mnist_train.images[0])
    assert label.dtype == np.int64 and label == mnist_train.labels[0]
    images, labels = mnist_train.__getitems__(np.array([5, 0, 59999]))
    assert images.shape == (3, 1, 28, 28) and images.dtype == np.float32
    np.testing.assert_array_equal(images[1], image)
    np.testing.assert_array_equal(labels, mnist_train.labels[[5, 0, 59999]])


def test_loader_over_mnist_yields_batches(mnist_train):
    xb, yb = next(iter(DataLoader(mnist_train, 128)))
    assert xb.shape == (128, 1, 28, 28) and xb.dtype == np.float32
    assert yb.shape == (128,) and yb.dtype == np.int64


# ------------------------------------------------------------------ synthetic folders


def _write_split(folder, prefix, images, labels, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)


def _images(n=5):
    return np.arange(n * 28 * 28, dtype=np.int64).reshape(n, 28, 28).astype(np.uint8)


def test_fashion_mnist_from_a_synthetic_folder(tmp_path):
    labels = np.array([0, 9, 3, 3, 1], np.uint8)
    _write_split(tmp_path, "train", _images(), labels, gz=False)
    _write_split(tmp_path, "t10k", _images(2), labels[:2])
    train, test = FashionMNIST(tmp_path), FashionMNIST(tmp_path, train=False)
    assert len(train) == 5 and len(test) == 2
    assert train.classes[9] == "Ankle boot" and len(train.classes) == 10
    np.testing.assert_array_equal(train.labels, labels)
    np.testing.assert_array_equal(train.images, _images())


def test_torchvision_layout_is_found(tmp_path):
    _write_split(tmp_path / "FashionMNIST" / "raw", "train", _images(), np.zeros(5, np.uint8))
    assert len(FashionMNIST(tmp_path)) == 5


def test_transforms_receive_samples_and_batches(tmp_path):
    _write_split(tmp_path, "train", _images(), np.arange(5, dtype=np.uint8))
    shapes = []
    ds = MNIST(tmp_path, transform=lambda x: shapes.append(x.shape) or x, target_transform=lambda y: y + 1)
    assert ds[0][1] == 1
    assert ds.__getitems__([0, 1])[1].tolist() == [1, 2]
    assert shapes == [(1, 28, 28), (2, 1, 28, 28)]


def test_missing_file_lists_the_directory(tmp_path):
    _write_split(tmp_path, "t10k", _images(2), np.zeros(2, np.uint8))
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(MissingDataError, match=r"MNIST: missing train-images-idx3-ubyte \(or train-images-idx3-ubyte"
                                               r"\.gz\) in .*; it holds: notes.txt, t10k-images-idx3-ubyte.gz, "
                                               r"t10k-labels-idx1-ubyte.gz"):
        MNIST(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingDataError, match="it is empty"):
        MNIST(tmp_path / "empty")
    with pytest.raises(MissingDataError, match="does not exist; lucidnn never downloads"):
        MNIST(tmp_path / "absent")


@pytest.mark.parametrize("case, pattern", [
    ("images are labels", r"train-images-idx3-ubyte.gz: bad magic 0x00000801: expected 3 dimensions for image data"),
    ("labels are images", r"train-labels-idx1-ubyte.gz: bad magic 0x00000803: expected 1 dimensions for label data"),
    ("count mismatch", r"train-labels-idx1-ubyte.gz: expected 5 labels \(one per image in "
                       r"train-images-idx3-ubyte.gz\), found 4"),
    ("label 10", r"train-labels-idx1-ubyte.gz: labels must be in 0-9, found 2 outside, the first at index 1 "
                 r"\(value 10\)"),
    ("wrong image size", r"expected images of 28 x 28 pixels, found 28 x 27"),
    ("float images", r"images must be unsigned bytes \(type 0x08\), found float32"),
    ("signed labels", r"labels must be unsigned bytes \(type 0x08\), found int8"),
])
def test_malformed_mnist_folders(tmp_path, case, pattern):
    images, labels = _images(), np.array([1, 2, 3, 4, 5], np.uint8)
    if case == "images are labels":
        images = labels
    elif case == "labels are images":
        labels = images
    elif case == "count mismatch":
        labels = labels[:4]
    elif case == "label 10":
        labels = np.array([1, 10, 3, 200, 5], np.uint8)
    elif case == "wrong image size":
        images = images[:, :, :27]
    elif case == "float images":
        images = images.astype(np.float32)
    elif case == "signed labels":
        labels = labels.astype(np.int8)
    _write_split(tmp_path, "train", images, labels)
    with pytest.raises(DataFormatError, match=pattern):
        MNIST(tmp_path)
