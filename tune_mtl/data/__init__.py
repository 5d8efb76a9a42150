"""Data sets: uint8 images, two label arrays and the task specs, with a seeded validation split."""

from __future__ import annotations

from pathlib import Path

from tune_mtl.data import cifar10, fashion_mnist, synthetic
from tune_mtl.data.spec import Dataset, Split, TaskSpec, stratified_split
from tune_mtl.errors import TuneMtlError

__all__ = ["DATASETS", "Dataset", "Split", "TaskSpec", "load_dataset", "stratified_split"]

DATASETS = ("fashion_mnist", "cifar10", "synthetic")


def _carve_validation(train: Split, *, fraction: float, seed: int) -> tuple[Split, Split]:
    kept, held_out = stratified_split(train.task1, fraction=fraction, seed=seed)
    return train.take(kept), train.take(held_out)


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    synthetic_size: int = 256,
) -> Dataset:
    """Loads a data set and carves a stratified, seeded validation split out of its train split.

    Args:
        name: one of ``DATASETS``.
        data_dir: where the files are; each data set documents its own search order without it.
        val_fraction: share of train held out for validation (stratified by task 1).
        seed: seeds the validation split.
        synthetic_size: train size of the ``synthetic`` data set (its test split is a quarter).
    """
    directory = Path(data_dir).expanduser() if data_dir is not None else None
    if directory is not None and not directory.is_dir():
        raise TuneMtlError(f"--data-dir {directory} is not a directory; pass an existing folder.")
    if name == "fashion_mnist":
        train_images, train_items, test_images, test_items = fashion_mnist.load_arrays(directory)
        group = fashion_mnist.GROUP_OF_ITEM
        train = Split(train_images, train_items, group[train_items])
        test = Split(test_images, test_items, group[test_items])
        tasks = fashion_mnist.TASKS
    elif name == "cifar10":
        arrays = cifar10.load_arrays(directory)
        train, test = Split(*arrays[:3]), Split(*arrays[3:])
        tasks = cifar10.TASKS
    elif name == "synthetic":
        train = synthetic.make_split(synthetic_size, seed=seed)
        test = synthetic.make_split(max(synthetic_size // 4, 8), seed=seed + 1)
        tasks = synthetic.TASKS
    else:
        raise TuneMtlError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}.")
    train, val = _carve_validation(train, fraction=val_fraction, seed=seed)
    return Dataset(name=name, tasks=tasks, train=train, val=val, test=test)
