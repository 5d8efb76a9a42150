"""One trial as a Ray Tune function trainable: builds or resumes the model, trains, reports.

Every epoch reports every task's validation metric (plus losses, train metrics, the scheduler's
score and epoch seconds) with a `.keras` checkpoint, so a trial restarted by Ray continues from its
last finished epoch.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import ray
from ray import tune

from tune_mtl.building import Builder, build_model
from tune_mtl.data import call_loader
from tune_mtl.data.spec import Split
from tune_mtl.objectives import Objectives
from tune_mtl.training import configure_backend, train_epoch
from tune_mtl.trial_files import MODEL_FILE, STATE_FILE

__all__ = ["TrialSettings", "TrialData", "train_trial"]


@dataclass(frozen=True)
class TrialSettings:
    """What every trial of a search shares."""

    build: Builder
    objectives: Objectives
    max_epochs: int
    batch_size: int
    examples_per_epoch: int | None
    seed: int


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


def _restore(checkpoint: tune.Checkpoint) -> tuple[keras.Model, int]:
    with checkpoint.as_directory() as directory:
        model = keras.models.load_model(Path(directory) / MODEL_FILE)
        epochs_done = json.loads((Path(directory) / STATE_FILE).read_text())["epochs"]
    return model, int(epochs_done)


def train_trial(config: dict[str, Any], *, data: TrialData, settings: TrialSettings) -> None:
    """Trains one configuration for up to ``settings.max_epochs`` epochs, reporting each epoch."""
    configure_backend(cpus=_trial_cpus())
    keras.backend.clear_session()  # an actor reused for a new trial drops the old graph
    keras.utils.set_random_seed(settings.seed)
    train, val = data.splits()
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        model, epochs_done = _restore(checkpoint)
    else:
        model = build_model(settings.build, config, settings.objectives.tasks, sample=train.head(2))
        epochs_done = 0
    node_id = ray.get_runtime_context().get_node_id()
    for epoch in range(epochs_done, settings.max_epochs):
        metrics = train_epoch(
            model,
            train,
            val,
            epoch=epoch,
            batch_size=settings.batch_size,
            examples_per_epoch=settings.examples_per_epoch,
            seed=settings.seed,
        )
        metrics[settings.objectives.score_column] = settings.objectives.score(metrics)
        with tempfile.TemporaryDirectory() as directory:
            model.save(Path(directory) / MODEL_FILE)
            (Path(directory) / STATE_FILE).write_text(json.dumps({"epochs": epoch + 1}))
            tune.report(
                {**metrics, "epoch": epoch + 1, "node_id": node_id},
                checkpoint=tune.Checkpoint.from_directory(directory),
            )
