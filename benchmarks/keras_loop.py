"""Models trained one after another in a plain Keras loop: no Ray, no Optuna, no checkpoints.

Arm (e), the article's method, and the bare loop that measures tune-mtl's orchestration overhead
both use it. It builds and trains with tune-mtl's own Keras pieces (`tune_mtl.model`,
`tune_mtl.model_config`, `tune_mtl.training.train_epoch`), so an epoch is the same seeded draw
of examples as in a search trial and the two differ only in what runs around the model.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import keras

from tune_mtl.data import Dataset
from tune_mtl.model import build_model
from tune_mtl.model_config import model_config
from tune_mtl.training import evaluate_accuracies, train_epoch

__all__ = [
    "ARTICLE_GAMMAS",
    "LoopSettings",
    "TrainedModel",
    "evaluate_on_test",
    "gamma_rounds",
    "train_one_after_another",
]

ARTICLE_GAMMAS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class LoopSettings:
    """What every model of the loop shares, as in a search's `TrialSettings`."""

    model: str
    max_epochs: int
    batch_size: int
    examples_per_epoch: int | None


@dataclass
class TrainedModel:
    """One model of the loop; ``end_s`` is when its last epoch ended, on the caller's clock."""

    name: str
    config: dict[str, Any]
    seed: int
    epochs: int
    end_s: float
    slot_s: float  # from the previous model's end (or the loop's start) to this one's
    val: tuple[float, float]
    model: keras.Model | None

    @property
    def completed(self) -> bool:
        return self.model is not None


def gamma_rounds(seed: int) -> Iterator[tuple[str, dict[str, Any], int]]:
    """The article's loop over gamma, in its order; then again with a new weight seed, endlessly.

    Round ``r`` seeds its models with ``seed + 1000 * r``, so round 0 starts from the weights a
    search trial with the same seed starts from.
    """
    round_index = 0
    while True:
        for gamma in ARTICLE_GAMMAS:
            yield f"gamma{gamma:g}-r{round_index}", {"gamma": gamma}, seed + 1000 * round_index
        round_index += 1


def train_one_after_another(
    jobs: Iterable[tuple[str, dict[str, Any], int]],
    data: Dataset,
    settings: LoopSettings,
    *,
    t0: float,
    deadline: float | None = None,
) -> list[TrainedModel]:
    """Trains each (name, hyperparameters, seed) for ``settings.max_epochs`` epochs, in order.

    With ``deadline`` (a ``time.monotonic`` value) the loop ends at the first epoch end past it;
    the model then in training is kept as stopped (``model`` None, never in a front). Times are
    seconds after ``t0``.
    """
    done: list[TrainedModel] = []
    previous_end = time.monotonic()
    for name, params, seed in jobs:
        if deadline is not None and time.monotonic() >= deadline:
            break
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = build_model(
            model_config(settings.model, params),
            input_shape=data.input_shape,
            num_classes=(data.tasks[0].num_classes, data.tasks[1].num_classes),
        )
        metrics: dict[str, float] = {}
        epochs = 0
        for epoch in range(settings.max_epochs):
            metrics = train_epoch(
                model,
                data.train,
                data.val,
                epoch=epoch,
                batch_size=settings.batch_size,
                examples_per_epoch=settings.examples_per_epoch,
                seed=seed,
            )
            epochs = epoch + 1
            if deadline is not None and time.monotonic() >= deadline:
                break
        end = time.monotonic()
        done.append(
            TrainedModel(
                name=name,
                config=dict(params),
                seed=seed,
                epochs=epochs,
                end_s=end - t0,
                slot_s=end - previous_end,
                val=(
                    metrics.get("val_task1_accuracy", 0.0),
                    metrics.get("val_task2_accuracy", 0.0),
                ),
                model=model if epochs == settings.max_epochs else None,
            )
        )
        previous_end = end
    return done


def evaluate_on_test(models: list[TrainedModel], data: Dataset) -> list[tuple[float, float] | None]:
    """Each completed model's accuracies on the test split; None for stopped ones."""
    return [
        evaluate_accuracies(m.model, data.test) if m.model is not None else None for m in models
    ]
