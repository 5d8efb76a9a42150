"""Arm (f): KerasTuner's Hyperband on tune-mtl's search space and model, as a KerasTuner user runs
it: `keras_tuner.Hyperband(hypermodel, objective=[Objective("val_<task>_<metric>", ...), ...],
max_epochs=..., seed=...)`, whose multi-objective is the sum of the tasks' metrics.

The hypermodel declares the space file's parameters as KerasTuner hyperparameters of the same
ranges, builds with the benchmark's `image_builder` compiled by `tune_mtl.building.build_model`
(as arms (a)-(e) do), and trains epochs that are the same seeded fresh draws of
``examples_per_epoch`` examples as a trial's (`tune_mtl.training.epoch_examples`). The oracle is
KerasTuner's own; the tuner only adds the benchmark's clock (when a trial ended, how many epochs
it reached) and stops at the budget: a callback ends training at the first epoch end past the
deadline and the oracle then starts no trial, so the search returns cleanly.

Trials are recorded as `benchmarks/run_arm.py`'s other commands record theirs. A trial's
validation and test metrics are those of the epoch KerasTuner kept, its checkpoint of the best
epoch by the summed objectives, as `tuner.load_model(trial)` returns it.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Any

import keras
import keras_tuner

from benchmarks.keras_loop import LoopSettings, image_builder
from tune_mtl.building import build_model
from tune_mtl.data import Dataset
from tune_mtl.learning_rate import decay_steps
from tune_mtl.objectives import Objectives
from tune_mtl.space import Distribution, SearchSpace
from tune_mtl.training import epoch_examples, evaluate, feed, validation_feed

__all__ = ["declare", "StopAtDeadline", "MultiTaskHyperModel", "BudgetedHyperband",
           "run_hyperband"]  # fmt: skip

# Far more iterations than a budget lets finish: the budget, not the count, ends the search.
HYPERBAND_ITERATIONS = 1000
# KerasTuner's statuses of trials that raised while building or training.
FAILED = ("FAILED", "INVALID")
# Keras's warning when weights are loaded into a model whose optimizer has not been built.
OPTIMIZER_NOT_LOADED = "Skipping variable loading for optimizer"


def declare(hp: keras_tuner.HyperParameters, name: str, distribution: Distribution) -> Any:
    """Declares one parameter of a tune-mtl space as KerasTuner's of the same range; returns the
    trial's value.

    Raises:
        ValueError: a grid or conditional (``when:``) parameter, which Hyperband cannot take.
    """
    kind = distribution.kind
    if distribution.when or kind == "grid":
        raise ValueError(
            f"the KerasTuner arm declares plain ranges and choices, but {name!r} is a "
            f"{'conditional' if distribution.when else 'grid'} parameter; run arm (f) on a space "
            "without `when:` or grids (such as search_spaces/default.yaml)."
        )
    if kind == "uniform":
        return hp.Float(name, distribution.low, distribution.high)
    if kind == "loguniform":
        return hp.Float(name, distribution.low, distribution.high, sampling="log")
    if kind == "int":
        low, high = int(distribution.low), int(distribution.high)
        if distribution.log:
            return hp.Int(name, low, high, sampling="log")
        return hp.Int(name, low, high, step=distribution.step)
    return hp.Choice(name, list(distribution.values))


class StopAtDeadline(keras.callbacks.Callback):
    """Ends training at the first epoch end past ``deadline``, a ``time.monotonic`` value (as the
    article's loop, arm (e), ends)."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if time.monotonic() >= self.deadline:
            self.model.stop_training = True


class MultiTaskHyperModel(keras_tuner.HyperModel):
    """The space's parameters on tune-mtl's model, trained on fresh draws of examples per epoch.

    ``epochs_reached`` is the last epoch the latest `fit` trained (cumulative, as Hyperband counts
    a continued trial's epochs).
    """

    def __init__(
        self, space: SearchSpace, data: Dataset, settings: LoopSettings, *, seed: int
    ) -> None:
        super().__init__(name="tune_mtl_default")
        if space.simplex:
            raise ValueError(
                f"{space.path} searches simplex loss weights, which the KerasTuner arm does not "
                "declare; run arm (f) on a space that weighs two tasks with gamma."
            )
        self.space = space
        self.data = data
        self.settings = settings
        self.seed = seed
        self.builder = image_builder(data, settings.model)
        self.epochs_reached = 0

    def config(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        """The trial's hyperparameters as tune-mtl's builder reads them: constants and params."""
        params = {name: declare(hp, name, d) for name, d in self.space.params.items()}
        return {**self.space.constants, **params}

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        return build_model(
            self.builder, self.config(hp), self.data.tasks, sample=self.data.train.head(2),
            decay_steps=decay_steps(self.settings, train_examples=len(self.data.train)),
        )  # fmt: skip

    def fit(
        self,
        hp: keras_tuner.HyperParameters,
        model: keras.Model,
        *args: Any,
        epochs: int,
        initial_epoch: int = 0,
        callbacks: list[keras.callbacks.Callback] | None = None,
        **kwargs: Any,
    ) -> keras.callbacks.History:
        """Trains epochs ``initial_epoch`` to ``epochs``, one `model.fit` per fresh draw, with the
        tuner's callbacks; returns every epoch's logs as one History, as KerasTuner reads it."""
        history = keras.callbacks.History()
        history.history = {}
        self.epochs_reached = initial_epoch
        val = self.data.val
        for epoch in range(initial_epoch, epochs):
            examples = epoch_examples(
                self.data.train,
                epoch=epoch,
                examples_per_epoch=self.settings.examples_per_epoch,
                seed=self.seed,
            )
            done = model.fit(
                **feed(examples, self.settings.batch_size), **validation_feed(val),
                initial_epoch=epoch, epochs=epoch + 1, shuffle=False, callbacks=callbacks,
                verbose=0,
            )  # fmt: skip
            for name, values in done.history.items():
                history.history.setdefault(name, []).append(values[-1])
            self.epochs_reached = epoch + 1
            for name in ("loss", "val_loss"):
                value = float(done.history[name][-1])
                if not math.isfinite(value):
                    raise keras_tuner.errors.FailedTrialError(
                        f"{name} became {value} in epoch {epoch + 1}."
                    )
            if model.stop_training:
                break
        return history


class BudgetedHyperband(keras_tuner.Hyperband):
    """KerasTuner's Hyperband, its oracle as it is, on the benchmark's clock: notes when each
    trial ended (seconds after ``t0``) and the epochs it reached, and starts no trial past
    ``deadline``."""

    hypermodel: MultiTaskHyperModel

    def __init__(
        self, hypermodel: MultiTaskHyperModel, *, t0: float, deadline: float, **kwargs: Any
    ) -> None:
        super().__init__(hypermodel, **kwargs)
        self.t0 = t0
        self.deadline = deadline
        self.ended: dict[str, tuple[float, int]] = {}

    def on_trial_begin(self, trial: Any) -> None:
        super().on_trial_begin(trial)
        self.hypermodel.epochs_reached = 0

    def on_trial_end(self, trial: Any) -> None:
        super().on_trial_end(trial)
        now = time.monotonic()
        epochs = self.hypermodel.epochs_reached
        self.ended[trial.trial_id] = (now - self.t0, epochs)
        print(f"[{now - self.t0:7.1f} s] trial {trial.trial_id} ended ({trial.status}) after "
              f"epoch {epochs}", flush=True)  # fmt: skip
        if now >= self.deadline:
            # The oracle answers STOPPED once it holds max_trials trials: the search returns.
            self.oracle.max_trials = len(self.oracle.trials)


def run_hyperband(
    data: Dataset,
    space: SearchSpace,
    settings: LoopSettings,
    objectives: Objectives,
    *,
    seed: int,
    t0: float,
    budget: float,
    directory: Path,
    name: str,
    iterations: int = HYPERBAND_ITERATIONS,
) -> list[dict[str, Any]]:
    """Searches until ``t0 + budget`` or the end of ``iterations`` Hyperband iterations; returns
    every trial, in the order KerasTuner started them.

    A trial is ``completed`` when it trained to ``settings.max_epochs``, else ``stopped`` (a lower
    rung of Hyperband, or the deadline) or ``failed``; completed trials that ended within the
    budget are evaluated on the test split, after the search.
    """
    keras.utils.set_random_seed(seed)
    tuner = BudgetedHyperband(
        MultiTaskHyperModel(space, data, settings, seed=seed),
        objective=[
            keras_tuner.Objective(task.column("val"), task.direction)
            for task in objectives.objective_tasks
        ],
        max_epochs=settings.max_epochs, hyperband_iterations=iterations, seed=seed,
        directory=str(directory), project_name=name, overwrite=True,
        t0=t0, deadline=t0 + budget,
    )  # fmt: skip
    with warnings.catch_warnings():
        # A trial carried on from a lower rung starts from its predecessor's weights, not from
        # its optimizer's state (KerasTuner's way); Keras warns about that at every one.
        warnings.filterwarnings("ignore", message=OPTIMIZER_NOT_LOADED)
        tuner.search(callbacks=[StopAtDeadline(t0 + budget)], verbose=0)
    trials = []
    for trial_id in tuner.oracle.start_order:
        trial = tuner.oracle.trials[trial_id]
        end, epochs = tuner.ended.get(trial_id, (None, 0))
        if trial.status in FAILED:
            status = "failed"
        else:
            status = "completed" if epochs == settings.max_epochs else "stopped"
        test = None
        if status == "completed" and end is not None and end <= budget:
            with warnings.catch_warnings():  # the optimizer's state, which evaluating never reads
                warnings.filterwarnings("ignore", message=OPTIMIZER_NOT_LOADED)
                model = tuner.load_model(trial)
            metrics = evaluate(model, data.test, data.tasks)
            keras.backend.clear_session()
            test = [metrics[task.column("test")] for task in data.tasks]
        values = trial.hyperparameters.values
        trials.append(
            {
                "id": trial_id,
                "status": status,
                "epochs": epochs,
                "end_s": end,
                "val": [_metric(trial, task.column("val")) for task in data.tasks],
                "test": test,
                "config": {p: values[p] for p in space.params if p in values},
                "resumed_from": values.get("tuner/trial_id"),
            }
        )
    return trials


def _metric(trial: Any, name: str) -> float | None:
    """The metric at the epoch KerasTuner kept (the last value it was given: the best epoch's)."""
    if not trial.metrics.exists(name):
        return None
    value = trial.metrics.get_last_value(name)
    return float(value) if value is not None and math.isfinite(value) else None
