"""One trial as a Ray Tune function trainable: builds or resumes the model, trains, reports.

Every epoch reports both validation accuracies (plus losses, train metrics and epoch seconds) with
a `.keras` checkpoint, so a trial restarted by Ray continues from its last finished epoch.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import ray
from ray import tune

from tune_mtl.data.spec import Split, TaskSpec
from tune_mtl.model import build_model
from tune_mtl.model_config import model_config
from tune_mtl.training import configure_backend, train_epoch

__all__ = ["TrialSettings", "TrialData", "train_trial", "MODEL_FILE"]

MODEL_FILE = "model.keras"
STATE_FILE = "state.json"


@dataclass(frozen=True)
class TrialSettings:
    """What every trial of a search shares."""

    model: str
    max_epochs: int
    batch_size: int
    examples_per_epoch: int | None
    seed: int


@dataclass(frozen=True)
class TrialData:
    """Train and validation splits, put in Ray's object store once for all trials."""

    train: Split
    val: Split
    tasks: tuple[TaskSpec, TaskSpec]


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
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        model, epochs_done = _restore(checkpoint)
    else:
        model = build_model(
            model_config(settings.model, config),
            input_shape=tuple(data.train.images.shape[1:]),
            num_classes=(data.tasks[0].num_classes, data.tasks[1].num_classes),
        )
        epochs_done = 0
    node_id = ray.get_runtime_context().get_node_id()
    for epoch in range(epochs_done, settings.max_epochs):
        metrics = train_epoch(
            model,
            data.train,
            data.val,
            epoch=epoch,
            batch_size=settings.batch_size,
            examples_per_epoch=settings.examples_per_epoch,
            seed=settings.seed,
        )
        with tempfile.TemporaryDirectory() as directory:
            model.save(Path(directory) / MODEL_FILE)
            (Path(directory) / STATE_FILE).write_text(json.dumps({"epochs": epoch + 1}))
            tune.report(
                {**metrics, "epoch": epoch + 1, "node_id": node_id},
                checkpoint=tune.Checkpoint.from_directory(directory),
            )
