"""One trial's Keras work: thread and memory set-up, the data's feed, one epoch of training, test
evaluation.

Knows nothing of Ray or Optuna; `tune_mtl.trainable` drives it from a Ray Tune trial. Metric names
are Keras's own for a model whose outputs are named after the tasks (``item_accuracy``,
``val_size_mae``), which `tune_mtl.tasks.column` spells.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from tune_mtl.data.spec import Split
from tune_mtl.errors import TrialDivergedError
from tune_mtl.tasks import Task, column

__all__ = [
    "configure_backend",
    "epoch_examples",
    "feed",
    "validation_feed",
    "train_epoch",
    "evaluate",
]

EVAL_BATCH_SIZE = 1024


def configure_backend(*, cpus: float) -> None:
    """Caps TensorFlow's threads at the trial's CPUs and turns on GPU memory growth.

    Must run before TensorFlow first executes an op; later calls with the same CPUs are no-ops.
    """
    if keras.config.backend() != "tensorflow":
        return
    import tensorflow as tf

    threads = max(1, int(math.ceil(cpus)))
    if tf.config.threading.get_intra_op_parallelism_threads() != threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    # Trials sharing a GPU (fractional --gpus-per-trial) only fit if none grabs all its memory.
    for gpu in tf.config.list_physical_devices("GPU"):
        if not tf.config.experimental.get_memory_growth(gpu):
            tf.config.experimental.set_memory_growth(gpu, True)


def epoch_examples(train: Split, *, epoch: int, examples_per_epoch: int | None, seed: int) -> Split:
    """The examples of epoch ``epoch`` in the order they are trained: all of ``train``, or
    ``examples_per_epoch`` of them drawn without replacement, shuffled by a draw seeded per epoch
    (the same for the same seed and epoch, so a resumed trial sees what one that never stopped
    sees)."""
    rng = np.random.default_rng([seed, epoch])
    if examples_per_epoch is None or examples_per_epoch >= len(train):
        return train.take(rng.permutation(len(train)))
    return train.take(rng.choice(len(train), examples_per_epoch, replace=False))


def _dataset(split: Split, batch_size: int) -> Any:
    """Under TensorFlow, ``split`` as a `tf.data` pipeline of batches, in order, without
    autotuning; None under other backends, which take the arrays.

    For arrays Keras builds a pipeline with autotuned prefetching, whose tuning thread can hold up
    the pipeline's deletion at the end of a ``fit`` by up to 10 s: 10 s epochs took 20 s in Ray
    workers.
    """
    if keras.config.backend() != "tensorflow":
        return None
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    dataset = tf.data.Dataset.from_tensor_slices((split.inputs, split.labels))
    return dataset.batch(batch_size).with_options(options)


def feed(split: Split, batch_size: int) -> dict[str, Any]:
    """Keyword arguments that give ``split`` to `fit` or `evaluate` in batches of ``batch_size``,
    in order (`fit` also needs ``shuffle=False``)."""
    dataset = _dataset(split, batch_size)
    if dataset is None:
        return {"x": split.inputs, "y": split.labels, "batch_size": batch_size}
    return {"x": dataset}


def validation_feed(val: Split) -> dict[str, Any]:
    """Keyword arguments that give ``val`` to `fit` as its validation data."""
    dataset = _dataset(val, EVAL_BATCH_SIZE)
    if dataset is None:
        return {
            "validation_data": (val.inputs, val.labels),
            "validation_batch_size": EVAL_BATCH_SIZE,
        }
    return {"validation_data": dataset}


def train_epoch(
    model: keras.Model,
    train: Split,
    val: Split,
    *,
    epoch: int,
    batch_size: int,
    examples_per_epoch: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Trains one epoch; returns Keras's train and validation losses and metrics of every task.

    An epoch is `epoch_examples`: with ``examples_per_epoch``, that many examples drawn without
    replacement; in an order seeded per epoch, so a resumed trial sees the same data as one that
    never stopped.

    Raises:
        TrialDivergedError: a training or validation loss is NaN or infinite.
    """
    subset = epoch_examples(train, epoch=epoch, examples_per_epoch=examples_per_epoch, seed=seed)
    started = time.perf_counter()
    history = model.fit(
        **feed(subset, batch_size), **validation_feed(val), epochs=1, shuffle=False, verbose=0
    )
    seconds = time.perf_counter() - started
    metrics = {name: float(values[-1]) for name, values in history.history.items()}
    for name in ("loss", "val_loss"):
        if not math.isfinite(metrics[name]):
            raise TrialDivergedError(
                f"{name} became {metrics[name]} in epoch {epoch + 1}; "
                "lower the learning rate range in the search space."
            )
    metrics["epoch_seconds"] = seconds
    metrics["learning_rate"] = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    return metrics


def evaluate(
    model: keras.Model, split: Split, tasks: Sequence[Task], *, prefix: str = "test"
) -> dict[str, float]:
    """Each task's metric and loss on ``split``: ``{"test_item_accuracy": ..., "test_item_loss":
    ...}``."""
    results = model.evaluate(**feed(split, EVAL_BATCH_SIZE), verbose=0, return_dict=True)
    values = {}
    for task in tasks:
        for metric in (task.metric, "loss"):
            values[column(task.name, metric, prefix)] = float(results[f"{task.name}_{metric}"])
    return values
