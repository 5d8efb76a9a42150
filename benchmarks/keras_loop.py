"""Models trained one after another in a plain Keras loop: no Ray, no Optuna, no checkpoints.

Arm (e), the article's method, and the bare loop that measures tune-mtl's orchestration overhead
both use it. It builds and trains with tune-mtl's own Keras pieces (the built-in builders of
`tune_mtl.model`, compiled by `tune_mtl.building.build_model` as a trial's are, and
`tune_mtl.training.train_epoch`), so an epoch is the same seeded draw of examples as in a search
trial and the two differ only in what runs around the model. Arm (f), KerasTuner, builds its
models with the same `image_builder`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import keras

from tune_mtl.building import Builder, build_model
from tune_mtl.data import Dataset
from tune_mtl.learning_rate import decay_steps
from tune_mtl.model import BUILDERS
from tune_mtl.training import evaluate, train_epoch

__all__ = [
    "ARTICLE_GAMMAS",
    "LoopSettings",
    "TrainedModel",
    "evaluate_on_test",
    "gamma_rounds",
    "image_builder",
    "train_one_after_another",
]

ARTICLE_GAMMAS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class LoopSettings:
    """What every model of the loop shares, as in a search's `TrialSettings`; ``model`` is a
    built-in builder's name (`tune_mtl.model.BUILDERS`)."""

    model: str
    max_epochs: int
    batch_size: int
    examples_per_epoch: int | None
    learning_rate_schedule: str = "constant"


@dataclass
class TrainedModel:
    """One model of the loop; ``end_s`` is when its last epoch ended, on the caller's clock, and
    ``val`` holds each task's validation metric, in the data set's task order."""

    name: str
    config: dict[str, Any]
    seed: int
    epochs: int
    end_s: float
    slot_s: float  # from the previous model's end (or the loop's start) to this one's
    val: tuple[float, ...]
    model: keras.Model | None

    @property
    def completed(self) -> bool:
        return self.model is not None


def image_builder(data: Dataset, model: str) -> Builder:
    """The built-in builder ``model`` (`tune_mtl.model.BUILDERS`) for ``data``'s images.

    Raises:
        ValueError: ``data`` has several inputs or no validation split.
    """
    if isinstance(data.train.inputs, dict) or data.val is None:
        raise ValueError(
            f"the benchmark trains the built-in {model!r} model on one image input with a "
            f"validation split; load {data.name!r} with tune_mtl.data.load_dataset."
        )
    return functools.partial(BUILDERS[model], input_shape=data.train.inputs.shape[1:])


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
    build = image_builder(data, settings.model)
    done: list[TrainedModel] = []
    previous_end = time.monotonic()
    for name, params, seed in jobs:
        if deadline is not None and time.monotonic() >= deadline:
            break
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = build_model(
            build, params, data.tasks, sample=data.train.head(2),
            decay_steps=decay_steps(settings, train_examples=len(data.train)),
        )  # fmt: skip
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
                val=tuple(metrics[task.column("val")] for task in data.tasks),
                model=model if epochs == settings.max_epochs else None,
            )
        )
        previous_end = end
    return done


def evaluate_on_test(models: list[TrainedModel], data: Dataset) -> list[tuple[float, ...] | None]:
    """Each completed model's test metric per task, in the data set's task order; None for
    stopped ones."""
    tested: list[tuple[float, ...] | None] = []
    for m in models:
        if m.model is None:
            tested.append(None)
            continue
        metrics = evaluate(m.model, data.test, data.tasks)
        tested.append(tuple(metrics[task.column("test")] for task in data.tasks))
    return tested
