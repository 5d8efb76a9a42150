from __future__ import annotations

import keras
import numpy as np
import pytest

from tune_mtl.data import load_dataset
from tune_mtl.errors import TrialDivergedError
from tune_mtl.model import build_model
from tune_mtl.model_config import ModelConfig
from tune_mtl.training import evaluate_accuracies, train_epoch


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", synthetic_size=256)


def fresh_model(data, **changes) -> keras.Model:
    config = ModelConfig(trunk_filters=(8,), shared_width=32, task1_units=(16,), task2_units=(16,))
    config = ModelConfig(**{**config.__dict__, **changes})
    return build_model(config, input_shape=data.input_shape, num_classes=(4, 2))


def test_epochs_report_every_metric_and_learn(data) -> None:
    keras.utils.set_random_seed(0)
    model = fresh_model(data, learning_rate=3e-3)
    for epoch in range(6):
        metrics = train_epoch(model, data.train, data.val, epoch=epoch, batch_size=32)
    for task in ("task1", "task2"):
        for name in (
            f"{task}_accuracy",
            f"{task}_loss",
            f"val_{task}_accuracy",
            f"val_{task}_loss",
        ):
            assert name in metrics
    assert metrics["epoch_seconds"] > 0
    assert metrics["val_mean_accuracy"] == pytest.approx(
        (metrics["val_task1_accuracy"] + metrics["val_task2_accuracy"]) / 2
    )
    assert metrics["val_task1_accuracy"] > 0.6  # chance is 0.25
    assert evaluate_accuracies(model, data.test)[1] > 0.75  # chance is 0.5


def test_the_seed_holds(data) -> None:
    def train_once() -> list[np.ndarray]:
        keras.utils.set_random_seed(7)
        model = fresh_model(data)
        train_epoch(
            model, data.train, data.val, epoch=0, batch_size=32, examples_per_epoch=64, seed=7
        )
        return model.get_weights()

    first, second = train_once(), train_once()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_examples_per_epoch_draws_a_seeded_subset(data, monkeypatch) -> None:
    seen: list[int] = []
    model = fresh_model(data)
    original_fit = model.fit

    def counting_fit(images, *args, **kwargs):
        seen.append(len(images))
        return original_fit(images, *args, **kwargs)

    monkeypatch.setattr(model, "fit", counting_fit)
    train_epoch(model, data.train, data.val, epoch=0, batch_size=32, examples_per_epoch=50)
    train_epoch(model, data.train, data.val, epoch=1, batch_size=32)
    assert seen == [50, len(data.train)]


def test_nan_loss_fails_the_trial(data) -> None:
    model = fresh_model(data, learning_rate=1e12)
    with pytest.raises(TrialDivergedError, match="lower the learning rate"):
        for epoch in range(5):
            train_epoch(model, data.train, data.val, epoch=epoch, batch_size=32)
