"""Multi-Fashion's construction, on a few hundred composites of fake Fashion-MNIST items."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest

from tune_mtl.data import LOADERS, READS_FILES, fashion_mnist, multi_fashion
from tune_mtl.user_code import BUILTIN_DATA

ITEM = 28


def fake_items(count: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Items of 28x28 with no dark pixel, so that each item's square shows on the canvas."""
    rng = np.random.default_rng(seed)
    images = rng.integers(1, 256, size=(count, ITEM, ITEM)).astype(np.uint8)
    return images, np.arange(count) % 10


def write_idx(path: Path, array: np.ndarray) -> None:
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    with gzip.open(path, "wb") as stream:
        stream.write(header + array.tobytes())


@pytest.fixture
def idx_dir(tmp_path: Path) -> Path:
    """The four IDX files of a tiny fake Fashion-MNIST: 60 train and 30 test items."""
    folder = tmp_path / "idx"
    folder.mkdir()
    for split, count in (("train", 60), ("t10k", 30)):
        images, labels = fake_items(count, seed=count)
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)
    return folder


def test_each_item_sits_in_its_corner_shifted_at_most_four_pixels() -> None:
    images, labels = fake_items(100, seed=0)
    pairs = multi_fashion.draw_pairs(labels, 400, seed=1)
    blank = np.zeros((400, ITEM, ITEM), dtype=np.uint8)
    left_only = multi_fashion.place(images[pairs.left], blank, pairs)
    right_only = multi_fashion.place(blank, images[pairs.right], pairs)
    assert left_only.shape == (400, 36, 36)

    # Top-left item: its top-left pixel moved 0..4 right and down; bottom-right: its bottom-right
    # pixel moved 0..4 left and up from the canvas's corner. Every shift occurs.
    assert sorted(np.unique(pairs.left_offsets)) == [0, 1, 2, 3, 4]
    assert sorted(np.unique(pairs.right_offsets + ITEM)) == [32, 33, 34, 35, 36]
    for i in range(400):
        for canvas, offsets, source in (
            (left_only, pairs.left_offsets, images[pairs.left]),
            (right_only, pairs.right_offsets, images[pairs.right]),
        ):
            row, column = offsets[i]
            window = canvas[i, row : row + ITEM, column : column + ITEM]
            np.testing.assert_array_equal(window, source[i])  # placed whole, not resized
            assert canvas[i].astype(bool).sum() == ITEM * ITEM  # and nothing outside
    # So the top-left item never reaches the last 4 rows and columns, nor the other the first 4.
    assert not left_only[:, 32:, :].any() and not left_only[:, :, 32:].any()
    assert not right_only[:, :4, :].any() and not right_only[:, :, :4].any()
    assert left_only[:, 4:28, 4:28].all() and right_only[:, 8:32, 8:32].all()

    composites, tasks = multi_fashion.compose(images[..., None], labels, 400, seed=1)
    assert composites.shape == (400, 36, 36, 1) and composites.dtype == np.uint8
    np.testing.assert_array_equal(composites[..., 0], np.maximum(left_only, right_only))
    np.testing.assert_array_equal(tasks["left"], labels[pairs.left])
    np.testing.assert_array_equal(tasks["right"], labels[pairs.right])


def test_the_two_items_differ_in_class_and_every_item_is_a_left_one_as_often() -> None:
    images, labels = fake_items(90, seed=0)
    pairs = multi_fashion.draw_pairs(labels, 500, seed=2)
    assert (labels[pairs.left] != labels[pairs.right]).all()
    assert set(np.bincount(pairs.left, minlength=90)) == {5, 6}  # 500 = 5 passes over 90 + 50
    # Each other class is drawn for the right item, each of its images too.
    assert set(labels[pairs.right]) == set(range(10))
    assert len(np.unique(pairs.right)) > 80


def test_items_of_one_class_cannot_be_paired() -> None:
    with pytest.raises(ValueError, match="need 2 classes"):
        multi_fashion.draw_pairs(np.zeros(10, dtype=np.int64), 5)


def test_load_builds_the_tasks_deterministically_and_caches(
    idx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    dataset = multi_fashion.load(data_dir=idx_dir, train_size=300, test_size=120, cache=cache)
    assert dataset.name == "multi_fashion"
    assert dataset.task_names == ("left", "right")
    assert all(task.classes == fashion_mnist.ITEMS for task in dataset.tasks)
    assert dataset.train.inputs.shape == (300, 36, 36, 1)
    assert dataset.test.inputs.shape == (120, 36, 36, 1)
    assert dataset.train.inputs.dtype == np.uint8
    for split in (dataset.train, dataset.test):
        left, right = split.labels["left"], split.labels["right"]
        assert set(left) == set(right) == set(range(10))
        assert (left != right).all()
    (cached,) = cache.iterdir()  # one file, written whole: no temporary left behind
    assert cached.suffix == ".npz"

    # Built again elsewhere, the same seed gives the same composites.
    fresh = multi_fashion.load(
        data_dir=idx_dir, train_size=300, test_size=120, cache=tmp_path / "other"
    )
    for split in ("train", "test"):
        built, again = getattr(dataset, split), getattr(fresh, split)
        np.testing.assert_array_equal(built.inputs, again.inputs)
        for task in ("left", "right"):
            np.testing.assert_array_equal(built.labels[task], again.labels[task])

    # A cache hit does not read Fashion-MNIST at all.
    def unreadable(data_dir: Path | None = None) -> tuple[np.ndarray, ...]:
        raise AssertionError("the cached composites were built again")

    monkeypatch.setattr(fashion_mnist, "load_arrays", unreadable)
    hit = multi_fashion.load(data_dir=idx_dir, train_size=300, test_size=120, cache=cache)
    np.testing.assert_array_equal(hit.train.inputs, dataset.train.inputs)
    np.testing.assert_array_equal(hit.test.labels["right"], dataset.test.labels["right"])
    monkeypatch.undo()

    other_seed = multi_fashion.load(
        data_dir=idx_dir, seed=1, train_size=300, test_size=120, cache=cache
    )
    assert not np.array_equal(other_seed.train.inputs, dataset.train.inputs)
    assert len(list(cache.iterdir())) == 2


def test_validation_is_a_tenth_of_train(idx_dir: Path, tmp_path: Path) -> None:
    dataset = multi_fashion.load(data_dir=idx_dir, train_size=300, test_size=60, cache=tmp_path)
    carved = dataset.with_validation(fraction=0.1, seed=0)
    assert (len(carved.train), len(carved.val), len(carved.test)) == (270, 30, 60)


def test_a_cache_that_cannot_be_written_only_warns(idx_dir: Path, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = multi_fashion.load(
            data_dir=idx_dir, train_size=50, test_size=20, cache=not_a_folder
        )
    assert len(dataset.train) == 50
    assert any("TUNE_MTL_CACHE_DIR" in str(warning.message) for warning in caught)


def test_the_cache_folder_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNE_MTL_CACHE_DIR", str(tmp_path / "mine"))
    assert multi_fashion.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("TUNE_MTL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert multi_fashion.cache_dir() == tmp_path / "xdg" / "tune-mtl"


def test_multi_fashion_is_a_built_in_that_reads_files() -> None:
    assert LOADERS["multi_fashion"] is multi_fashion.load
    assert "multi_fashion" in READS_FILES and "multi_fashion" in BUILTIN_DATA
