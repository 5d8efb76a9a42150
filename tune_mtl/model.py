"""The built-in multi-task networks, written as any user's builder: ``build(hp, tasks)``.

All take images (``(height, width, channels)`` uint8), rescale them, run a conv trunk and a shared
dense layer, then one output per task, named after the task (`small` and `seed` through a dense
branch per task; `lenet`, Pareto MTL's network, straight from the shared layer). They use
keras.layers only, so they run on any Keras backend. Hyperparameters they read (all optional):

- ``trunk_filters``: filters of the first conv layer; later layers keep the preset's ratio.
- ``shared_width``: units of the shared dense layer.
- ``branch_width``: units of the first layer of every branch; ``<task>_width`` sets one task's
  (not read by `lenet`, which has no branches).
- ``dropout``: rate after the shared layer and after every branch layer.
- ``padding``: ``same`` or ``valid``, the trunk's convs in `small` and `seed` (default: the
  preset's); a same-padded conv keeps its input's size, an unpadded one shrinks it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras

from tune_mtl.errors import TuneMtlError
from tune_mtl.tasks import Task

__all__ = ["BUILDERS", "Preset", "build_small", "build_seed", "build_lenet", "output_layer"]


@dataclass(frozen=True)
class Preset:
    """A conv trunk of 3x3 convs with 2x2 pools, a shared layer, dense branches."""

    trunk_filters: tuple[int, ...]
    shared_width: int
    branch_units: tuple[int, ...]
    padding: str


# Same-padded: on 2 cores the default search ends sooner and more accurate than with unpadded
# convs, whose smaller maps leave the shared layer fewer inputs (docs/make-search-padded.md).
SMALL = Preset(trunk_filters=(16, 32), shared_width=128, branch_units=(64,), padding="same")
# The article's network: Conv 32, 64, 128 with 2x2 pools, Dense 3136, branches 1024 -> 100.
SEED = Preset(
    trunk_filters=(32, 64, 128), shared_width=3136, branch_units=(1024, 100), padding="valid"
)


def output_layer(task: Task, x: Any) -> Any:
    """The output a task needs: a softmax over its classes, one sigmoid unit, or one linear unit."""
    activation = {"classification": "softmax", "binary": "sigmoid", "regression": None}[task.kind]
    return keras.layers.Dense(task.units, activation=activation, name=task.name)(x)


PADDINGS = ("valid", "same")


def _check_image_size(
    input_shape: tuple[int, ...], kernel_sizes: Sequence[int], *, padding: str = "valid"
) -> None:
    """Refuses inputs that are not images, or too small for the convs and 2x2 pools."""
    if len(input_shape) != 3:
        raise TuneMtlError(
            f"the built-in models take images of shape (height, width, channels), but the inputs "
            f"have shape {input_shape}; write your own builder (--model file.py:build)."
        )
    side = min(input_shape[:2])
    for kernel in kernel_sizes:
        shrink = kernel - 1 if padding == "valid" else 0
        side = (side - shrink) // 2  # a conv, then a 2x2 pool
    if side < 1:
        raise TuneMtlError(
            f"images of {input_shape[0]}x{input_shape[1]} pixels are too small for "
            f"{len(kernel_sizes)} conv layers; use a model with fewer trunk_filters layers."
        )


def _build(
    preset: Preset, hp: Mapping[str, Any], tasks: Sequence[Task], input_shape: tuple[int, ...]
) -> keras.Model:
    first = int(hp.get("trunk_filters", preset.trunk_filters[0]))
    filters = [max(1, round(first * f / preset.trunk_filters[0])) for f in preset.trunk_filters]
    dropout = float(hp.get("dropout", 0.0))
    padding = str(hp.get("padding", preset.padding))
    if padding not in PADDINGS:
        raise TuneMtlError(
            f"padding is {padding!r}, but the built-in models take {' or '.join(PADDINGS)}; "
            f"set padding to one of them in the space file."
        )
    _check_image_size(input_shape, [3] * len(filters), padding=padding)
    inputs = keras.Input(shape=input_shape, dtype="uint8", name="image")
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    for count in filters:
        x = keras.layers.Conv2D(count, 3, padding=padding, activation="relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    shared_width = int(hp.get("shared_width", preset.shared_width))
    shared = keras.layers.Dense(shared_width, activation="relu", name="shared")(x)
    shared = keras.layers.Dropout(dropout)(shared)
    outputs = {}
    for task in tasks:
        first_units = int(
            hp.get(f"{task.name}_width", hp.get("branch_width", preset.branch_units[0]))
        )
        y = shared
        for depth, units in enumerate((first_units, *preset.branch_units[1:])):
            y = keras.layers.Dense(units, activation="relu", name=f"{task.name}_dense{depth}")(y)
            y = keras.layers.Dropout(dropout)(y)
        outputs[task.name] = output_layer(task, y)
    return keras.Model(inputs, outputs, name="multi_task")


def build_small(
    hp: Mapping[str, Any], tasks: Sequence[Task], *, input_shape: tuple[int, ...]
) -> keras.Model:
    """`small`: Conv 16, 32, shared Dense 128, branches of 64; cheap enough for CPUs."""
    return _build(SMALL, hp, tasks, input_shape)


def build_seed(
    hp: Mapping[str, Any], tasks: Sequence[Task], *, input_shape: tuple[int, ...]
) -> keras.Model:
    """`seed`: the article's network."""
    return _build(SEED, hp, tasks, input_shape)


# Pareto MTL's LeNet (Lin et al., NeurIPS 2019), the network of the Multi-Fashion benchmark.
LENET_FILTERS = (10, 20)
LENET_KERNELS = (9, 5)
LENET_SHARED_WIDTH = 50


def build_lenet(
    hp: Mapping[str, Any], tasks: Sequence[Task], *, input_shape: tuple[int, ...]
) -> keras.Model:
    """`lenet`: Pareto MTL's network for Multi-Fashion: Conv 10 9x9, pool, Conv 20 5x5, pool,
    shared Dense 50, and each task's output straight from the shared layer (no branches).

    Reads ``trunk_filters`` (first conv, default 10; the second keeps twice as many),
    ``shared_width`` (default 50) and ``dropout`` (after the shared layer, default 0); without
    them it is the papers' network.
    """
    first = int(hp.get("trunk_filters", LENET_FILTERS[0]))
    filters = [max(1, round(first * f / LENET_FILTERS[0])) for f in LENET_FILTERS]
    _check_image_size(input_shape, LENET_KERNELS)
    inputs = keras.Input(shape=input_shape, dtype="uint8", name="image")
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    for count, kernel in zip(filters, LENET_KERNELS, strict=True):
        x = keras.layers.Conv2D(count, kernel, activation="relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    width = int(hp.get("shared_width", LENET_SHARED_WIDTH))
    shared = keras.layers.Dense(width, activation="relu", name="shared")(x)
    shared = keras.layers.Dropout(float(hp.get("dropout", 0.0)))(shared)
    outputs = {task.name: output_layer(task, shared) for task in tasks}
    return keras.Model(inputs, outputs, name="lenet")


BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "small": build_small,
    "seed": build_seed,
    "lenet": build_lenet,
}
