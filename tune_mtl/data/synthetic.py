"""Tiny deterministic data for tests: 4 shapes, grouped in pairs, on 12x12 noisy images."""

from __future__ import annotations

import numpy as np

from tune_mtl.data.spec import Dataset
from tune_mtl.tasks import Task

__all__ = ["TASKS", "load", "make_split"]

TASKS = (
    Task("shape", classes=("square", "cross", "bar", "dot")),
    Task("family", classes=("large", "small")),
)
SIZE = 12
TRAIN_SIZE = 256


def _templates() -> np.ndarray:
    templates = np.zeros((4, SIZE, SIZE), dtype=np.float64)
    templates[0, 2:10, 2:10] = 1.0
    templates[1, 5:7, :] = templates[1, :, 5:7] = 1.0
    templates[2, :, 1:4] = 1.0
    templates[3, 8:11, 8:11] = 1.0
    return templates


def make_split(n: int, *, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Returns ``n`` images whose shape fixes the family: shapes 0-1 are large, 2-3 small."""
    rng = np.random.default_rng(seed)
    shapes = np.arange(n, dtype=np.int64) % 4
    rng.shuffle(shapes)
    noisy = 0.7 * _templates()[shapes] + 0.3 * rng.random((n, SIZE, SIZE))
    images = np.round(255 * noisy).astype(np.uint8)[..., None]
    return images, {"shape": shapes, "family": (shapes >= 2).astype(np.int64)}


def load(*, size: int = TRAIN_SIZE, seed: int = 0) -> Dataset:
    """The built-in `synthetic` data set: ``size`` train images and a quarter as many test."""
    return Dataset.from_arrays(
        train=make_split(size, seed=seed),
        test=make_split(max(size // 4, 8), seed=seed + 1),
        tasks=TASKS,
        name="synthetic",
    )
