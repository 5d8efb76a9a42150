"""Fashion-MNIST: the `item` task names the item (10 classes), `group` its group (tops, footwear,
other)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from tune_mtl.data.spec import Dataset
from tune_mtl.errors import TuneMtlError
from tune_mtl.tasks import Task

__all__ = ["ITEMS", "GROUPS", "GROUP_OF_ITEM", "TASKS", "load", "load_arrays", "read_idx"]

ITEMS = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
GROUPS = ("tops", "footwear", "other")
GROUP_OF_ITEM = np.array([0, 2, 0, 2, 0, 1, 0, 1, 2, 1], dtype=np.int64)
TASKS = (Task("item", classes=ITEMS), Task("group", classes=GROUPS))

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE_DIR = Path.home() / ".keras" / "datasets" / "fashion-mnist"
HOW_TO_GET = (
    "install it with `apt-get install dataset-fashion-mnist` (Debian, as root), "
    "or pass --data-dir DIR holding the four IDX .gz files"
)


def read_idx(path: Path) -> np.ndarray:
    """Reads one gzipped IDX file (the original MNIST format) into a uint8 array."""
    with gzip.open(path, "rb") as stream:
        raw = stream.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise TuneMtlError(f"{path} is not an unsigned-byte IDX file; download it again.")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise TuneMtlError(f"{path} holds {data.size} values but its header says {shape}.")
    return data.reshape(shape)


def _candidate_dirs(data_dir: Path | None) -> list[Path]:
    if data_dir is not None:
        return [data_dir]
    from_env = os.environ.get("TUNE_MTL_DATA_DIR")
    dirs = [Path(from_env)] if from_env else []
    return [*dirs, DEBIAN_DIR, KERAS_CACHE_DIR]


def _from_dir(directory: Path) -> tuple[np.ndarray, ...]:
    arrays = {key: read_idx(directory / name) for key, name in FILES.items()}
    return (
        arrays["train_images"][..., None],
        arrays["train_labels"].astype(np.int64),
        arrays["test_images"][..., None],
        arrays["test_labels"].astype(np.int64),
    )


def _from_keras_download() -> tuple[np.ndarray, ...]:
    import keras

    (train_images, train_labels), (test_images, test_labels) = (
        keras.datasets.fashion_mnist.load_data()
    )
    return (
        train_images[..., None],
        train_labels.astype(np.int64),
        test_images[..., None],
        test_labels.astype(np.int64),
    )


def load_arrays(data_dir: Path | None = None) -> tuple[np.ndarray, ...]:
    """Returns (train images, train items, test images, test items) from the first place found.

    Looked for in order: ``data_dir`` (or else ``$TUNE_MTL_DATA_DIR``), Debian's
    /usr/share/datasets/fashion-mnist, Keras's cache, then Keras's download.
    """
    looked = _candidate_dirs(data_dir)
    for directory in looked:
        if all((directory / name).is_file() for name in FILES.values()):
            return _from_dir(directory)
    if data_dir is not None:
        missing = [name for name in FILES.values() if not (data_dir / name).is_file()]
        raise TuneMtlError(
            f"Fashion-MNIST is not in --data-dir {data_dir} (missing {', '.join(missing)}); "
            f"{HOW_TO_GET}."
        )
    try:
        return _from_keras_download()
    except Exception as error:  # Keras raises many kinds on a failed download; all mean the same.
        places = ", ".join(str(directory) for directory in looked)
        raise TuneMtlError(
            f"Fashion-MNIST was not found in {places}, and Keras's download failed ({error}); "
            f"{HOW_TO_GET}."
        ) from error


def load(*, data_dir: Path | None = None) -> Dataset:
    """The built-in `fashion_mnist` data set: 28x28x1 uint8 images, tasks item and group."""
    train_images, train_items, test_images, test_items = load_arrays(data_dir)
    return Dataset.from_arrays(
        train=(train_images, {"item": train_items, "group": GROUP_OF_ITEM[train_items]}),
        test=(test_images, {"item": test_items, "group": GROUP_OF_ITEM[test_items]}),
        tasks=TASKS,
        name="fashion_mnist",
    )
