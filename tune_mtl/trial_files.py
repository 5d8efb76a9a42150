"""What a finished search's trial folders hold, read without Ray: epoch results and checkpoints.

Ray Tune writes one folder per trial, ``trial_ID/`` (the search names them so), holding
``result.json`` (one JSON line per reported epoch), ``params.json`` (the trial's configuration) and
``checkpoint_NNNNNN/`` folders with the `.keras` model. The search keeps only each trial's latest
checkpoint, so a trial's checkpoint is the model at its last epoch: the one whose accuracies
``trials.csv`` and ``pareto.csv`` record.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tune_mtl.errors import TuneMtlError

__all__ = [
    "TrialCheckpoint",
    "trial_dir",
    "epoch_history",
    "epoch_histories",
    "trial_config",
    "latest_checkpoint",
    "count_parameters",
]

RESULT_FILE = "result.json"
PARAMS_FILE = "params.json"
MODEL_FILE = "model.keras"  # the trainable's name for the model inside a checkpoint
# A learned weighting's wrapper with its optimizer, for resuming (tune_mtl.weighting.model).
TRAINING_FILE = "training.keras"
STATE_FILE = "state.json"  # the trainable's: epochs, DWA's task losses, the last epoch's report
# Set in a checkpoint's state that stands in for one Ray deleted (tune_mtl.experiment_state): the
# trial resumed from it reports its epoch again, so that Ray counts on from there.
REPORT_AGAIN = "report_again"
WEIGHTS_MEMBER = "model.weights.h5"


@dataclass(frozen=True)
class TrialCheckpoint:
    """A trial's saved model and the number of epochs it had trained."""

    path: Path
    epochs: int


def trial_dir(experiment: Path, trial_id: str) -> Path:
    return Path(experiment) / f"trial_{trial_id}"


def epoch_history(experiment: Path, trial_id: str) -> pd.DataFrame:
    """One row per reported epoch, in order, with every metric the trial reported.

    A trial restored by Ray may report an epoch twice; the later report wins. A trial that never
    reported gives an empty frame.
    """
    path = trial_dir(experiment, trial_id) / RESULT_FILE
    if not path.is_file():
        return pd.DataFrame()
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        return pd.DataFrame()
    history = pd.DataFrame(rows)
    history = history.drop_duplicates("training_iteration", keep="last")
    return history.sort_values("training_iteration").reset_index(drop=True)


def epoch_histories(experiment: Path, trial_ids: Iterable[str]) -> dict[str, pd.DataFrame]:
    return {trial_id: epoch_history(experiment, trial_id) for trial_id in trial_ids}


def trial_config(experiment: Path, trial_id: str) -> dict[str, Any]:
    """The configuration Ray ran the trial with: searched values and the space's constants."""
    path = trial_dir(experiment, trial_id) / PARAMS_FILE
    if not path.is_file():
        raise TuneMtlError(f"{path} does not exist; is {experiment} a finished search's folder?")
    config: dict[str, Any] = json.loads(path.read_text())
    return config


def latest_checkpoint(experiment: Path, trial_id: str) -> TrialCheckpoint:
    """The trial's last saved model; a trial that failed before its first epoch has none."""
    folder = trial_dir(experiment, trial_id)
    checkpoints = sorted(folder.glob(f"checkpoint_*/{MODEL_FILE}"))
    if not checkpoints:
        raise TuneMtlError(
            f"trial {trial_id} has no checkpoint in {folder}; it failed before its first epoch "
            "ended, or the folder was moved. Choose another trial (see trials.csv)."
        )
    model = checkpoints[-1]  # checkpoint_NNNNNN: zero-padded, so names sort by epoch
    state_file = model.parent / STATE_FILE
    epochs = int(json.loads(state_file.read_text())["epochs"]) if state_file.is_file() else -1
    return TrialCheckpoint(model, epochs)


def count_parameters(keras_file: Path) -> int:
    """Weights in a `.keras` file's layers (not the optimizer's), read without loading Keras.

    Equals ``keras.Model.count_params()`` of the loaded model: the file's weights archive keeps
    layer variables under ``layers/`` and the optimizer's under ``optimizer/``.
    """
    import io

    import h5py

    with zipfile.ZipFile(keras_file) as archive:
        weights = io.BytesIO(archive.read(WEIGHTS_MEMBER))
    total = 0

    def add(_: str, node: Any) -> None:
        nonlocal total
        if isinstance(node, h5py.Dataset):
            total += int(node.size)

    with h5py.File(weights, "r") as store:
        if "layers" in store:
            store["layers"].visititems(add)
    return total
