"""A user's own three-task problem, as a user writes it: the loader and builder the tests search.

Each example is 12 numbers; `colour` is the largest of the first three (3 classes), `parity` whether
the fourth is positive (2 classes), and `size` is the sum of the last four (regression). Bad
builders and loaders below each break one rule that tune-mtl checks before anything runs.
"""

from __future__ import annotations

import keras
import numpy as np

from tune_mtl import Dataset, Task

TASKS = [
    Task("colour", classes=["red", "green", "blue"]),
    Task("parity", classes=["negative", "positive"]),
    Task("size", kind="regression"),
]


def arrays(n: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    x = np.random.default_rng(seed).normal(size=(n, 12)).astype("float32")
    labels = {
        "colour": np.argmax(x[:, :3], axis=1),
        "parity": (x[:, 3] > 0).astype(int),
        "size": x[:, 8:].sum(axis=1),
    }
    return x, labels


def load() -> Dataset:
    return Dataset.from_arrays(train=arrays(200, 0), test=arrays(60, 1), tasks=TASKS)


def build(hp, tasks) -> keras.Model:
    inputs = keras.Input(shape=(12,), name="features")
    shared = keras.layers.Dense(hp.get("shared_width", 16), activation="relu")(inputs)
    outputs = {}
    for task in tasks:
        if task.kind == "regression":
            outputs[task.name] = keras.layers.Dense(1, name=task.name)(shared)
        else:
            outputs[task.name] = keras.layers.Dense(
                len(task.classes), activation="softmax", name=task.name
            )(shared)
    return keras.Model(inputs, outputs)


def build_list(hp, tasks) -> keras.Model:
    """Outputs as a list, each layer named after its task: also accepted."""
    model = build(hp, tasks)
    return keras.Model(model.inputs, [model.outputs[i] for i in range(len(tasks))])


def _heads(shared, tasks, *, units=None, skip=(), extra=False):
    outputs = {
        task.name: keras.layers.Dense(units or (len(task.classes) or 1), name=task.name)(shared)
        for task in tasks
        if task.name not in skip
    }
    if extra:
        outputs["colour_logits"] = keras.layers.Dense(3, name="colour_logits")(shared)
    return outputs


def _model(**heads) -> keras.Model:
    inputs = keras.Input(shape=(12,))
    shared = keras.layers.Dense(8)(inputs)
    return keras.Model(inputs, _heads(shared, TASKS, **heads))


def build_missing_output(hp, tasks):
    return _model(skip=("size",))


def build_extra_output(hp, tasks):
    return _model(extra=True)


def build_wrong_shape(hp, tasks):
    return _model(units=3)


def build_logits(hp, tasks):
    """`colour` without its softmax: logits, which the cross-entropy would read as probabilities."""
    inputs = keras.Input(shape=(12,), name="features")
    shared = keras.layers.Dense(16, activation="relu")(inputs)
    return keras.Model(inputs, {
        "colour": keras.layers.Dense(3, name="colour")(shared),
        "parity": keras.layers.Dense(2, activation="softmax", name="parity")(shared),
        "size": keras.layers.Dense(1, name="size")(shared),
    })  # fmt: skip


def build_nan(hp, tasks):
    """`size` divides by zero: NaN and infinities before any training."""
    inputs = keras.Input(shape=(12,), name="features")
    shared = keras.layers.Dense(16, activation="relu")(inputs)
    size = keras.layers.Dense(1)(shared)
    return keras.Model(inputs, {
        "colour": keras.layers.Dense(3, activation="softmax", name="colour")(shared),
        "parity": keras.layers.Dense(2, activation="softmax", name="parity")(shared),
        "size": keras.layers.Lambda(lambda x: x / 0.0, name="size")(size),
    })  # fmt: skip


def build_compiled(hp, tasks):
    model = build(hp, tasks)
    model.compile(optimizer="adam", loss="mse")
    return model


def build_raises(hp, tasks):
    raise RuntimeError("no GPU found for the big model")


def build_nothing(hp, tasks):
    return None


def build_wrong_input(hp, tasks):
    inputs = keras.Input(shape=(5,))
    return keras.Model(inputs, _heads(keras.layers.Dense(8)(inputs), tasks))


def load_different_lengths() -> Dataset:
    x, labels = arrays(200, 0)
    return Dataset.from_arrays(train=(x[:150], labels), test=arrays(60, 1), tasks=TASKS)


def load_label_outside_classes() -> Dataset:
    x, labels = arrays(200, 0)
    labels["colour"][7] = 3
    return Dataset.from_arrays(train=(x, labels), test=arrays(60, 1), tasks=TASKS)


def load_nan_target() -> Dataset:
    x, labels = arrays(200, 0)
    labels["size"][11] = np.nan
    return Dataset.from_arrays(train=(x, labels), test=arrays(60, 1), tasks=TASKS)


def load_task_without_labels() -> Dataset:
    x, labels = arrays(200, 0)
    del labels["parity"]
    return Dataset.from_arrays(train=(x, labels), test=arrays(60, 1), tasks=TASKS)


def load_arrays_only():
    return arrays(200, 0)


def load_raises() -> Dataset:
    raise FileNotFoundError("/data/train.npz")
