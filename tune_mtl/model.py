"""The multi-task network, with the Keras functional API only (keras.layers, no backend calls).

Staying within keras.layers keeps the model runnable on any Keras backend.
"""

from __future__ import annotations

import keras

from tune_mtl.model_config import ModelConfig

__all__ = ["OUTPUTS", "build_model"]

OUTPUTS = ("task1", "task2")


def _check_image_size(input_shape: tuple[int, ...], conv_layers: int) -> None:
    side = min(input_shape[:2])
    for _ in range(conv_layers):
        side = (side - 2) // 2  # an unpadded 3x3 conv, then a 2x2 pool
    if side < 1:
        raise ValueError(
            f"images of {input_shape[0]}x{input_shape[1]} pixels are too small for "
            f"{conv_layers} conv layers; use a model with fewer trunk_filters layers."
        )


def build_model(
    config: ModelConfig, *, input_shape: tuple[int, ...], num_classes: tuple[int, int]
) -> keras.Model:
    """Builds and compiles the two-headed model for uint8 images.

    The joint loss is ``gamma * CE(task1) + (1 - gamma) * CE(task2)``, set through ``loss_weights``,
    and both heads report accuracy. Outputs are a dict keyed by ``OUTPUTS``.
    """
    _check_image_size(input_shape, len(config.trunk_filters))
    inputs = keras.Input(shape=input_shape, dtype="uint8", name="image")
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    for filters in config.trunk_filters:
        x = keras.layers.Conv2D(filters, 3, activation="relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    shared = keras.layers.Dense(config.shared_width, activation="relu", name="shared")(x)
    shared = keras.layers.Dropout(config.dropout)(shared)

    outputs = {}
    branches = (config.task1_units, config.task2_units)
    for output, units_per_layer, classes in zip(OUTPUTS, branches, num_classes, strict=True):
        y = shared
        for depth, units in enumerate(units_per_layer):
            y = keras.layers.Dense(units, activation="relu", name=f"{output}_dense{depth}")(y)
            y = keras.layers.Dropout(config.dropout)(y)
        outputs[output] = keras.layers.Dense(classes, activation="softmax", name=output)(y)

    model = keras.Model(inputs, outputs, name="multi_task")
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss={output: "sparse_categorical_crossentropy" for output in OUTPUTS},
        loss_weights={"task1": config.gamma, "task2": 1.0 - config.gamma},
        metrics={output: ["accuracy"] for output in OUTPUTS},
        # TensorFlow's XLA ran these small conv nets 2.5x slower on CPU; JAX is always compiled.
        jit_compile=keras.config.backend() == "jax",
    )
    return model
