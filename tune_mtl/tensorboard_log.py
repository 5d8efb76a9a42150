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

from tune_mtl.space import Distribution

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


def scalar_tags(task_names: tuple[str, str]) -> dict[str, str]:
    """Maps each reported metric to its TensorBoard tag, named with the task names."""
    tags = {}
    for index, task in enumerate(task_names, start=1):
        for kind in ("accuracy", "loss"):
            tags[f"task{index}_{kind}"] = f"{task}/train_{kind}"
            tags[f"val_task{index}_{kind}"] = f"{task}/val_{kind}"
    tags.update(
        loss="joint/train_loss",
        val_loss="joint/val_loss",
        learning_rate="learning_rate",
        epoch_seconds="epoch_seconds",
    )
    return tags


class TrialWriter:
    """Writes one trial's scalars, one step per epoch; a resumed trial continues its curves."""

    def __init__(
        self,
        logdir: Path,
        *,
        task_names: tuple[str, str],
        hparams: Mapping[str, Any],
        trial_id: str,
        new_session: bool,
    ) -> None:
        self._writer = tf.summary.create_file_writer(str(logdir))
        self._tags = scalar_tags(task_names)
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


def metric_tags(task_names: tuple[str, str]) -> list[str]:
    """The HParams dashboard's metrics: accuracies of each task, epochs, and early stopping."""
    return [
        *(f"{task}/val_accuracy" for task in task_names),
        *(f"{task}/test_accuracy" for task in task_names),
        "epochs",
        "stopped_early",
    ]


def write_experiment_config(
    root: Path,
    *,
    params: Mapping[str, Distribution],
    constants: Mapping[str, Any],
    task_names: tuple[str, str],
) -> None:
    """Declares every hyperparameter with its domain and the metrics, once per search."""
    hparams = [hp.HParam(name, _domain(spec)) for name, spec in params.items()]
    hparams += [hp.HParam(name, hp.Discrete([value])) for name, value in constants.items()]
    writer = tf.summary.create_file_writer(str(root))
    with writer.as_default():
        hp.hparams_config(
            hparams=hparams, metrics=[hp.Metric(tag) for tag in metric_tags(task_names)]
        )
    writer.close()


def write_trial_end(
    logdir: Path,
    *,
    status: str,
    epochs: int,
    task_names: tuple[str, str],
    test_accuracies: tuple[float, float] | None = None,
) -> None:
    """Closes a trial's HParams session with its status, epochs and, for front members, test
    accuracies."""
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        tf.summary.scalar("epochs", epochs, step=epochs)
        tf.summary.scalar("stopped_early", float(status == "stopped"), step=epochs)
        if test_accuracies is not None:
            for task, accuracy in zip(task_names, test_accuracies, strict=True):
                tf.summary.scalar(f"{task}/test_accuracy", accuracy, step=epochs)
        end = hparams_summary.session_end_pb(SESSION_STATUS.get(status, api_pb2.STATUS_UNKNOWN))
        tf.summary.experimental.write_raw_pb(end.SerializeToString(), step=epochs)
    writer.close()


def write_trial_ends(
    root: Path, trials: pd.DataFrame, front: pd.DataFrame, *, task_names: tuple[str, str]
) -> None:
    """Closes every trial's session; front members also get their test accuracies."""
    test_accuracies = front.set_index("trial_id")[["test_task1_accuracy", "test_task2_accuracy"]]
    for trial in trials.itertuples():
        in_front = trial.trial_id in test_accuracies.index
        write_trial_end(
            root / f"trial_{trial.trial_id}",
            status=trial.status,
            epochs=int(trial.epochs),
            task_names=task_names,
            test_accuracies=tuple(test_accuracies.loc[trial.trial_id]) if in_front else None,
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
