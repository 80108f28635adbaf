"""DataLoader: coverage of each epoch, seeded shuffling, batching paths, argument errors, exact resume."""

import json

import numpy as np
import pytest

import lucidnn
from lucidnn.data import DataLoader, Dataset, TensorDataset
from lucidnn.data.transforms import Compose, RandomCrop, RandomHorizontalFlip


class Records(Dataset):
    """A per-sample dataset whose samples are dicts."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full(3, i, np.float32), "meta": (i, float(i) / 2)}


class NoItemAccess(TensorDataset):
    """A TensorDataset that fails if the loader ever fetches one sample at a time."""

    getitems_calls = 0

    def __getitem__(self, index):
        raise AssertionError("the loader used __getitem__ instead of the vectorised __getitems__")

    def __getitems__(self, indices):
        type(self).getitems_calls += 1
        return super().__getitems__(indices)


def _dataset(n=23):
    x = np.arange(n * 4, dtype=np.float32).reshape(n, 1, 2, 2)
    return TensorDataset(x, np.arange(n))


def _labels(loader):
    return [int(v) for _, y in loader for v in y.tolist()]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("batch_size, drop_last, batches", [(1, False, 23), (5, False, 5), (5, True, 4),
                                                            (23, True, 1), (40, False, 1)])
def test_each_epoch_covers_every_index_once(shuffle, batch_size, drop_last, batches):
    loader = DataLoader(_dataset(), batch_size, shuffle=shuffle, drop_last=drop_last, rng=lucidnn.Generator(1))
    assert len(loader) == batches
    for _ in range(2):
        seen = _labels(loader)
        sizes = [len(y) for _, y in loader]
        assert len(sizes) == batches and all(s == batch_size for s in sizes[:-1])
        if drop_last:
            assert len(seen) == batches * batch_size and len(set(seen)) == len(seen)
        else:
            assert sorted(seen) == list(range(23))
        if not shuffle:
            assert seen == sorted(seen)


def test_batches_are_tensors_with_the_data_dtypes():
    xb, yb = next(iter(DataLoader(_dataset(), 4)))
    assert isinstance(xb, lucidnn.Tensor) and xb.shape == (4, 1, 2, 2) and xb.dtype == np.float32
    assert yb.dtype == np.int64 and not xb.requires_grad
    ds = TensorDataset(np.zeros((3, 2)), np.array([1, 2, 3], np.int32))
    xb, yb = next(iter(DataLoader(ds, 3)))
    assert xb.dtype == np.float64 and yb.dtype == np.int64


def test_shuffle_is_reproducible_with_a_seed_and_changes_between_epochs():
    def orders(seed):
        loader = DataLoader(_dataset(), 4, shuffle=True, rng=lucidnn.Generator(seed))
        return [_labels(loader) for _ in range(2)]

    a, b, c = orders(7), orders(7), orders(8)
    assert a == b
    assert a != c
    assert a[0] != a[1]


def test_default_generator_is_seeded_by_manual_seed():
    def first_epoch():
        lucidnn.manual_seed(123)
        return _labels(DataLoader(_dataset(), 4, shuffle=True))

    assert first_epoch() == first_epoch()


def test_vectorised_path_fetches_a_batch_in_one_call():
    NoItemAccess.getitems_calls = 0
    x, y = np.arange(10, dtype=np.float32), np.arange(10)
    loader = DataLoader(NoItemAccess(x, y), 3, shuffle=True, rng=lucidnn.Generator(0))
    assert sorted(_labels(loader)) == list(range(10))
    assert NoItemAccess.getitems_calls == len(loader) == 4


def test_per_sample_path_collates_dicts_and_tuples():
    batches = list(DataLoader(Records(), 2))
    assert len(batches) == 3
    first = batches[0]
    assert first["x"].shape == (2, 3) and first["x"].dtype == np.float32
    ids, halves = first["meta"]
    assert ids.tolist() == [0, 1] and ids.dtype == np.int64
    assert halves.tolist() == [0.0, 0.5] and halves.dtype == np.float32
    assert batches[-1]["x"].shape == (1, 3)


def test_custom_collate_fn_receives_the_list_of_samples():
    loader = DataLoader(Records(), 2, collate_fn=lambda samples: [s["meta"][0] for s in samples])
    assert list(loader) == [[0, 1], [2, 3], [4]]


def test_transform_applies_to_the_inputs_of_each_batch():
    loader = DataLoader(_dataset(6), 3, transform=lambda x: -x)
    xb, yb = next(iter(loader))
    np.testing.assert_array_equal(xb.numpy(), -np.arange(12, dtype=np.float32).reshape(3, 1, 2, 2))
    assert yb.tolist() == [0, 1, 2]


@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"dataset": TensorDataset(np.zeros((0, 2)))}, ValueError, "dataset is empty"),
    ({"batch_size": 0}, ValueError, "batch_size must be a positive integer, got batch_size=0"),
    ({"batch_size": -3}, ValueError, "got batch_size=-3"),
    ({"batch_size": 2.5}, TypeError, r"batch_size must be an int, got float \(2.5\)"),
    ({"batch_size": 30, "drop_last": True}, ValueError, "leaves no batch"),
    ({"collate_fn": list, "transform": abs}, ValueError, "not both"),
    ({"dataset": object()}, TypeError, "has no __len__"),
])
def test_argument_errors(kwargs, error, pattern):
    args = {"dataset": _dataset(), "batch_size": 4, **kwargs}
    with pytest.raises(error, match=pattern):
        DataLoader(**args)


def test_leaving_an_epoch_early_then_iterating_starts_a_new_epoch():
    loader = DataLoader(_dataset(), 5, shuffle=True, rng=lucidnn.Generator(0))
    it = iter(loader)
    next(it)
    assert sorted(_labels(loader)) == list(range(23))
    with pytest.raises(RuntimeError, match="superseded"):
        next(it)


# ------------------------------------------------------------------ exact resume


def _augmenting_loader(seed):
    transform = Compose([RandomCrop(2, padding=1, rng=lucidnn.Generator(seed + 1)),
                         RandomHorizontalFlip(rng=lucidnn.Generator(seed + 2))])
    return DataLoader(_dataset(), 4, shuffle=True, rng=lucidnn.Generator(seed), transform=transform)


def _as_bytes(batch):
    return tuple(t.numpy().tobytes() for t in batch)


@pytest.mark.parametrize("stop_after", [0, 1, 3, 6, 12, 13])  # batches consumed before the checkpoint (6/epoch)
def test_state_dict_resume_matches_an_uninterrupted_run(stop_after):
    uninterrupted = _augmenting_loader(5)
    reference = [_as_bytes(b) for _ in range(3) for b in uninterrupted]

    loader = _augmenting_loader(5)
    produced = []
    epoch_iter = iter(loader)
    while len(produced) < stop_after:
        try:
            produced.append(_as_bytes(next(epoch_iter)))
        except StopIteration:
            epoch_iter = iter(loader)
    state = json.loads(json.dumps(loader.state_dict()))  # must survive JSON

    resumed = _augmenting_loader(99)  # different seeds: everything must come from the state
    resumed.load_state_dict(state)
    for _ in range(3 - stop_after // len(loader)):  # the first pass finishes an interrupted epoch
        produced.extend(_as_bytes(b) for b in resumed)
    assert len(produced) == len(reference)
    assert produced == reference


def test_resume_from_a_state_taken_at_the_end_of_an_epoch():
    uninterrupted = _augmenting_loader(3)
    reference = [_as_bytes(b) for _ in range(2) for b in uninterrupted]
    loader = _augmenting_loader(3)
    produced = []
    for k, batch in enumerate(loader):
        produced.append(_as_bytes(batch))
        if k == len(loader) - 1:
            state = loader.state_dict()  # after the last batch, before StopIteration
    resumed = _augmenting_loader(0)
    resumed.load_state_dict(state)
    produced.extend(_as_bytes(b) for b in resumed)
    assert produced == reference


def test_load_state_dict_rejects_a_state_of_another_loader():
    state = DataLoader(_dataset(23), 4, shuffle=True, rng=lucidnn.Generator(0)).state_dict()
    with pytest.raises(ValueError, match="23 samples"):
        DataLoader(_dataset(20), 4, shuffle=True).load_state_dict(state)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_dataset(23), 5, shuffle=True).load_state_dict(state)
    broken = dict(state, order=[0, 0, 1], in_epoch=True)
    with pytest.raises(ValueError, match="not a permutation"):
        DataLoader(_dataset(23), 4, shuffle=True).load_state_dict(broken)
    with pytest.raises(ValueError, match="malformed"):
        DataLoader(_dataset(23), 4, shuffle=True).load_state_dict({"version": 1, "batch_size": 4})
    with pytest.raises(ValueError, match="expected a state of version 1, found None"):
        DataLoader(_dataset(23), 4).load_state_dict({})
