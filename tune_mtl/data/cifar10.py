"""CIFAR-10 as in the article: deer and horse removed, 8 classes and animal against vehicle."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import IO

import numpy as np

from tune_mtl.data.spec import Dataset
from tune_mtl.errors import TuneMtlError
from tune_mtl.tasks import Task

__all__ = ["CLASSES", "TASKS", "load", "load_arrays", "relabel"]

ORIGINAL_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
REMOVED = (4, 7)  # deer, horse
KEPT = tuple(i for i in range(10) if i not in REMOVED)
CLASSES = tuple(ORIGINAL_CLASSES[i] for i in KEPT)
VEHICLES = ("airplane", "automobile", "ship", "truck")
TASKS = (Task("class", classes=CLASSES), Task("animal_vs_vehicle", classes=("animal", "vehicle")))

FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
KERAS_CACHE_DIR = Path.home() / ".keras" / "datasets"
HOW_TO_GET = f"pass --data-dir DIR holding {FOLDER}/ or {ARCHIVE} (the official python version)"


def relabel(original: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drops deer and horse and returns (kept mask, class 0-7 in original order, 1 for vehicles)."""
    kept = ~np.isin(original, REMOVED)
    new_index = np.full(10, -1, dtype=np.int64)
    new_index[list(KEPT)] = np.arange(len(KEPT))
    classes = new_index[original[kept]]
    is_vehicle = np.array([name in VEHICLES for name in CLASSES], dtype=np.int64)
    return kept, classes, is_vehicle[classes]


def _read_batch(stream: IO[bytes], where: str) -> tuple[np.ndarray, np.ndarray]:
    batch = pickle.load(stream, encoding="bytes")
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise TuneMtlError(f"{where} is not a CIFAR-10 python batch; {HOW_TO_GET}.")
    rows = np.asarray(batch[b"data"], dtype=np.uint8)
    images = rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(batch[b"labels"], dtype=np.int64)


def _from_folder(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    batches = {}
    for name in (*TRAIN_BATCHES, "test_batch"):
        with open(folder / name, "rb") as stream:
            batches[name] = _read_batch(stream, str(folder / name))
    return batches


def _from_archive(archive: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    batches = {}
    with tarfile.open(archive, "r:gz") as tar:
        for name in (*TRAIN_BATCHES, "test_batch"):
            member = tar.extractfile(f"{FOLDER}/{name}")
            if member is None:
                raise TuneMtlError(f"{archive} has no {FOLDER}/{name}; {HOW_TO_GET}.")
            batches[name] = _read_batch(io.BytesIO(member.read()), f"{archive}:{name}")
    return batches


def _locate(directory: Path) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    folder = directory if directory.name == FOLDER else directory / FOLDER
    if all((folder / name).is_file() for name in (*TRAIN_BATCHES, "test_batch")):
        return _from_folder(folder)
    if (directory / ARCHIVE).is_file():
        return _from_archive(directory / ARCHIVE)
    return None


def _from_keras_download() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    import keras

    (train_images, train_labels), (test_images, test_labels) = keras.datasets.cifar10.load_data()
    return {
        "data_batch_1": (train_images, train_labels.reshape(-1).astype(np.int64)),
        "test_batch": (test_images, test_labels.reshape(-1).astype(np.int64)),
    }


def load_arrays(data_dir: Path | None = None) -> tuple[np.ndarray, ...]:
    """Returns (train images, train classes, train vehicle flags, test images, test classes,
    test vehicle flags), deer and horse removed.

    Read from ``data_dir`` (holding ``cifar-10-batches-py/`` or ``cifar-10-python.tar.gz``), else
    Keras's cache, else Keras's download.
    """
    batches = _locate(data_dir) if data_dir is not None else _locate(KERAS_CACHE_DIR)
    if batches is None and data_dir is not None:
        raise TuneMtlError(f"CIFAR-10 is not in --data-dir {data_dir}; {HOW_TO_GET}.")
    if batches is None:
        try:
            batches = _from_keras_download()
        except (
            Exception
        ) as error:  # Keras raises many kinds on a failed download; all mean the same.
            raise TuneMtlError(
                f"CIFAR-10 was not found in {KERAS_CACHE_DIR / FOLDER}, and Keras's download "
                f"failed ({error}); {HOW_TO_GET}."
            ) from error
    test_images, test_labels = batches.pop("test_batch")
    train_images = np.concatenate([images for images, _ in batches.values()])
    train_labels = np.concatenate([labels for _, labels in batches.values()])
    train_kept, train_classes, train_vehicle = relabel(train_labels)
    test_kept, test_classes, test_vehicle = relabel(test_labels)
    return (
        train_images[train_kept], train_classes, train_vehicle,
        test_images[test_kept], test_classes, test_vehicle,
    )  # fmt: skip


def load(*, data_dir: Path | None = None) -> Dataset:
    """The built-in `cifar10` data set: 32x32x3 uint8 images, tasks class and animal_vs_vehicle."""
    train_images, train_classes, train_vehicle, test_images, test_classes, test_vehicle = (
        load_arrays(data_dir)
    )
    return Dataset.from_arrays(
        train=(train_images, {"class": train_classes, "animal_vs_vehicle": train_vehicle}),
        test=(test_images, {"class": test_classes, "animal_vs_vehicle": test_vehicle}),
        tasks=TASKS,
        name="cifar10",
    )
