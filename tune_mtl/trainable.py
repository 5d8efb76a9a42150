"""One trial as a Ray Tune function trainable: builds or resumes the model, trains, reports.

Every epoch reports every task's validation metric (plus losses, train metrics, the scheduler's
score, epoch seconds and each task's loss weight ``weight_<task>``) with a `.keras` checkpoint, so
a trial restarted by Ray continues from its last finished epoch. A learned loss weighting
(`tune_mtl.weighting`) trains a wrapped model; DWA's weights are set here, between epochs, from
the per-task training losses that the checkpoint's state keeps.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import ray
from ray import tune

from tune_mtl.building import CHECK_EXAMPLES, Builder, build_model
from tune_mtl.data import call_loader
from tune_mtl.data.spec import Split
from tune_mtl.learning_rate import decay_steps
from tune_mtl.objectives import Objectives
from tune_mtl.repeats import SEED_KEY
from tune_mtl.tasks import Task, column
from tune_mtl.training import configure_backend, train_epoch
from tune_mtl.trial_files import REPORT_AGAIN, STATE_FILE
from tune_mtl.weighting import dwa_weights, weight_metrics, weighting_of
from tune_mtl.weighting.model import (
    current_weights,
    epoch_report,
    load_checkpoint,
    save_checkpoint,
    set_weights,
)
from tune_mtl.weights import loss_weights

__all__ = ["TrialSettings", "TrialData", "train_trial", "train_repeat", "RUN_KEY"]

# A repeat trial's only parameter: which run of `train_repeat`'s list it trains.
RUN_KEY = "run"


@dataclass(frozen=True)
class TrialSettings:
    """What every trial of a search shares."""

    build: Builder
    objectives: Objectives
    max_epochs: int
    batch_size: int
    examples_per_epoch: int | None
    seed: int
    learning_rate_schedule: str = "constant"  # one of tune_mtl.learning_rate.SCHEDULES


@dataclass(frozen=True)
class TrialData:
    """Train and validation splits, put in Ray's object store once for all trials; or, for data
    too large for it, the loader each trial calls (with the search's validation seed)."""

    train: Split | None = None
    val: Split | None = None
    loader: Callable[[], Any] | None = None
    val_seed: int = 0

    def splits(self) -> tuple[Split, Split]:
        if self.loader is not None:
            dataset = call_loader(self.loader, name="in the trial").with_validation(
                seed=self.val_seed
            )
            assert dataset.val is not None  # with_validation carves it
            return dataset.train, dataset.val
        if self.train is None or self.val is None:
            raise ValueError("TrialData needs the splits or a loader.")
        return self.train, self.val


def _trial_cpus() -> float:
    resources = tune.get_context().get_trial_resources()
    return float(resources.required_resources.get("CPU", 1.0))


def _restore(checkpoint: tune.Checkpoint) -> tuple[keras.Model, dict[str, Any]]:
    """The model and its state: finished epochs, each epoch's training loss per task (DWA's
    input) and the last epoch's report."""
    with checkpoint.as_directory() as directory:
        model = load_checkpoint(Path(directory))
        state = json.loads((Path(directory) / STATE_FILE).read_text())
    return model, state


def _report(
    model: keras.Model, tasks: Sequence[Task], weights: dict[str, float], state: dict[str, Any]
) -> None:
    """Reports an epoch (``state["report"]``) with a checkpoint of the model and its state."""
    with tempfile.TemporaryDirectory() as directory:
        save_checkpoint(model, Path(directory), tasks, weights=weights)
        (Path(directory) / STATE_FILE).write_text(json.dumps(state))
        tune.report(state["report"], checkpoint=tune.Checkpoint.from_directory(directory))


def train_trial(config: dict[str, Any], *, data: TrialData, settings: TrialSettings) -> None:
    """Trains one configuration for up to ``settings.max_epochs`` epochs, reporting each epoch."""
    configure_backend(cpus=_trial_cpus())
    keras.backend.clear_session()  # an actor reused for a new trial drops the old graph
    # A repeat of a trial (`tune_mtl.repeats`) trains with a seed of its own.
    seed = int(config.get(SEED_KEY, settings.seed))
    keras.utils.set_random_seed(seed)
    train, val = data.splits()
    tasks = settings.objectives.tasks
    task_names = [task.name for task in tasks]
    weighting = weighting_of(config)
    static_weights = loss_weights(config, task_names)
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        model, state = _restore(checkpoint)
        epochs_done, task_losses = int(state["epochs"]), list(state["task_losses"])
        if state.pop(REPORT_AGAIN, False):  # Ray counts on from this epoch, with its checkpoint
            _report(model, tasks, current_weights(model, static_weights), state)
    else:
        model = build_model(
            settings.build, config, tasks, sample=train.head(CHECK_EXAMPLES), seed=seed,
            decay_steps=decay_steps(settings, train_examples=len(train)),
        )  # fmt: skip
        epochs_done, task_losses = 0, []
    node_id = ray.get_runtime_context().get_node_id()
    for epoch in range(epochs_done, settings.max_epochs):
        if weighting.strategy == "dwa":
            next_weights = dwa_weights(task_losses, task_names, temperature=weighting.temperature)
            set_weights(model, next_weights)
        metrics = train_epoch(
            model,
            train,
            val,
            epoch=epoch,
            batch_size=settings.batch_size,
            examples_per_epoch=settings.examples_per_epoch,
            seed=seed,
        )
        metrics[settings.objectives.score_column] = settings.objectives.score(metrics)
        weights = current_weights(model, static_weights)
        metrics.update(weight_metrics(weights))
        metrics.update(epoch_report(model))
        if weighting.strategy == "dwa":
            task_losses.append(
                {name: metrics[column(name, "loss", "train")] for name in task_names}
            )
        report = {**metrics, "epoch": epoch + 1, "node_id": node_id}
        _report(model, tasks, weights,
                {"epochs": epoch + 1, "task_losses": task_losses, "report": report})  # fmt: skip


def train_repeat(
    config: dict[str, Any], *, runs: list[dict[str, Any]], data: TrialData, settings: TrialSettings
) -> None:
    """Trains run ``config[RUN_KEY]`` of ``runs``: a candidate's configuration with its own seed."""
    train_trial(dict(runs[int(config[RUN_KEY])]), data=data, settings=settings)
