"""The learning-rate schedules a search's trials train with, and the steps a schedule spans.

``constant`` keeps the searched learning rate; ``cosine`` decays it to zero along a half cosine
over the ``max_epochs`` a trial would train if never stopped (Keras's `CosineDecay`), so every
trial, early-stopped or not, follows the same curve and a completed one ends at rest.
"""

from __future__ import annotations

import math
from typing import Protocol

__all__ = ["SCHEDULES", "TrainingSettings", "decay_steps"]

SCHEDULES = ("constant", "cosine")


class TrainingSettings(Protocol):
    """How every model of a search trains (`tune_mtl.trainable.TrialSettings` is one)."""

    @property
    def max_epochs(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def examples_per_epoch(self) -> int | None: ...
    @property
    def learning_rate_schedule(self) -> str: ...


def decay_steps(settings: TrainingSettings, *, train_examples: int) -> int | None:
    """The optimizer steps of ``max_epochs`` epochs, over which ``cosine`` decays; None for
    ``constant``."""
    schedule = settings.learning_rate_schedule
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; use one of {SCHEDULES}.")
    if schedule == "constant":
        return None
    examples = min(settings.examples_per_epoch or train_examples, train_examples)
    return settings.max_epochs * math.ceil(examples / settings.batch_size)
