"""What every data set returns: uint8 images, two label arrays and the task specs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TaskSpec", "Split", "Dataset", "stratified_split"]


@dataclass(frozen=True)
class TaskSpec:
    """One classification task on the shared images."""

    name: str
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def chance_accuracy(self) -> float:
        """Accuracy of a uniform guess: the hypervolume's reference for this task."""
        return 1.0 / self.num_classes


@dataclass(frozen=True)
class Split:
    """Images of shape (n, height, width, channels) in uint8 and one int label array per task."""

    images: np.ndarray
    task1: np.ndarray
    task2: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def take(self, indices: np.ndarray) -> Split:
        return Split(self.images[indices], self.task1[indices], self.task2[indices])


@dataclass(frozen=True)
class Dataset:
    """Train, validation and test splits of one data set with its two tasks.

    The validation split is carved from train; the test split is never used to choose anything.
    """

    name: str
    tasks: tuple[TaskSpec, TaskSpec]
    train: Split
    val: Split
    test: Split

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])  # type: ignore[return-value]

    @property
    def task_names(self) -> tuple[str, str]:
        return (self.tasks[0].name, self.tasks[1].name)

    @property
    def chance(self) -> tuple[float, float]:
        """Chance accuracy per task: the hypervolume's reference point."""
        return (self.tasks[0].chance_accuracy, self.tasks[1].chance_accuracy)


def stratified_split(
    labels: np.ndarray, *, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Splits indices into (kept, held out) with ``fraction`` of every class held out, seeded."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the validation fraction must be in (0, 1), but got {fraction}.")
    rng = np.random.default_rng(seed)
    held_out = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        held_out.append(members[: int(round(fraction * len(members)))])
    held_out_indices = np.sort(np.concatenate(held_out))
    kept = np.setdiff1d(np.arange(len(labels)), held_out_indices, assume_unique=True)
    return kept, held_out_indices
