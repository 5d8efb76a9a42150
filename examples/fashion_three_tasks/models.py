"""Fashion-MNIST as three tasks, and a small multi-task network: our own code for tune-mtl.

tune-mtl needs two plain functions from us, named in space.yaml (or on the command line) as
``models.py:load`` and ``models.py:build``:

- ``load()`` returns the data: a ``tune_mtl.Dataset`` with one label array per task.
- ``build(hp, tasks)`` returns an uncompiled Keras model with one output per task, named after it.
  tune-mtl compiles it: each task's loss and metric, the searched loss weights, Adam at
  ``hp["learning_rate"]``.

The three tasks of each 28x28 image:

- ``item``: which of the 10 Fashion-MNIST items it is (classification).
- ``group``: tops, footwear or other (classification, 3 classes).
- ``size``: the share of the image the item covers, from 0 to 1: the fraction of pixels brighter
  than ``LIT_THRESHOLD`` (regression, reported as mean absolute error).

The images come from Debian's ``dataset-fashion-mnist`` (/usr/share/datasets/fashion-mnist),
Keras's cache, or Keras's download, in that order. ``load`` takes the first ``TRAIN_IMAGES``
training and ``TEST_IMAGES`` test images: by default all of them (60,000 and 10,000). For a
quicker try, set the environment variables ``FASHION_TRAIN_IMAGES`` and ``FASHION_TEST_IMAGES``
to fewer, e.g. ``FASHION_TRAIN_IMAGES=2000 FASHION_TEST_IMAGES=500``.
"""

from __future__ import annotations

import os

import keras
import numpy as np

import tune_mtl
from tune_mtl.data import fashion_mnist

TRAIN_IMAGES = int(os.environ.get("FASHION_TRAIN_IMAGES", "60000"))
TEST_IMAGES = int(os.environ.get("FASHION_TEST_IMAGES", "10000"))
# A pixel is part of the item when it is brighter than this (0 is black, 255 white).
LIT_THRESHOLD = 32

TASKS = [
    tune_mtl.Task("item", classes=fashion_mnist.ITEMS),
    tune_mtl.Task("group", classes=fashion_mnist.GROUPS),
    tune_mtl.Task("size", kind="regression"),
]


def item_size(images: np.ndarray) -> np.ndarray:
    """The fraction of each image's pixels that belong to the item, in [0, 1]."""
    lit = images > LIT_THRESHOLD
    return lit.reshape(len(images), -1).mean(axis=1)


def labels(images: np.ndarray, items: np.ndarray) -> dict[str, np.ndarray]:
    """One label array per task, keyed by task name."""
    return {
        "item": items,
        "group": fashion_mnist.GROUP_OF_ITEM[items],
        "size": item_size(images),
    }


def load() -> tune_mtl.Dataset:
    """The data: train and test splits. tune-mtl holds out 10% of train for validation."""
    train_images, train_items, test_images, test_items = fashion_mnist.load_arrays()
    train_images, train_items = train_images[:TRAIN_IMAGES], train_items[:TRAIN_IMAGES]
    test_images, test_items = test_images[:TEST_IMAGES], test_items[:TEST_IMAGES]
    return tune_mtl.Dataset.from_arrays(
        train=(train_images, labels(train_images, train_items)),
        test=(test_images, labels(test_images, test_items)),
        tasks=TASKS,
        name="fashion_three_tasks",
    )


def build(hp, tasks):
    """A small conv encoder, one shared dense layer, and one output per task.

    ``hp`` holds this trial's hyperparameters from space.yaml; ``tasks`` are the data's tasks,
    in order.
    """
    images = keras.Input(shape=(28, 28, 1), dtype="uint8", name="image")
    x = keras.layers.Rescaling(1.0 / 255.0)(images)
    x = keras.layers.Conv2D(16, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    shared = keras.layers.Dense(hp.get("shared_width", 64), activation="relu", name="shared")(x)

    outputs = {}
    for task in tasks:
        if task.kind == "regression":
            # One linear unit: the predicted size.
            outputs[task.name] = keras.layers.Dense(1, name=task.name)(shared)
        else:
            # A softmax over the task's classes.
            outputs[task.name] = keras.layers.Dense(
                len(task.classes), activation="softmax", name=task.name
            )(shared)
    return keras.Model(images, outputs, name="fashion_three_tasks")
