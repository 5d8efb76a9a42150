"""Data sets: the user's loader or a built-in one, each returning a checked `Dataset`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tune_mtl.data import cifar10, fashion_mnist, multi_fashion, synthetic
from tune_mtl.data.spec import Dataset, Split, stratified_split
from tune_mtl.errors import TuneMtlError
from tune_mtl.user_code import call_user

__all__ = ["LOADERS", "Dataset", "Split", "call_loader", "load_dataset", "stratified_split"]

# Built-in data sets by name; each loader returns a Dataset as a user's loader does.
LOADERS: dict[str, Callable[..., Dataset]] = {
    "fashion_mnist": fashion_mnist.load,
    "cifar10": cifar10.load,
    "synthetic": synthetic.load,
    "multi_fashion": multi_fashion.load,
}
# The built-ins that read files and take a folder to read them from.
READS_FILES = ("fashion_mnist", "cifar10", "multi_fashion")


def call_loader(loader: Callable[[], Any], *, name: str) -> Dataset:
    """Calls a loader and checks that it returned a `Dataset`; ``name`` is how the user named it."""
    dataset = call_user(loader, role="the data loader", name=name)
    if not isinstance(dataset, Dataset):
        raise TuneMtlError(
            f"the data loader {name!r} returned {type(dataset).__name__}, not a tune_mtl.Dataset; "
            "return Dataset.from_arrays(train=..., test=..., tasks=...)."
        )
    return dataset


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> Dataset:
    """Loads a built-in data set and carves a stratified, seeded validation split from train.

    Args:
        name: one of ``LOADERS``.
        data_dir: where the files are; each data set documents its own search order without it.
        val_fraction: share of train held out for validation (stratified by the first task).
        seed: seeds the validation split.
    """
    if name not in LOADERS:
        raise TuneMtlError(f"unknown data set {name!r}; choose one of {', '.join(LOADERS)}.")
    directory = Path(data_dir).expanduser() if data_dir is not None else None
    if directory is not None and not directory.is_dir():
        raise TuneMtlError(f"--data-dir {directory} is not a directory; pass an existing folder.")
    keywords = {"data_dir": directory} if name in READS_FILES else {}
    dataset = LOADERS[name](**keywords)
    return dataset.with_validation(fraction=val_fraction, seed=seed)
