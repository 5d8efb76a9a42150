from __future__ import annotations

import gzip
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tune_mtl.data import fashion_mnist, load_dataset, stratified_split
from tune_mtl.data.cifar10 import CLASSES, relabel
from tune_mtl.errors import TuneMtlError

ORIGINAL_CIFAR = ["airplane", "automobile", "bird", "cat", "deer",
                  "dog", "frog", "horse", "ship", "truck"]  # fmt: skip


def write_cifar_folder(root: Path, *, per_batch: int = 20) -> np.ndarray:
    """Writes the official python layout; image i is filled with its own label value."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    all_labels = []
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        labels = [i % 10 for i in range(per_batch)]
        rows = np.repeat(np.array(labels, dtype=np.uint8)[:, None], 3072, axis=1)
        rows[:, 1024:2048] = 100  # the green plane, to check channel order
        with open(folder / name, "wb") as stream:
            pickle.dump({b"data": rows, b"labels": labels}, stream)
        all_labels.append(labels)
    return np.array(all_labels)


def test_cifar_relabel_drops_deer_and_horse_and_renumbers() -> None:
    original = np.arange(10)
    kept, classes, vehicle = relabel(original)
    assert kept.tolist() == [True] * 4 + [False] + [True] * 2 + [False] + [True] * 2
    assert classes.tolist() == list(range(8))
    assert [CLASSES[c] for c in classes] == [
        n for n in ORIGINAL_CIFAR if n not in ("deer", "horse")
    ]
    vehicles = {"airplane", "automobile", "ship", "truck"}
    assert vehicle.tolist() == [int(CLASSES[c] in vehicles) for c in classes]


@pytest.mark.parametrize("as_archive", [False, True])
def test_cifar_reads_official_folder_and_archive(tmp_path: Path, as_archive: bool) -> None:
    write_cifar_folder(tmp_path / "src")
    data_dir = tmp_path / "src"
    if as_archive:
        data_dir = tmp_path / "archive"
        data_dir.mkdir()
        with tarfile.open(data_dir / "cifar-10-python.tar.gz", "w:gz") as tar:
            tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    dataset = load_dataset("cifar10", data_dir=data_dir, val_fraction=0.25)
    assert dataset.train.inputs.shape[1:] == (32, 32, 3)
    assert len(dataset.train) + len(dataset.val) == 5 * 16  # 20 per batch, minus deer and horse
    assert len(dataset.test) == 16
    for split in (dataset.train, dataset.val, dataset.test):
        original = split.inputs[:, 0, 0, 0]  # red plane holds the original label
        assert not np.isin(original, [4, 7]).any()
        _, classes, vehicle = relabel(original.astype(np.int64))
        np.testing.assert_array_equal(split.labels["class"], classes)
        np.testing.assert_array_equal(split.labels["animal_vs_vehicle"], vehicle)
        assert (split.inputs[..., 1] == 100).all()
    assert [t.name for t in dataset.tasks] == ["class", "animal_vs_vehicle"]
    assert len(dataset.tasks[0].classes) == 8 and dataset.tasks[1].classes == ("animal", "vehicle")


def test_missing_cifar_names_the_folder_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(TuneMtlError, match=f"not in --data-dir {tmp_path}.*cifar-10-python.tar.gz"):
        load_dataset("cifar10", data_dir=tmp_path)


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    with gzip.open(path, "wb") as stream:
        stream.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_from_idx_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    items = np.arange(100) % 10
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (100, 28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", items)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (20, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", items[:20])
    dataset = load_dataset("fashion_mnist", data_dir=tmp_path)
    assert dataset.train.inputs.shape[1:] == (28, 28, 1)
    assert len(dataset.train) == 90 and len(dataset.val) == 10 and len(dataset.test) == 20
    names = fashion_mnist.ITEMS
    groups = {"tops": {"T-shirt/top", "Pullover", "Coat", "Shirt"},
              "footwear": {"Sandal", "Sneaker", "Ankle boot"},
              "other": {"Trouser", "Dress", "Bag"}}  # fmt: skip
    labels = dataset.train.labels
    for item, group in zip(labels["item"], labels["group"], strict=True):
        assert names[item] in groups[fashion_mnist.GROUPS[group]]


def test_missing_fashion_mnist_names_every_place(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(TuneMtlError) as caught:
        load_dataset("fashion_mnist", data_dir=tmp_path)
    assert "train-images-idx3-ubyte.gz" in str(caught.value)
    assert "apt-get install dataset-fashion-mnist" in str(caught.value)

    # Without --data-dir every place is looked in, then Keras's download (which fails offline).
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(fashion_mnist, "KERAS_CACHE_DIR", tmp_path / "keras")
    monkeypatch.setenv("TUNE_MTL_DATA_DIR", str(tmp_path / "env"))

    def offline() -> None:
        raise OSError("no network")

    monkeypatch.setattr(fashion_mnist, "_from_keras_download", offline)
    with pytest.raises(TuneMtlError) as caught:
        load_dataset("fashion_mnist")
    message = str(caught.value)
    assert "\n" not in message
    for place in ("env", "debian", "keras"):
        assert str(tmp_path / place) in message
    assert "no network" in message


def test_data_dir_that_is_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(TuneMtlError, match="is not a directory"):
        load_dataset("fashion_mnist", data_dir=tmp_path / "nope")


@pytest.mark.parametrize("seed", range(5))
def test_stratified_split_holds_out_each_class_in_proportion(seed: int) -> None:
    labels = np.random.default_rng(seed).integers(0, 5, size=1000)
    kept, held_out = stratified_split(labels, fraction=0.1, seed=seed)
    assert len(np.intersect1d(kept, held_out)) == 0
    assert len(kept) + len(held_out) == 1000
    for label in range(5):
        count = (labels == label).sum()
        assert (labels[held_out] == label).sum() == round(0.1 * count)
    again = stratified_split(labels, fraction=0.1, seed=seed)[1]
    np.testing.assert_array_equal(held_out, again)


def test_synthetic_is_deterministic_and_its_validation_split_seeded() -> None:
    first, second = load_dataset("synthetic", seed=3), load_dataset("synthetic", seed=3)
    np.testing.assert_array_equal(first.train.inputs, second.train.inputs)
    np.testing.assert_array_equal(first.val.inputs, second.val.inputs)
    assert first.train.inputs.dtype == np.uint8
    labels = first.train.labels
    np.testing.assert_array_equal(labels["family"], (labels["shape"] >= 2).astype(int))
    other = load_dataset("synthetic", seed=4)
    assert not np.array_equal(first.val.inputs, other.val.inputs)
    # A constant predictor: the most frequent training shape, scored on validation.
    assert first.references == (0.25, 0.5)


def test_real_fashion_mnist() -> None:
    """Debian's dataset-fashion-mnist, which `make data` installs."""
    dataset = load_dataset("fashion_mnist")
    assert (len(dataset.train), len(dataset.val), len(dataset.test)) == (54000, 6000, 10000)
    assert dataset.train.inputs.dtype == np.uint8
    assert dataset.train.inputs.shape[1:] == (28, 28, 1)
    assert np.bincount(dataset.val.labels["item"]).tolist() == [600] * 10
    assert np.bincount(dataset.test.labels["group"]).tolist() == [4000, 3000, 3000]
