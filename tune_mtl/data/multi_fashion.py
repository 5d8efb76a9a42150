"""Multi-Fashion: two Fashion-MNIST items on one 36x36 canvas; task `left` names the top-left
item, task `right` the bottom-right one.

The benchmark of Pareto MTL (Lin et al., NeurIPS 2019), since used by EPO, PHN and COSMOS, built
as they describe it: each item keeps its 28x28 pixels (not resized), the top-left one moved up to
4 pixels right and down from the corner, the bottom-right one up to 4 pixels left and up, the two
of different classes, overlapping pixels taking the brighter value. 120,000 train composites come
from the train split and 20,000 test composites from the test split. Their repository ships only
the resulting pickles, so the composites here are the same construction, not the same images.

The build is seeded and vectorised (a few seconds for the full set) and cached as an ``.npz`` in
``$TUNE_MTL_CACHE_DIR`` (else ``$XDG_CACHE_HOME/tune-mtl``, else ``~/.cache/tune-mtl``), keyed by
every parameter of the construction and the seed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from tune_mtl.data import fashion_mnist
from tune_mtl.data.spec import Dataset
from tune_mtl.tasks import Task

__all__ = ["TASKS", "Pairs", "cache_dir", "compose", "draw_pairs", "load", "place"]

TASKS = (Task("left", classes=fashion_mnist.ITEMS), Task("right", classes=fashion_mnist.ITEMS))
CANVAS = 36
MAX_SHIFT = 4
TRAIN_SIZE = 120_000
TEST_SIZE = 20_000
# Bump when the construction changes, so that old cached files are not read as new ones.
CONSTRUCTION_VERSION = 1


@dataclass(frozen=True)
class Pairs:
    """Which source images make each composite and where they sit.

    Attributes:
        left, right: indices into the source images, one per composite.
        left_offsets, right_offsets: ``(n, 2)`` (row, column) of each item's top-left pixel on
            the canvas.
    """

    left: np.ndarray
    right: np.ndarray
    left_offsets: np.ndarray
    right_offsets: np.ndarray


def draw_pairs(
    labels: np.ndarray,
    count: int,
    *,
    item_size: int = 28,
    canvas: int = CANVAS,
    max_shift: int = MAX_SHIFT,
    seed: int | np.random.SeedSequence = 0,
) -> Pairs:
    """Draws ``count`` pairs of images of different classes and their places on the canvas.

    Every source image is the left item equally often (give or take one); the right item is a
    uniformly drawn image of a uniformly drawn other class.
    """
    labels = np.asarray(labels)
    if item_size + max_shift > canvas:
        raise ValueError(
            f"an item of {item_size} pixels shifted by up to {max_shift} does not fit a canvas "
            f"of {canvas}; pass a larger canvas."
        )
    classes, class_of = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"pairs of different classes need 2 classes, but got {classes.tolist()}.")
    rng = np.random.default_rng(seed)
    passes = -(-count // len(labels))
    left = np.concatenate([rng.permutation(len(labels)) for _ in range(passes)])[:count]
    # Another class than the left item's, then an image of it: sorted by class, the members of
    # class c are order[starts[c] : starts[c] + sizes[c]].
    other = (class_of[left] + rng.integers(1, len(classes), size=count)) % len(classes)
    order = np.argsort(class_of, kind="stable")
    sizes = np.bincount(class_of, minlength=len(classes))
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    right = order[starts[other] + (rng.random(count) * sizes[other]).astype(np.int64)]
    left_offsets = rng.integers(0, max_shift + 1, size=(count, 2))
    right_offsets = (canvas - item_size) - rng.integers(0, max_shift + 1, size=(count, 2))
    return Pairs(left, right, left_offsets, right_offsets)


def place(
    left_images: np.ndarray,
    right_images: np.ndarray,
    pairs: Pairs,
    *,
    canvas: int = CANVAS,
) -> np.ndarray:
    """Puts ``left_images[i]`` and ``right_images[i]`` on canvas ``i`` at the pairs' offsets;
    where the two overlap, the brighter pixel wins. Returns ``(n, canvas, canvas)`` uint8."""
    count, height, width = left_images.shape
    canvases = np.zeros((count, canvas, canvas), dtype=np.uint8)
    for images, offsets in ((left_images, pairs.left_offsets), (right_images, pairs.right_offsets)):
        # One slice assignment per distinct offset: at most (max_shift + 1)^2 of them.
        distinct, group = np.unique(offsets, axis=0, return_inverse=True)
        group = group.reshape(-1)
        for index, (row, column) in enumerate(distinct):
            members = np.flatnonzero(group == index)
            window = (members, slice(row, row + height), slice(column, column + width))
            canvases[window] = np.maximum(canvases[window], images[members])
    return canvases


def compose(
    images: np.ndarray,
    labels: np.ndarray,
    count: int,
    *,
    canvas: int = CANVAS,
    max_shift: int = MAX_SHIFT,
    seed: int | np.random.SeedSequence = 0,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Builds ``count`` composites from ``images`` (``(n, h, w)`` or ``(n, h, w, 1)``) and their
    class ``labels``. Returns ``(n, canvas, canvas, 1)`` uint8 images and the labels of tasks
    ``left`` and ``right``."""
    squeezed = images[..., 0] if images.ndim == 4 else images
    if squeezed.ndim != 3 or squeezed.shape[1] != squeezed.shape[2]:
        raise ValueError(
            f"items must be square (n, h, h) or (n, h, h, 1) images, but got {images.shape}."
        )
    pairs = draw_pairs(
        labels,
        count,
        item_size=squeezed.shape[1],
        canvas=canvas,
        max_shift=max_shift,
        seed=seed,
    )
    canvases = place(squeezed[pairs.left], squeezed[pairs.right], pairs, canvas=canvas)
    labels = np.asarray(labels, dtype=np.int64)
    return canvases[..., None], {"left": labels[pairs.left], "right": labels[pairs.right]}


def cache_dir() -> Path:
    """``$TUNE_MTL_CACHE_DIR``, else ``$XDG_CACHE_HOME/tune-mtl``, else ``~/.cache/tune-mtl``."""
    if os.environ.get("TUNE_MTL_CACHE_DIR"):
        return Path(os.environ["TUNE_MTL_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tune-mtl"


def _cache_file(directory: Path, parameters: Mapping[str, object]) -> Path:
    key = hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:16]
    return directory / f"multi_fashion-{key}.npz"


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # unreadable (a disk filled mid-write by another tool): build again


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Writes through a temporary file and a rename, so a reader sees the whole file or none;
    a cache that cannot be written costs the next run a rebuild, nothing else."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, **cast(dict[str, Any], arrays))
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    except OSError as error:
        warnings.warn(
            f"multi_fashion: cannot cache the composites in {path.parent} ({error}); they will "
            "be built again next time. Set TUNE_MTL_CACHE_DIR to a writable folder.",
            stacklevel=3,
        )


def load(
    *,
    data_dir: Path | None = None,
    seed: int = 0,
    train_size: int = TRAIN_SIZE,
    test_size: int = TEST_SIZE,
    cache: Path | None = None,
) -> Dataset:
    """The built-in `multi_fashion` data set: 36x36x1 uint8 images, tasks left and right.

    Args:
        data_dir: the folder of Fashion-MNIST's IDX files; without it they are looked for as
            the `fashion_mnist` data set looks for them.
        seed: seeds the construction (the search's seed carves validation, not this).
        train_size: composites built from the train split.
        test_size: composites built from the test split.
        cache: the cache folder; default `cache_dir()`.
    """
    parameters = {
        "version": CONSTRUCTION_VERSION,
        "canvas": CANVAS,
        "max_shift": MAX_SHIFT,
        "train_size": train_size,
        "test_size": test_size,
        "seed": seed,
        "data_dir": str(Path(data_dir).resolve()) if data_dir is not None else None,
    }
    path = _cache_file(cache if cache is not None else cache_dir(), parameters)
    arrays = _read_cache(path)
    if arrays is None:
        train_images, train_items, test_images, test_items = fashion_mnist.load_arrays(data_dir)
        train_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
        train, train_labels = compose(train_images, train_items, train_size, seed=train_seed)
        test, test_labels = compose(test_images, test_items, test_size, seed=test_seed)
        arrays = {"train": train, "test": test}
        arrays |= {f"train_{task}": labels for task, labels in train_labels.items()}
        arrays |= {f"test_{task}": labels for task, labels in test_labels.items()}
        _write_cache(path, arrays)
    return Dataset.from_arrays(
        train=(arrays["train"], {t.name: arrays[f"train_{t.name}"] for t in TASKS}),
        test=(arrays["test"], {t.name: arrays[f"test_{t.name}"] for t in TASKS}),
        tasks=TASKS,
        name="multi_fashion",
    )
