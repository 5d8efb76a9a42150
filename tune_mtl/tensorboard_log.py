"""TensorBoard event files for a search: per-trial scalars, the HParams dashboard, search curves.

Layout under ``results/NAME/tensorboard/``: one run per trial (``trial_ID/``) holding its epoch
scalars and HParams session, the HParams experiment config at the root, and ``search/`` with the
front size and hypervolume over finished trials. Writes TensorFlow summaries only; no Ray or Optuna.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import summary as hparams_summary

from tune_mtl.objectives import Objectives
from tune_mtl.space import Distribution
from tune_mtl.tasks import SCORE_COLUMN, column
from tune_mtl.trial_files import trial_dir
from tune_mtl.weighting import LOG_VARIANCE_PREFIX
from tune_mtl.weights import WEIGHT_PREFIX

__all__ = [
    "TENSORBOARD_DIR",
    "TrialWriter",
    "scalar_tags",
    "write_experiment_config",
    "write_trial_end",
    "write_trial_ends",
    "SearchWriter",
]

TENSORBOARD_DIR = "tensorboard"
# The HParams plugin knows no "stopped" status; the `stopped_early` metric tells those apart.
SESSION_STATUS = {
    "completed": api_pb2.STATUS_SUCCESS,
    "stopped": api_pb2.STATUS_SUCCESS,
    "failed": api_pb2.STATUS_FAILURE,
}


def scalar_tags(objectives: Objectives) -> dict[str, str]:
    """Maps each reported metric to its TensorBoard tag, named with the task names."""
    tags = {}
    for task in objectives.tasks:
        for metric in (task.metric, "loss"):
            tags[column(task.name, metric, "train")] = f"{task.name}/train_{metric}"
            tags[column(task.name, metric, "val")] = f"{task.name}/val_{metric}"
        # The task's loss weight in that epoch, and uncertainty weighting's log-variance.
        tags[f"{WEIGHT_PREFIX}{task.name}"] = f"{task.name}/weight"
        tags[f"{LOG_VARIANCE_PREFIX}{task.name}"] = f"{task.name}/log_variance"
    tags.update(
        loss="joint/train_loss",
        val_loss="joint/val_loss",
        learning_rate="learning_rate",
        epoch_seconds="epoch_seconds",
    )
    tags[SCORE_COLUMN] = "joint/val_score"
    return tags


class TrialWriter:
    """Writes one trial's scalars, one step per epoch; a resumed trial continues its curves."""

    def __init__(
        self,
        logdir: Path,
        *,
        objectives: Objectives,
        hparams: Mapping[str, Any],
        trial_id: str,
        new_session: bool,
    ) -> None:
        self._writer = tf.summary.create_file_writer(str(logdir))
        self._tags = scalar_tags(objectives)
        if new_session:
            with self._writer.as_default():
                hp.hparams(dict(hparams), trial_id=trial_id)

    def epoch(self, step: int, metrics: Mapping[str, float]) -> None:
        with self._writer.as_default():
            for key, tag in self._tags.items():
                if key in metrics:
                    tf.summary.scalar(tag, metrics[key], step=step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def _domain(spec: Distribution) -> hp.Domain:
    if spec.kind in ("choice", "grid"):
        return hp.Discrete(list(spec.values))
    if spec.kind == "int":
        return hp.IntInterval(int(spec.low), int(spec.high))
    return hp.RealInterval(float(spec.low), float(spec.high))


def metric_tags(objectives: Objectives) -> list[str]:
    """The HParams dashboard's metrics: each task's validation and test metric, epochs, and early
    stopping."""
    return [
        *(f"{task.name}/val_{task.metric}" for task in objectives.tasks),
        *(f"{task.name}/test_{task.metric}" for task in objectives.tasks),
        "epochs",
        "stopped_early",
    ]


def write_experiment_config(
    root: Path,
    *,
    params: Mapping[str, Distribution],
    constants: Mapping[str, Any],
    objectives: Objectives,
) -> None:
    """Declares every hyperparameter with its domain and the metrics, once per search."""
    hparams = [hp.HParam(name, _domain(spec)) for name, spec in params.items()]
    hparams += [hp.HParam(name, hp.Discrete([value])) for name, value in constants.items()]
    writer = tf.summary.create_file_writer(str(root))
    with writer.as_default():
        hp.hparams_config(
            hparams=hparams, metrics=[hp.Metric(tag) for tag in metric_tags(objectives)]
        )
    writer.close()


def write_trial_end(
    logdir: Path,
    *,
    status: str,
    epochs: int,
    test_metrics: Mapping[str, float] | None = None,
) -> None:
    """Closes a trial's HParams session with its status, epochs and, for front members, each
    task's test metric (tags as `metric_tags` names them)."""
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        tf.summary.scalar("epochs", epochs, step=epochs)
        tf.summary.scalar("stopped_early", float(status == "stopped"), step=epochs)
        for tag, value in (test_metrics or {}).items():
            tf.summary.scalar(tag, value, step=epochs)
        end = hparams_summary.session_end_pb(SESSION_STATUS.get(status, api_pb2.STATUS_UNKNOWN))
        tf.summary.experimental.write_raw_pb(end.SerializeToString(), step=epochs)
    writer.close()


def write_trial_ends(
    root: Path, trials: pd.DataFrame, front: pd.DataFrame, *, objectives: Objectives
) -> None:
    """Closes every trial's session; front members also get their test metrics."""
    tags = {task.column("test"): f"{task.name}/test_{task.metric}" for task in objectives.tasks}
    present = [c for c in tags if c in front.columns]
    tested = front.set_index("trial_id")[present]
    for trial in trials.itertuples():
        in_front = trial.trial_id in tested.index
        write_trial_end(
            trial_dir(root, trial.trial_id),
            status=trial.status,
            epochs=int(trial.epochs),
            test_metrics=(
                {tags[c]: float(v) for c, v in tested.loc[trial.trial_id].items()}
                if in_front
                else None
            ),
        )


class SearchWriter:
    """Search-level curves: front size and hypervolume against the number of finished trials."""

    def __init__(self, logdir: Path) -> None:
        self._logdir = logdir
        self._writer: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles the callbacks with the experiment state; a TF writer cannot be pickled.
        return {"_logdir": self._logdir, "_writer": None}

    def finished(self, count: int, *, front_size: int, hypervolume: float) -> None:
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self._logdir))
        with self._writer.as_default():
            tf.summary.scalar("search/front_size", front_size, step=count)
            tf.summary.scalar("search/val_hypervolume", hypervolume, step=count)
        self._writer.flush()
