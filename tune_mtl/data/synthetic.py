"""Tiny deterministic data for tests: 4 shapes, grouped in pairs, on 12x12 noisy images."""

from __future__ import annotations

import numpy as np

from tune_mtl.data.spec import Split, TaskSpec

__all__ = ["TASKS", "make_split"]

TASKS = (
    TaskSpec("shape", ("square", "cross", "bar", "dot")),
    TaskSpec("family", ("large", "small")),
)
SIZE = 12


def _templates() -> np.ndarray:
    templates = np.zeros((4, SIZE, SIZE), dtype=np.float64)
    templates[0, 2:10, 2:10] = 1.0
    templates[1, 5:7, :] = templates[1, :, 5:7] = 1.0
    templates[2, :, 1:4] = 1.0
    templates[3, 8:11, 8:11] = 1.0
    return templates


def make_split(n: int, *, seed: int) -> Split:
    """Returns ``n`` images whose shape (task 1) fixes the family (task 2): shapes 0-1 are large."""
    rng = np.random.default_rng(seed)
    shapes = np.arange(n, dtype=np.int64) % 4
    rng.shuffle(shapes)
    noisy = 0.7 * _templates()[shapes] + 0.3 * rng.random((n, SIZE, SIZE))
    images = np.round(255 * noisy).astype(np.uint8)[..., None]
    return Split(images, shapes, (shapes >= 2).astype(np.int64))
