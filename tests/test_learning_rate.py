"""The learning-rate schedule: the steps a cosine spans, and an optimizer that follows it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
import pytest

from tune_mtl.building import adam
from tune_mtl.learning_rate import decay_steps


@dataclass(frozen=True)
class Settings:
    max_epochs: int = 16
    batch_size: int = 128
    examples_per_epoch: int | None = 16000
    learning_rate_schedule: str = "cosine"


@pytest.mark.parametrize(
    ("settings", "train_examples", "steps"),
    [
        (Settings(), 54000, 16 * 125),
        (Settings(examples_per_epoch=None), 54000, 16 * 422),  # all of train: 421.875 batches
        (Settings(examples_per_epoch=100000), 1000, 16 * 8),  # never more than train holds
        (Settings(max_epochs=3, batch_size=1), 7, 21),
    ],
)
def test_cosine_spans_every_step_of_max_epochs(
    settings: Settings, train_examples: int, steps: int
) -> None:
    assert decay_steps(settings, train_examples=train_examples) == steps


def test_a_constant_rate_does_not_decay() -> None:
    assert decay_steps(Settings(learning_rate_schedule="constant"), train_examples=100) is None


def test_an_unknown_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'step'"):
        decay_steps(Settings(learning_rate_schedule="step"), train_examples=100)


def test_adam_follows_a_half_cosine_to_zero() -> None:
    optimizer = adam(0.01, decay_steps=8)
    variable = keras.Variable(np.ones(3, dtype="float32"))
    rates = []
    for _ in range(10):
        rates.append(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
        optimizer.apply_gradients([(keras.ops.ones(3), variable)])
    cosine = [0.01 * (1 + math.cos(math.pi * min(step, 8) / 8)) / 2 for step in range(10)]
    np.testing.assert_allclose(rates, cosine, rtol=1e-5, atol=1e-9)
    assert float(keras.ops.convert_to_numpy(adam(0.01).learning_rate)) == pytest.approx(0.01)
