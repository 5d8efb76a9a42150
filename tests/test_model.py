from __future__ import annotations

import keras
import numpy as np
import pytest

from tune_mtl.model import build_model
from tune_mtl.model_config import PRESETS, ModelConfig, model_config


def test_small_model_output_shapes_and_loss_weights() -> None:
    config = model_config("small", {"gamma": 0.3, "task1_width": 40, "task2_width": 24})
    model = build_model(config, input_shape=(12, 12, 1), num_classes=(4, 2))
    outputs = model.predict(np.zeros((5, 12, 12, 1), dtype=np.uint8), verbose=0)
    assert outputs["task1"].shape == (5, 4) and outputs["task2"].shape == (5, 2)
    np.testing.assert_allclose(outputs["task1"].sum(axis=1), 1.0, rtol=1e-5)
    assert model.get_layer("task1_dense0").units == 40
    assert model.get_layer("task2_dense0").units == 24
    weights = model.get_compile_config()["loss_weights"]
    assert weights == {"task1": 0.3, "task2": pytest.approx(0.7)}


def test_joint_loss_is_gamma_weighted_sum_of_task_losses() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (32, 12, 12, 1)).astype(np.uint8)
    targets = {"task1": rng.integers(0, 4, 32), "task2": rng.integers(0, 2, 32)}
    model = build_model(ModelConfig(gamma=0.25), input_shape=(12, 12, 1), num_classes=(4, 2))
    logs = model.evaluate(images, targets, batch_size=32, verbose=0, return_dict=True)
    expected = 0.25 * logs["task1_loss"] + 0.75 * logs["task2_loss"]
    assert logs["loss"] == pytest.approx(expected, rel=1e-4)


def test_seed_model_is_the_articles_network() -> None:
    model = build_model(PRESETS["seed"], input_shape=(32, 32, 3), num_classes=(8, 2))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 64, 128]
    assert all(c.kernel_size == (3, 3) for c in convs)
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert len(pools) == 3 and all(p.pool_size == (2, 2) for p in pools)
    assert model.get_layer("shared").units == 3136
    for task, classes in (("task1", 8), ("task2", 2)):
        assert model.get_layer(f"{task}_dense0").units == 1024
        assert model.get_layer(f"{task}_dense1").units == 100
        assert model.get_layer(task).units == classes


def test_searched_values_map_onto_the_preset() -> None:
    config = model_config("seed", {"trunk_filters": 16, "task1_width": 512, "learning_rate": 0.01})
    assert config.trunk_filters == (16, 32, 64)
    assert config.task1_units == (512, 100) and config.task2_units == (1024, 100)
    assert config.learning_rate == 0.01
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        model_config("small", {"momentum": 0.9})


def test_too_small_images_are_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="12x12 pixels are too small for 3 conv layers"):
        build_model(PRESETS["seed"], input_shape=(12, 12, 1), num_classes=(4, 2))
